/* The heat table of incidents per weekday and hour: HS.hoursTable(container, url) draws the JSON of
   /api/v1/hours (7 rows, Monday first, 24 columns) into container. Words and numbers come from the
   server (labels in the user's language); text is set with textContent only. */
(function () {
  "use strict";
  var HS = window.HS = window.HS || {};

  function shade(value, top, colours) {
    if (value === null) return "#bdbdbd";           // withheld: a small count
    if (!value || !top) return "#ffffff";
    var i = Math.min(colours.length - 1, Math.floor(value / top * colours.length));
    return colours[i];
  }

  function draw(container, data) {
    var fmt = new Intl.NumberFormat(document.documentElement.lang || "vi", {maximumFractionDigits: 1});
    var top = 0;
    data.matrix.forEach(function (row) { row.forEach(function (v) { if (v !== null && v > top) top = v; }); });
    var table = document.createElement("table");
    table.className = "data hours";
    var head = table.createTHead().insertRow();
    head.appendChild(document.createElement("th"));
    data.hours.forEach(function (h) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = String(h);
      head.appendChild(th);
    });
    var body = table.createTBody();
    data.matrix.forEach(function (row, d) {
      var tr = body.insertRow();
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = data.weekdays[d];
      tr.appendChild(th);
      row.forEach(function (v, h) {
        var td = tr.insertCell();
        td.style.background = shade(v, top, data.colours);
        td.title = data.weekdays[d] + ", " + h + "h: " + (v === null ? data.withheld : fmt.format(v));
        td.dataset.value = v === null ? "" : String(v);
      });
    });
    var note = document.createElement("p");
    note.className = "hint hours-unknown";
    note.textContent = data.unknown_text;
    container.replaceChildren(table, note);
  }

  HS.hoursTable = function (container, url) {
    container.setAttribute("aria-busy", "true");
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
      .then(function (res) {
        container.removeAttribute("aria-busy");
        if (!res.ok) {
          var p = document.createElement("p");
          p.className = "hint";
          p.textContent = res.body.error || "";
          container.replaceChildren(p);
          return;
        }
        draw(container, res.body);
      });
  };

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-hours-url]").forEach(function (el) {
      HS.hoursTable(el, el.dataset.hoursUrl);
    });
  });
}());
