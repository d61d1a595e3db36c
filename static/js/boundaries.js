// The boundaries page: the uploaded layer's outlines (a simplified GeoJSON from the server) on a map.
// No words here: the page holds them.
(function () {
  "use strict";
  var el = document.getElementById("preview-map");
  if (!el || !window.L) { return; }
  var map = L.map(el, {preferCanvas: false});
  map.setView([16, 106], 5);
  fetch(el.dataset.previewUrl, {credentials: "same-origin"})
    .then(function (r) { return r.json(); })
    .then(function (data) {
      var layer = L.geoJSON(data, {style: {color: "#1f4e79", weight: 1, fillOpacity: 0.15}}).addTo(map);
      el.dataset.features = String(data.features.length);
      if (data.features.length) { map.fitBounds(layer.getBounds()); }
    });
})();
