// The live progress bar of a bulk job: asks the server for the job's numbers every second and
// moves the <progress> element. When the job is over it reloads the page, which then shows the
// results. Without JavaScript the page's "Refresh" link does the same by hand.
(function () {
  "use strict";

  var box = document.getElementById("bulk-progress");
  var bar = document.getElementById("bulk-progress-bar");
  var text = document.getElementById("bulk-progress-text");
  if (!box || !bar || !text || !window.fetch) {
    return;
  }
  var url = box.getAttribute("data-progress-url");
  var INTERVAL_MS = 1000;
  var MAX_INTERVAL_MS = 30000;
  var interval = INTERVAL_MS;

  // Fill "%(name)s" placeholders of a message the server translated.
  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_, name) {
      return name in values ? String(values[name]) : "";
    });
  }

  function show(progress) {
    bar.max = Math.max(progress.total, 1);
    bar.value = progress.done;
    bar.textContent = progress.percent + "%";
    var key = progress.over ? "data-text-over" : "data-text-" + progress.state;
    var template = box.getAttribute(key) || box.getAttribute("data-text-running");
    text.textContent = fill(template, progress);
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (progress) {
        interval = INTERVAL_MS;
        show(progress);
        if (progress.over) {
          window.location.reload();
          return;
        }
        window.setTimeout(poll, interval);
      })
      .catch(function () {
        // The server is restarting or the network dropped: keep trying, less often.
        interval = Math.min(interval * 2, MAX_INTERVAL_MS);
        window.setTimeout(poll, interval);
      });
  }

  window.setTimeout(poll, INTERVAL_MS);
})();
