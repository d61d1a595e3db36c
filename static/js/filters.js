// The period of the filter form: typing a From or To date chooses "custom" in the period menu;
// choosing a preset period leaves the dates out of the query (the preset has its own dates), and so
// does the helper field "shown" (web.maps.read_filters needs it only when no script runs).
(function () {
  "use strict";
  var period = document.getElementById("filter-period");
  var start = document.getElementById("filter-start");
  var end = document.getElementById("filter-end");
  var shown = document.getElementById("filter-shown");
  if (!period || !start || !end) { return; }
  function dated(on) {
    [start, end].forEach(function (input) { input.dataset.off = on ? "" : "1"; });
  }
  [start, end].forEach(function (input) {
    input.addEventListener("input", function () { period.value = "custom"; dated(true); });
  });
  period.addEventListener("change", function () { dated(period.value === "custom"); });
  dated(period.value === "custom");
  start.form.addEventListener("submit", function () {
    // disabled inputs are not sent: the URL keeps only what the period needs
    [start, end].forEach(function (input) { input.disabled = input.dataset.off === "1"; });
    if (shown) { shown.disabled = true; }
  });
  // the page may come back from the history cache with the inputs disabled
  window.addEventListener("pageshow", function () {
    [start, end].forEach(function (input) { input.disabled = false; });
    if (shown) { shown.disabled = false; }
  });
})();
