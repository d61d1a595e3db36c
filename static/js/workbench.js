// The map workbench: what every map page's scripts share (window.HS).
// Each map's own script (geo/render/maps.py _Register) pushes {map, units, layers, legends} onto
// window.HS_MAPS; this file, loaded after the page's map script, turns them into:
//   HS.map      the page's (first) Leaflet map; HS.maps every registered map
//   HS.units    the L.GeoJSON layer of the page's units (features with properties.code and .name)
//   HS.layers   name -> Leaflet layer of the page's named overlays (the first map's names win)
//   HS.query    the page's filter query string, without "?" (data-query on #map-frame)
//   HS.restyle(styleFn)  re-applies styleFn(feature) -> path style to HS.units (null: the original)
// and sends document "hs:unit" events ({detail: {code}}) on a click on any unit of any map.
// No words here: the page holds them.
(function () {
  "use strict";
  var HS = window.HS = window.HS || {};
  var frame = document.getElementById("map-frame");
  HS.query = frame ? (frame.getAttribute("data-query") || "") : "";
  HS.maps = [];
  HS.layers = {};
  var original = null;  // HS.units' own style function, for HS.restyle(null)

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
    while (HS.maps.length < pending.length) {
      var entry = pending[HS.maps.length];
      HS.maps.push(entry);
      wire(entry);
      if (!HS.map) { HS.map = entry.map; HS.units = entry.units; }
      document.dispatchEvent(new CustomEvent("hs:map", {detail: entry}));
    }
  };
  HS.attach();
})();
