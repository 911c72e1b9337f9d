// The scorecard editor: each measure's weight shows its share of all weights ("40% of the
// score"), recomputed as the admin types (scoring/forms.py's weight_shares renders the
// first values on the server, by the same rule).
(function () {
  "use strict";
  function rowWeight(row) {
    var weight = row.querySelector("input[name$='-weight']");
    var metric = row.querySelector("select[name$='-metric']");
    var removed = row.querySelector("input[name$='-DELETE']");
    if (!weight || !metric || !metric.value || (removed && removed.checked)) { return 0; }
    var value = parseFloat(weight.value);
    return isFinite(value) && value > 0 ? value : 0;
  }
  function format(share) {
    var rounded = Math.round(share * 10) / 10;
    return (rounded % 1 === 0 ? rounded.toFixed(0) : rounded.toFixed(1)) + "% of the score";
  }
  function update(table) {
    var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr"));
    var weights = rows.map(rowWeight);
    var total = weights.reduce(function (a, b) { return a + b; }, 0);
    rows.forEach(function (row, i) {
      var output = row.querySelector("output[data-weight-share]");
      if (output) { output.textContent = total && weights[i] ? format(100 * weights[i] / total) : ""; }
    });
  }
  function init() {
    document.querySelectorAll(".measure-table").forEach(function (table) {
      table.addEventListener("input", function () { update(table); });
      table.addEventListener("change", function () { update(table); });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
