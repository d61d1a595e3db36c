/* The month slider of the overview and hot spots maps: /api/v1/months gives each unit's count per
   month and one set of class limits over all months, so that colours compare between months; the
   slider restyles HS.units (HS.restyle) with a month's counts and names it ("Tháng 03/2025"); its
   last position, "Cả kỳ", restores the page's own styling. Words come from the server. */
(function () {
  "use strict";
  var STEP_MS = 1200;

  function colourOf(value, data) {
    if (value === null || value === undefined) return data.no_data;
    if (value === 0) return data.zero;
    for (var i = 0; i < data.bins.length; i++) if (value <= data.bins[i]) return data.colours[i];
    return data.colours[data.colours.length - 1];
  }

  function init() {
    var box = document.getElementById("month-slider");
    var HS = window.HS;
    if (!box || !HS || !HS.units || !HS.restyle) return;
    var range = document.getElementById("month-range");
    var label = document.getElementById("month-label");
    var play = document.getElementById("month-play");
    var all = document.getElementById("month-all");
    var wholeText = label.textContent;
    var timer = null;

    fetch(box.dataset.url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || !data.months.length) return;
        var index = {};
        data.codes.forEach(function (c, i) { index[c] = i; });
        var whole = data.months.length;  // the last position: the whole period
        range.max = String(whole);
        range.value = String(whole);
        box.hidden = false;

        function show(m) {
          range.value = String(m);
          if (m >= whole) {
            HS.restyle(null);  // the page's own styling
            label.textContent = wholeText;
            box.dataset.month = "";
            return;
          }
          var counts = data.counts[m];
          HS.restyle(function (f) {
            var i = index[f.properties.code];
            return {fillColor: colourOf(i === undefined ? null : counts[i], data), fillOpacity: 0.75,
                    color: "#555555", weight: 0.6};
          });
          label.textContent = data.titles[m];
          box.dataset.month = data.months[m];
        }

        function stop() {
          if (timer) clearInterval(timer);
          timer = null;
          play.textContent = box.dataset.play;
          play.setAttribute("aria-pressed", "false");
        }

        function start() {
          if (Number(range.value) >= whole) show(0);
          timer = setInterval(function () {
            var next = Number(range.value) + 1;
            if (next >= whole) { stop(); show(whole); } else show(next);
          }, STEP_MS);
          play.textContent = box.dataset.pause;
          play.setAttribute("aria-pressed", "true");
        }

        range.addEventListener("input", function () { stop(); show(Number(range.value)); });
        play.addEventListener("click", function () { if (timer) stop(); else start(); });
        all.addEventListener("click", function () { stop(); show(whole); });
      });
  }

  // after every script of the page, the map's and workbench.js's included
  window.addEventListener("load", init);
}());
