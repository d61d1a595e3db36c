// Unit panel of every map page: a click on a unit (the "hs:unit" event of static/js/workbench.js)
// shows its figures beside the map: the change against cùng kỳ in words, a monthly chart of the
// period against the same months a year earlier (uPlot), the categories largest first, the report
// groups, the hour × weekday table and links to the unit's report and maps.
// Text is set with textContent only, so names from the data can never run as HTML.
(function () {
  "use strict";
  var panel = document.getElementById("ward-panel");
  if (!panel) { return; }
  // The words come from the page (the catalogue, in the page's language) as JSON data.
  var T = JSON.parse(document.getElementById("panel-labels").textContent);
  var small = T.missing;  // how the service shows an unknown figure; a suppressed one comes with the data ("< 5")
  var chartNow = null;
  function fmt(x, digits) {
    if (x === null || x === undefined) { return small; }
    return new Intl.NumberFormat(T.locale, {maximumFractionDigits: digits || 0}).format(Number(x));
  }
  function pct(x) {  // as geo.format.percent(x, 2): "84,04%"
    return new Intl.NumberFormat(T.locale, {style: "percent", minimumFractionDigits: 2,
                                            maximumFractionDigits: 2}).format(Number(x));
  }
  function pfmt(p, name) {
    if (p === null || p === undefined) { return name + " " + small; }
    return p < 0.0001 ? name + " < " + fmt(0.0001, 4) : name + " = " + fmt(p, 4);
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) { e.textContent = text; }
    if (cls) { e.className = cls; }
    return e;
  }
  function link(text, href) { var a = el("a", text); a.href = href; return a; }
  function row(dl, term, value) {
    dl.appendChild(el("dt", term));
    dl.appendChild(el("dd", value));
  }
  // The page's filters: the map's query (window.HS) or the one the panel was rendered with.
  function filters() {
    var q = (window.HS && window.HS.query) || panel.dataset.api.split("?")[1] || "";
    return new URLSearchParams(q);
  }
  // The filters limited to one unit (the page's own area choice replaced), for the links.
  function unitQuery(code) {
    var q = filters();
    q.delete("unit"); q.delete("former");
    q.append("unit", code);
    return q.toString();
  }
  // Month ticks: "T1".."T12" within one year, "01/2025" when the period spans two.
  function monthTicks(months) {
    var years = {};
    months.forEach(function (m) { years[m.month.slice(0, 4)] = 1; });
    var one = Object.keys(years).length === 1;
    return months.map(function (m) {
      var y = m.month.slice(0, 4), n = Number(m.month.slice(5, 7));
      return one ? T.month_short.replace("%(n)s", String(n)) : m.month.slice(5, 7) + "/" + y;
    });
  }
  function chart(box, d) {
    if (chartNow) { chartNow.destroy(); chartNow = null; }
    if (!window.uPlot) { return; }
    var ticks = monthTicks(d.months), xs = d.months.map(function (m, i) { return i; });
    var now = d.months.map(function (m) { return m.count; });
    var then = d.base_months.map(function (m) { return m.count; });
    var top = Math.max.apply(null, [1].concat(now, then).filter(function (v) { return v !== null; }));
    // the legend under the cursor: nothing off the chart, a suppressed month as "dưới 5", never raw
    function shown(u, v, s, i) { return i === null || i === undefined ? "" : v === null || v === undefined ? small : fmt(v); }
    var opts = {
      width: Math.max(box.clientWidth, 200), height: 180,
      scales: {x: {time: false, range: function () { return [-0.5, xs.length - 0.5]; }},
               y: {range: function () { return [0, top * 1.1]; }}},
      series: [
        {label: T.month, value: function (u, i) { return i === null || i === undefined ? "" : d.months[i].label; }},
        {label: d.period_label, value: shown, stroke: "#b2412f", fill: "rgba(214, 96, 77, 0.75)",
         paths: uPlot.paths.bars({size: [0.6, 40]}), points: {show: false}},
        {label: d.base_label, value: shown, stroke: "#35618f", width: 2, dash: [5, 3],
         points: {show: true, size: 5, fill: "#35618f"}},
      ],
      axes: [
        {splits: function () { return xs; }, values: function (u, splits) {
          return splits.map(function (i) { return ticks[i] || ""; });
        }, gap: 3, size: 30},
        {values: function (u, splits) { return splits.map(function (v) { return fmt(v); }); }, size: 44},
      ],
      legend: {live: true},
      cursor: {points: {size: 7}},
    };
    chartNow = new uPlot(opts, [xs, now, then], box);
    window.wardPanel.chart = chartNow;  // for tests and scripts: the uPlot instance
  }
  function categoryList(rows) {
    var ul = el("ul", undefined, "categories");
    rows.forEach(function (c) { ul.appendChild(el("li", c.label + ": " + fmt(c.count))); });
    return ul;
  }
  function show(d) {
    small = d.suppressed_text || T.missing;
    panel.replaceChildren();
    panel.appendChild(el("h2", d.name));
    panel.appendChild(el("p", (d.parent_name || "") + " · " + d.code, "muted"));
    var c = d.compare;
    panel.appendChild(el("p", c.change_words || (T.change + ": " + small), "change-words"));
    var dl = el("dl");
    row(dl, T.incidents, fmt(d.count));
    if (d.clearance_rate !== null) { row(dl, T.clearance, pct(d.clearance_rate)); }
    panel.appendChild(dl);
    if (panel.dataset.analyst && "p_value" in c) {
      panel.appendChild(el("p", T.stats + ": " + pfmt(c.p_value, "p") + ", " + pfmt(c.q_value, "q"), "muted stats"));
    }
    panel.appendChild(el("h3", T.monthly));
    var box = el("div", undefined, "panel-chart");
    panel.appendChild(box);
    chart(box, d);
    if (d.groups.length) {
      panel.appendChild(el("h3", T.groups));
      panel.appendChild(categoryList(d.groups)).classList.add("groups");
    }
    panel.appendChild(el("h3", T.categories));
    panel.appendChild(categoryList(d.category_rows));
    var hours = el("div", undefined, "panel-hours");
    // The hour × weekday table (static/js/hours.js) where the page has it.
    if (window.HS && window.HS.hoursTable) {
      panel.appendChild(el("h3", T.hours));
      panel.appendChild(hours);
      var api = panel.dataset.api.split("?")[0].replace(/\/ward\/CODE$/, "/hours");
      window.HS.hoursTable(hours, api + "?" + unitQuery(d.code));
    }
    var links = el("p", undefined, "panel-links"), q = unitQuery(d.code);
    links.appendChild(link(T.report, panel.dataset.report + "?" + q));
    links.appendChild(document.createTextNode(" · "));
    links.appendChild(link(T.on_overview, panel.dataset.overview + "?" + q));
    links.appendChild(document.createTextNode(" · "));
    links.appendChild(link(T.on_compare, panel.dataset.compare + "?" + q));
    panel.appendChild(links);
    panel.dataset.code = d.code;
  }
  function load(code) {
    panel.replaceChildren(el("p", T.loading));
    delete panel.dataset.code;
    var q = filters();
    q.delete("unit"); q.delete("former");  // the unit's own figures, whatever the page's area
    fetch(panel.dataset.api.split("?")[0].replace("CODE", encodeURIComponent(code)) + "?" + q.toString())
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(show)
      .catch(function () { panel.replaceChildren(el("p", T.error, "error")); });
  }
  // A click on a unit of any map, or a unit chosen in the search box (static/js/workbench.js), sends "hs:unit".
  document.addEventListener("hs:unit", function (e) { if (e.detail && e.detail.code) { load(e.detail.code); } });
  window.wardPanel = {load: load, chart: null};
})();
