/* "Select every credential on this page": shown only when this script runs. */
(function () {
  "use strict";
  document.querySelectorAll("[data-select-all]").forEach(function (all) {
    var form = all.closest("form");
    var boxes = form.querySelectorAll("input[type='checkbox'][name='selected']");
    if (!boxes.length) {
      return;
    }
    all.hidden = false;
    all.addEventListener("change", function () {
      boxes.forEach(function (box) { box.checked = all.checked; });
    });
    form.addEventListener("change", function (event) {
      if (event.target !== all) {
        all.checked = Array.prototype.every.call(boxes, function (box) { return box.checked; });
      }
    });
  });
})();
