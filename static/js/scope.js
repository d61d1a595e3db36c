// The "Area" control of the filter form: the search box hides the units whose name does not match.
// Diacritics are optional: the typed text is folded as geo.names.fold folds the names on the server
// (the labels carry the folded name in data-search). No words here: the page holds them.
(function () {
  "use strict";
  window.hsFold = fold;  // the one folding of the pages' searches (static/js/workbench.js uses it too)
  var box = document.getElementById("scope-search");
  var list = document.getElementById("scope-units");
  if (!box || !list) { return; }
  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/[\u0111\u0110]/g, "d")
      .toLowerCase().replace(/[^0-9a-z]+/g, " ").trim();
  }
  box.addEventListener("input", function () {
    var words = fold(box.value).split(" ").filter(Boolean);
    list.querySelectorAll("label[data-search]").forEach(function (label) {
      var text = label.dataset.search;
      var checked = label.querySelector("input").checked;
      label.hidden = !checked && !words.every(function (w) { return text.indexOf(w) >= 0; });
    });
  });
})();
