// Sortable tables: every <table class="sortable"> sorts by a column when its header is clicked (or
// focused and Enter pressed), with the vendored tablesort (static/vendor/tablesort). A cell's machine
// value is in data-sort ("1234.5" for "1.234,5", ISO dates); an empty one (a suppressed "< 5", a
// missing figure) sorts as the smallest. Rows of class "total" or "subtotal" never move.
(function () {
  "use strict";
  function value(text) {
    var v = parseFloat(text);
    return isNaN(v) ? -Infinity : v;
  }
  // The order of tablesort's own "number" sort (b before a when larger), on the machine value.
  Tablesort.extend("machine", function () { return false; }, function (a, b) {
    var x = value(a), y = value(b);
    return x === y ? 0 : (y > x ? 1 : -1);
  });
  function wire() {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      table.querySelectorAll("tr.total, tr.subtotal").forEach(function (tr) {
        tr.setAttribute("data-sort-method", "none");
      });
      table.querySelectorAll("thead th.num").forEach(function (th) {
        th.setAttribute("data-sort-method", "machine");
      });
      new Tablesort(table);
      table.setAttribute("data-sortable", "ready");
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", wire);
  } else {
    wire();
  }
}());
