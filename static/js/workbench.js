// The map workbench: what every map page's scripts share (window.HS), and its map chrome.
// Each map's own script (geo/render/maps.py _Register) pushes {map, units, layers, legends} onto
// window.HS_MAPS; this file, loaded after the page's map script, turns them into:
//   HS.map      the page's (first) Leaflet map; HS.maps every registered map
//   HS.units    the L.GeoJSON layer of the page's units (features with properties.code and .name)
//   HS.layers   name -> Leaflet layer of the page's named overlays (the first map's names win)
//   HS.query    the page's filter query string, without "?" (data-query on #map-frame)
//   HS.restyle(styleFn)  re-applies styleFn(feature) -> path style to HS.units (null: the original)
// and sends document "hs:unit" events ({detail: {code}}) on a click on any unit of any map.
// It also draws the layer control with each layer's legend (#hs-layers; the layers that are on go
// into the URL's hash, "#layers=…", so a shared link opens the same view), the unit search box
// (#unit-search), the outline of the chosen unit and the "whole area" button.
// No words here: the page holds them (#hs-words); all data is written as text.
(function () {
  "use strict";
  var HS = window.HS = window.HS || {};
  var frame = document.getElementById("map-frame");
  var wordsEl = document.getElementById("hs-words");
  var W = wordsEl ? JSON.parse(wordsEl.textContent) : {};
  HS.query = frame ? (frame.getAttribute("data-query") || "") : "";
  HS.maps = [];
  HS.layers = {};
  var original = null;  // HS.units' own style function, for HS.restyle(null)

  function fold(text) {  // static/js/scope.js's folding (geo.names.fold), once it has run
    return window.hsFold ? window.hsFold(String(text || "")) : String(text || "").toLowerCase();
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = text; }
    if (cls) { e.className = cls; }
    return e;
  }

  HS.select = function (code) {
    document.dispatchEvent(new CustomEvent("hs:unit", {detail: {code: String(code)}}));
  };

  HS.restyle = function (styleFn) {
    var units = HS.units;
    if (!units) { return; }
    if (original === null) { original = units.options.style || function () { return {}; }; }
    // folium's highlight resets a path to options.style on mouseout: set it, not just setStyle
    units.options.style = styleFn || original;
    units.eachLayer(function (l) { units.resetStyle(l); });
  };

  // ------------------------------------------------------------------ maps and unit clicks
  function wire(entry) {
    if (entry.units) {
      entry.units.on("click", function (e) {
        var p = e.layer && e.layer.feature && e.layer.feature.properties;
        if (p && p.code) { HS.select(p.code); }
      });
    }
    entry.layers.forEach(function (item) {
      if (item.overlay && !(item.name in HS.layers)) { HS.layers[item.name] = item.layer; }
    });
  }

  // Called now and by each map script that runs later (the compare page's change map).
  HS.attach = function () {
    var pending = window.HS_MAPS || [];
    var added = false;
    while (HS.maps.length < pending.length) {
      var entry = pending[HS.maps.length];
      HS.maps.push(entry);
      wire(entry);
      if (!HS.map) { HS.map = entry.map; HS.units = entry.units; wholeButton(entry); }
      added = true;
      document.dispatchEvent(new CustomEvent("hs:map", {detail: entry}));
    }
    // the control waits for the page's deferred scripts (static/js/scope.js: the folding of its keys)
    if (added && document.readyState === "loading") { document.addEventListener("DOMContentLoaded", control); }
    else if (added) { control(); }
  };

  // ------------------------------------------------------------------ layer control and legends
  // One row per layer name (the same name on several maps, e.g. the unit names of the compare
  // page's maps, is one row); its legend under it, hidden while the layer is off.
  var box = document.getElementById("hs-layers");

  function key(name) { return fold(name).replace(/ /g, "-"); }
  function isOn(item) {
    return item.layer.hsWanted !== undefined ? item.layer.hsWanted : item.map.hasLayer(item.layer);
  }
  function setOn(item, on) {
    if (on) { item.map.addLayer(item.layer); } else { item.map.removeLayer(item.layer); }
    // what L.Control.Layers fires: the labels and the map legends follow their layer on it
    item.map.fire(on ? "overlayadd" : "overlayremove", {layer: item.layer, name: item.name});
  }
  function groups() {
    var overlays = [], bases = [], byName = {};
    HS.maps.forEach(function (entry) {
      entry.layers.forEach(function (item) {
        var it = {map: entry.map, layer: item.layer, name: item.name, overlay: item.overlay};
        if (!item.overlay) { bases.push(it); return; }
        if (!byName[item.name]) { byName[item.name] = {name: item.name, items: [], legends: []}; overlays.push(byName[item.name]); }
        byName[item.name].items.push(it);
      });
    });
    var free = [];
    HS.maps.forEach(function (entry) {
      entry.legends.forEach(function (lg) {
        var g = overlays.filter(function (o) { return o.items.some(function (i) { return i.layer === lg.layer; }); })[0];
        if (g) { g.legends.push(lg.html); } else { free.push(lg.html); }
      });
    });
    return {overlays: overlays, bases: bases, free: free};
  }
  function legend(html, name) {
    var div = el("div", null, "layer-legend");
    div.innerHTML = html;  // built and escaped on the server (geo.render.maps.legend_html)
    var title = div.querySelector(".hs-legend-title");
    if (title && title.textContent === name) { title.hidden = true; }
    return div;
  }
  function saveState() {
    var on = [];
    box.querySelectorAll("input[data-key]").forEach(function (input) { if (input.checked) { on.push(input.dataset.key); } });
    var hash = "#layers=" + on.map(encodeURIComponent).join(",");
    if (window.history && history.replaceState) { history.replaceState(null, "", hash); } else { location.hash = hash; }
    var form = document.querySelector("form.filters");
    if (form) { form.action = form.action.split("#")[0] + hash; }  // a new filter keeps the layers
  }
  function wanted() {  // the layer keys of the URL's hash, or null when it names none
    var m = /(?:^#|&)layers=([^&]*)/.exec(location.hash);
    return m ? m[1].split(",").filter(Boolean).map(decodeURIComponent) : null;
  }
  function control() {
    if (!box || !HS.maps.length) { return; }
    var g = groups(), want = wanted();
    box.replaceChildren();
    g.free.forEach(function (html) { box.appendChild(legend(html, "")); });
    g.overlays.forEach(function (o) {
      var row = el("div", null, "layer-row"), label = el("label"), input = el("input");
      input.type = "checkbox";
      input.dataset.key = key(o.name);
      if (want) { o.items.forEach(function (it) { if (isOn(it) !== (want.indexOf(input.dataset.key) >= 0)) { setOn(it, !isOn(it)); } }); }
      input.checked = o.items.some(isOn);
      label.appendChild(input);
      label.appendChild(el("span", o.name));
      row.appendChild(label);
      row.dataset.layer = o.name;
      var legends = o.legends.map(function (html) { var d = legend(html, o.name); row.appendChild(d); return d; });
      function show() { legends.forEach(function (d) { d.hidden = !input.checked; }); }
      input.addEventListener("change", function () {
        o.items.forEach(function (it) { setOn(it, input.checked); });
        show();
        saveState();
      });
      show();
      box.appendChild(row);
    });
    if (g.bases.length) {  // the plain background, or a tile server's base map (TILE_URL)
      var set = el("fieldset"), plain = {name: W.base_plain, items: []};
      set.appendChild(el("legend", W.base));
      var choices = [plain].concat(g.bases.map(function (b) { return {name: b.name, items: [b]}; }));
      choices.forEach(function (c) {
        var label = el("label"), input = el("input");
        input.type = "radio"; input.name = "hs-base"; input.dataset.key = key(c.name);
        if (want) { g.bases.forEach(function (b) { if (c.items.indexOf(b) >= 0 && (want.indexOf(input.dataset.key) >= 0) !== b.map.hasLayer(b.layer)) { b.map[b.map.hasLayer(b.layer) ? "removeLayer" : "addLayer"](b.layer); } }); }
        input.checked = c.items.length ? c.items.every(function (b) { return b.map.hasLayer(b.layer); })
          : !g.bases.some(function (b) { return b.map.hasLayer(b.layer); });
        input.addEventListener("change", function () {
          g.bases.forEach(function (b) {
            var on = c.items.indexOf(b) >= 0;
            if (on !== b.map.hasLayer(b.layer)) { b.map[on ? "addLayer" : "removeLayer"](b.layer); }
          });
          saveState();
        });
        label.appendChild(input);
        label.appendChild(el("span", c.name));
        set.appendChild(label);
      });
      box.appendChild(set);
    }
    box.dataset.ready = "true";
  }

  // ------------------------------------------------------------------ the chosen unit, the whole area
  var outlines = [];
  function features(units) {
    var out = [];
    if (units) { units.eachLayer(function (l) { if (l.feature && l.feature.properties && l.feature.properties.code) { out.push(l); } }); }
    return out;
  }
  document.addEventListener("hs:unit", function (e) {
    outlines.forEach(function (o) { o.remove(); });
    outlines = [];
    HS.maps.forEach(function (entry) {
      features(entry.units).forEach(function (l) {
        if (l.feature.properties.code === e.detail.code) {
          outlines.push(L.geoJSON(l.feature, {interactive: false, className: "hs-chosen",
            style: {fill: false, color: "#111111", weight: 3.5, opacity: 1}}).addTo(entry.map));
        }
      });
    });
  });

  function wholeButton(entry) {
    if (!entry.units || !W.whole) { return; }
    var Whole = L.Control.extend({options: {position: "topleft"}, onAdd: function () {
      var b = L.DomUtil.create("button", "hs-whole");
      b.type = "button"; b.title = W.whole; b.setAttribute("aria-label", W.whole); b.textContent = "⤢";
      L.DomEvent.disableClickPropagation(b);
      b.addEventListener("click", function () { entry.map.fitBounds(entry.units.getBounds(), {padding: [8, 8]}); });
      return b;
    }});
    new Whole().addTo(entry.map);
  }

  // ------------------------------------------------------------------ the unit search
  var search = document.getElementById("unit-search"), results = document.getElementById("unit-results");
  var found = [], current = -1;
  function choose(l) {
    var p = l.feature.properties;
    search.value = p.name;
    close();
    HS.map.fitBounds(l.getBounds(), {padding: [24, 24], maxZoom: 15, animate: false});
    HS.select(p.code);
  }
  function close() {
    results.hidden = true; results.replaceChildren(); found = []; current = -1;
    search.setAttribute("aria-expanded", "false");
    search.removeAttribute("aria-activedescendant");
  }
  function mark(i) {
    current = i;
    Array.prototype.forEach.call(results.children, function (li, j) { li.setAttribute("aria-selected", String(j === i)); });
    if (i >= 0) { search.setAttribute("aria-activedescendant", results.children[i].id); results.children[i].scrollIntoView({block: "nearest"}); }
  }
  if (search && results) {
    search.addEventListener("input", function () {
      var words = fold(search.value).split(" ").filter(Boolean);
      results.replaceChildren();
      found = [];
      if (!words.length) { close(); return; }
      features(HS.units).forEach(function (l) {
        var p = l.feature.properties, text = fold(p.name + " " + p.code);
        if (words.every(function (w) { return text.indexOf(w) >= 0; })) { found.push(l); }
      });
      found.sort(function (a, b) { return a.feature.properties.name.localeCompare(b.feature.properties.name); });
      var seen = {}, parents = 0;
      features(HS.units).forEach(function (l) { var q = l.feature.properties.parent_name; if (q && !seen[q]) { seen[q] = true; parents += 1; } });
      found = found.slice(0, 12);
      found.forEach(function (l, i) {
        var p = l.feature.properties, li = el("li");
        li.id = "unit-result-" + i;
        li.setAttribute("role", "option");
        li.appendChild(el("span", p.name));
        // the parent where it tells units apart (not the one city of them all, nor a name that carries it)
        if (p.parent_name && parents > 1 && !/\)$/.test(p.name)) { li.appendChild(el("span", " · " + p.parent_name, "muted")); }
        li.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(l); });
        results.appendChild(li);
      });
      if (!found.length) { results.appendChild(el("li", W.no_match, "muted")); }
      results.hidden = false;
      search.setAttribute("aria-expanded", "true");
      mark(found.length ? 0 : -1);
    });
    search.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown" && found.length) { e.preventDefault(); mark((current + 1) % found.length); }
      else if (e.key === "ArrowUp" && found.length) { e.preventDefault(); mark((current - 1 + found.length) % found.length); }
      else if (e.key === "Enter") { e.preventDefault(); if (current >= 0) { choose(found[current]); } }
      else if (e.key === "Escape") { close(); }
    });
    search.addEventListener("blur", close);
  }

  HS.attach();
})();
