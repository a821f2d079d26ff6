/* ESCO skill picker: search as you type, add skills, edit their names, remove them.
   Progressive enhancement of a form that works without it (its Search, Add and Remove
   buttons then post the form). No inline code anywhere: the page's CSP allows only files. */
(function () {
  "use strict";

  var DELAY_MS = 200;
  var MIN_QUERY = 2;

  function text(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : "";
    });
  }

  function element(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      node.setAttribute(name, attributes[name]);
    });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function hidden(textContent) {
    return element("span", { "class": "visually-hidden" }, [textContent]);
  }

  function setUp(picker) {
    var url = picker.getAttribute("data-search-url");
    var msg = picker.dataset;
    var query = picker.querySelector("[data-esco-query]");
    var searchButton = picker.querySelector("[data-esco-search]");
    var status = picker.querySelector("[data-esco-status]");
    var results = picker.querySelector("[data-esco-results]");
    var chosen = picker.querySelector("[data-esco-chosen]");
    var none = picker.querySelector("[data-esco-none]");
    var timer = null;
    var controller = null;
    var added = 0;

    function chosenUris() {
      return Array.prototype.map.call(
        chosen.querySelectorAll("input[name='skill_uri']"),
        function (input) { return input.value; }
      );
    }

    function refreshNone() {
      none.hidden = chosen.children.length > 0;
    }

    function say(message) {
      status.textContent = message;
    }

    function addSkill(uri, label) {
      if (chosenUris().indexOf(uri) !== -1) {
        return;
      }
      added += 1;
      var id = "skill-name-added-" + added;
      var code = uri.split("/").pop();
      var name = element("input", {
        id: id, name: "skill_name", type: "text", maxlength: "200", required: "required"
      });
      name.value = label;
      var remove = element("button", {
        type: "button", "class": "button button--secondary", "data-remove-skill": ""
      }, [msg.msgRemove, hidden(" " + label)]);
      var link = element("a", { href: uri, rel: "noopener noreferrer", target: "_blank" },
        [msg.msgSkill + " " + code]);
      var item = element("li", { "class": "chosen-skill", "data-uri": uri }, [
        element("input", { type: "hidden", name: "skill_uri", value: uri }),
        element("label", { "for": id }, [msg.msgName]),
        element("div", { "class": "inline-form__row" }, [name, remove]),
        element("p", { "class": "muted skill-uri" }, [link])
      ]);
      chosen.appendChild(item);
      refreshNone();
      say(text(msg.msgAdded, { label: label }));
    }

    function removeSkill(item) {
      var name = item.querySelector("input[name='skill_name']");
      var label = name ? name.value : "";
      item.parentNode.removeChild(item);
      refreshNone();
      say(text(msg.msgRemoved, { label: label }));
      query.focus();
    }

    function show(skills) {
      var taken = chosenUris();
      var fresh = skills.filter(function (skill) { return taken.indexOf(skill.uri) === -1; });
      results.textContent = "";
      fresh.forEach(function (skill) {
        var button = element("button", {
          type: "button",
          "class": "button button--secondary esco-result__add",
          "data-add-skill": "",
          "data-uri": skill.uri,
          "data-label": skill.label
        }, [msg.msgAdd, hidden(" " + skill.label)]);
        results.appendChild(element("li", { "class": "esco-result" }, [
          button, element("span", { "class": "esco-result__label" }, [skill.label])
        ]));
      });
      say(fresh.length ? text(msg.msgFound, { n: fresh.length }) : msg.msgNone);
    }

    function search() {
      var words = query.value.trim();
      window.clearTimeout(timer);
      if (controller) {
        controller.abort();
      }
      if (words.length < MIN_QUERY) {
        results.textContent = "";
        say("");
        return;
      }
      controller = new AbortController();
      fetch(url + "?q=" + encodeURIComponent(words), {
        credentials: "same-origin",
        headers: { "Accept": "application/json" },
        signal: controller.signal
      }).then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      }).then(show).catch(function (error) {
        if (error.name !== "AbortError") {
          say(msg.msgError);
        }
      });
    }

    query.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(search, DELAY_MS);
    });
    query.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();  // search, do not submit the whole form
        search();
      } else if (event.key === "ArrowDown") {
        var first = results.querySelector("button");
        if (first) {
          event.preventDefault();
          first.focus();
        }
      }
    });
    searchButton.addEventListener("click", function (event) {
      event.preventDefault();
      search();
    });
    picker.addEventListener("click", function (event) {
      var target = event.target.closest("button");
      if (!target || !picker.contains(target)) {
        return;
      }
      if (target.hasAttribute("data-add-skill")) {
        event.preventDefault();
        var row = target.closest("li");
        var next = row && (row.nextElementSibling || row.previousElementSibling);
        addSkill(target.getAttribute("data-uri") || target.value, target.getAttribute("data-label") || "");
        if (row) {
          row.parentNode.removeChild(row);
        }
        var focusTarget = next && next.querySelector("button");
        (focusTarget || query).focus();
      } else if (target.hasAttribute("data-remove-skill")) {
        event.preventDefault();
        removeSkill(target.closest("li"));
      }
    });
    refreshNone();
  }

  document.querySelectorAll("[data-esco-picker]").forEach(setUp);
})();
