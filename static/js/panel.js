// Ward panel: a click on a ward of a map (the "hs:unit" event) shows its figures beside the map.
// Text is set with textContent only, so names from the data can never run as HTML.
(function () {
  "use strict";
  var panel = document.getElementById("ward-panel");
  if (!panel) { return; }
  // The words come from the page (the catalogue, in the page's language) as JSON data.
  var T = JSON.parse(document.getElementById("panel-labels").textContent);
  var vi = T.locale !== "en";
  var small = T.missing;  // how the service shows an unknown figure; a suppressed one comes with the data ("< 5")
  function fmt(x, digits) {
    if (x === null || x === undefined) { return small; }
    return new Intl.NumberFormat(T.locale, {maximumFractionDigits: digits || 0}).format(Number(x));
  }
  function pct(x) {  // as geo.render.format.percent(x, 2): "84,04%"
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
  function row(dl, term, value) {
    dl.appendChild(el("dt", term));
    dl.appendChild(el("dd", value));
  }
  function chart(months) {
    var ns = "http://www.w3.org/2000/svg", w = 260, h = 90, max = 1;
    months.forEach(function (m) { max = Math.max(max, m.count || 0); });
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 " + w + " " + (h + 14));
    svg.setAttribute("class", "chart");
    svg.setAttribute("role", "img");
    var bw = w / months.length;
    months.forEach(function (m, i) {
      var r = document.createElementNS(ns, "rect"), bh = Math.round(((m.count || 0) / max) * h);
      r.setAttribute("x", (i * bw + 1).toFixed(1));
      r.setAttribute("y", String(h - bh));
      r.setAttribute("width", Math.max(bw - 2, 1).toFixed(1));
      r.setAttribute("height", String(bh));
      var t = document.createElementNS(ns, "title");
      t.textContent = m.label + ": " + fmt(m.count);
      r.appendChild(t);
      svg.appendChild(r);
    });
    var cap = document.createElementNS(ns, "text");
    cap.setAttribute("x", "0"); cap.setAttribute("y", String(h + 12));
    cap.textContent = T.max + " " + fmt(max);
    svg.appendChild(cap);
    return svg;
  }
  function show(d) {
    small = d.suppressed_text || T.missing;
    panel.replaceChildren();
    panel.appendChild(el("h2", d.name));
    panel.appendChild(el("p", (d.parent_name || "") + " · " + d.code, "muted"));
    var dl = el("dl");
    row(dl, T.incidents, fmt(d.count));
    var c = d.compare, cls = c.change_class === "significant_increase" ? T.sig_up :
      c.change_class === "significant_decrease" ? T.sig_down : T.none;
    row(dl, T.change, (c.change_text || small) + " (" + fmt(c.base_count) + " → " +
        fmt(c.count) + "; " + pfmt(c.p_value, "p") + ", " + pfmt(c.q_value, "q") + "; " + cls + ")");
    if (d.clearance_rate !== null) { row(dl, T.clearance, pct(d.clearance_rate)); }
    panel.appendChild(dl);
    panel.appendChild(el("h3", T.monthly));
    panel.appendChild(chart(d.months));
    panel.appendChild(el("h3", T.categories));
    var ul = el("ul");
    Object.keys(d.categories).forEach(function (k) { ul.appendChild(el("li", ((d.category_labels[k] || {})[vi ? "vi" : "en"] || k) + ": " + fmt(d.categories[k]))); });
    panel.appendChild(ul);
  }
  function load(code) {
    panel.replaceChildren(el("p", T.loading));
    fetch(panel.dataset.api.replace("CODE", encodeURIComponent(code)))
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(show)
      .catch(function () { panel.replaceChildren(el("p", T.error, "error")); });
  }
  // A click on a unit of any map (static/js/workbench.js) sends "hs:unit".
  document.addEventListener("hs:unit", function (e) { load(e.detail.code); });
  window.wardPanel = {load: load};
})();
