// The committee's maps as a way to fill their forms: a click on a unit ticks its box, adds its code
// to a list or puts it in a field; the form's own inputs change the map back. On the plan page the
// committee also draws the area it selects (Leaflet-Geoman), and the drawing fills the form's
// GeoJSON field. The page gives the map, its layers (JavaScript names from folium), the unit codes
// of each layer in feature order and the words of the drawing tools as JSON in
// #committee-map-data; this file holds no words. Loaded after the map's own script.
(function () {
  "use strict";
  var node = document.getElementById("committee-map-data");
  if (!node) { return; }
  var data = JSON.parse(node.textContent);
  var map = window[data.map];
  if (!map) { return; }

  function busy() {     // while drawing or editing, a click belongs to the drawing tools
    var pm = map.pm;
    return !!pm && (pm.globalDrawModeEnabled() || pm.globalEditModeEnabled() || pm.globalRemovalModeEnabled());
  }

  function formOf(pick) { return document.getElementById(pick.form); }

  function listed(input) {
    return input.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
  }

  // One object per kind of pick: whether a unit is chosen in the form, how a click changes that,
  // and which inputs to watch.
  var KINDS = {
    check: {   // a checkbox "<prefix><code>" of the ranked tables
      box: function (pick, code) {
        var form = formOf(pick);
        return form && form.querySelector('input[type=checkbox][value="' + CSS.escape(pick.prefix + code) + '"]');
      },
      chosen: function (pick, code) { var b = this.box(pick, code); return !!b && b.checked; },
      toggle: function (pick, code) {
        var b = this.box(pick, code);
        if (!b) { return; }
        b.checked = !b.checked;
        b.dispatchEvent(new Event("change", {bubbles: true}));
      },
      inputs: function (pick, codes) {
        var self = this;
        return codes.map(function (c) { return self.box(pick, c); }).filter(Boolean);
      }
    },
    list: {    // a text field of comma-separated codes
      input: function (pick) { var f = formOf(pick); return f && f.elements[pick.field]; },
      chosen: function (pick, code) { var i = this.input(pick); return !!i && listed(i).indexOf(code) >= 0; },
      toggle: function (pick, code) {
        var i = this.input(pick);
        if (!i) { return; }
        var codes = listed(i);
        var at = codes.indexOf(code);
        if (at >= 0) { codes.splice(at, 1); } else { codes.push(code); }
        i.value = codes.join(", ");
        i.dispatchEvent(new Event("input", {bubbles: true}));
      },
      inputs: function (pick) { var i = this.input(pick); return i ? [i] : []; }
    },
    field: {   // one code in a field (and the other fields of "set", e.g. the boundary version)
      input: function (pick) { var f = formOf(pick); return f && f.elements[pick.field]; },
      chosen: function (pick, code) { var i = this.input(pick); return !!i && i.value.trim() === code; },
      toggle: function (pick, code) {
        var i = this.input(pick);
        if (!i) { return; }
        var on = i.value.trim() !== code;
        i.value = on ? code : "";
        if (on && pick.set) {
          var form = formOf(pick);
          Object.keys(pick.set).forEach(function (k) { if (form.elements[k]) { form.elements[k].value = pick.set[k]; } });
        }
        i.dispatchEvent(new Event("input", {bubbles: true}));
      },
      inputs: function (pick) { var i = this.input(pick); return i ? [i] : []; }
    }
  };

  data.layers.forEach(function (entry) {
    var gj = window[entry["var"]];
    if (!gj) { return; }
    gj.eachLayer(function (l) {   // the drawing tools edit only the drawn area
      l.options.pmIgnore = true;
      if (L.PM && L.PM.reInitLayer) { L.PM.reInitLayer(l); }
    });
    var base = gj.options.style;
    var code = function (f) { return entry.codes[Number(f.id)]; };
    if (entry.style) {
      gj.options.style = function (f) { return Object.assign({}, base(f), entry.style); };
      gj.eachLayer(function (l) { gj.resetStyle(l); });
      return;
    }
    var kind = entry.pick && KINDS[entry.pick.kind];
    if (!kind || !formOf(entry.pick)) { return; }
    // folium resets a unit's style on mouseout from options.style: the chosen style goes there
    gj.options.style = function (f) {
      var s = Object.assign({}, base(f));
      return kind.chosen(entry.pick, code(f)) ? Object.assign(s, data.chosen) : s;
    };
    function refresh() {
      gj.eachLayer(function (l) { gj.resetStyle(l); });
      if (entry.pick.kind === "check") {
        kind.inputs(entry.pick, entry.codes).forEach(function (b) {
          var row = b.closest("tr");
          if (row) { row.classList.toggle("chosen", b.checked); }
        });
      }
    }
    gj.on("click", function (e) {
      if (busy() || !e.layer || !e.layer.feature) { return; }
      kind.toggle(entry.pick, code(e.layer.feature));
    });
    kind.inputs(entry.pick, entry.codes).forEach(function (i) {
      i.addEventListener("change", refresh);
      i.addEventListener("input", refresh);
    });
    refresh();
  });

  if (!data.draw || !map.pm) { return; }
  var form = document.getElementById("select-form");
  var field = form && form.elements.polygon;
  if (!field) { return; }
  map.pm.setLang("committee", data.draw, "en");
  map.pm.addControls({position: "topleft", drawMarker: false, drawCircleMarker: false, drawPolyline: false,
                      drawRectangle: false, drawCircle: false, drawText: false, cutPolygon: false,
                      rotateMode: false, dragMode: false, drawPolygon: true, editMode: true, removalMode: true});
  var drawn = null;

  function write() {
    field.value = drawn ? JSON.stringify(drawn.toGeoJSON(6).geometry) : "";
    var details = field.closest("details");
    if (drawn && details) { details.open = true; }
  }
  function keep(layer) {    // one drawn area at a time: a new one replaces the old
    if (drawn && drawn !== layer) { map.removeLayer(drawn); }
    drawn = layer;
    drawn.on("pm:edit", write);
    write();
  }
  map.on("pm:create", function (e) { keep(e.layer); });
  map.on("pm:remove", function (e) { if (e.layer === drawn) { drawn = null; write(); } });
  field.addEventListener("change", function () {   // a pasted polygon shows on the map, editable
    var shape;
    try { shape = L.geoJSON(JSON.parse(field.value)).getLayers()[0]; } catch (err) { return; }
    if (!shape || !shape.toGeoJSON) { return; }
    if (drawn) { map.removeLayer(drawn); }
    drawn = shape.addTo(map);
    drawn.on("pm:edit", write);
    map.fitBounds(drawn.getBounds(), {maxZoom: 16});
  });
}());
