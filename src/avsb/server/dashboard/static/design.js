/* Design pages: the live sample-size estimate of the experiment form (progressive
   enhancement of its "Estimate" button, which works without this script).

   The whole form is posted to the form's own estimate route (its data-estimate attribute,
   POST /orgs/{org}/experiments/estimate): the server reads it as the button does and always
   answers 200, {"estimate": {...}, "problems": []} or {"estimate": null, "problems":
   [{"path", "message"}]}, so an input the tools refuse is shown, never a failed request. */
(function () {
  "use strict";

  function value(form, name) {
    var field = form.elements.namedItem(name);
    return field && !field.disabled ? String(field.value).trim() : "";
  }

  function show(out, text) { out.textContent = text; }

  function fmt(n) { return Number(n).toLocaleString("en"); }

  function problem(p) {
    var field = document.getElementById("f-" + p.path);
    var name = field && field.labels && field.labels.length ? field.labels[0].textContent : "";
    name = name.replace(/\s*\*\s*$/, "").trim();
    return (name ? name + ": " : "") + p.message;
  }

  function enhance(form) {
    var out = document.getElementById("estimate-result");
    var url = form.getAttribute("data-estimate");
    var csrf = form.elements.namedItem("csrf_token");
    if (!out || !url || !csrf) { return; }
    var timer = null;
    var seq = 0;
    function run() {
      if (!value(form, "estimate.baseline_value") || !value(form, "analysis.mde_pct")) {
        show(out, "Enter the metric's current value and a minimum detectable effect to estimate.");
        return;
      }
      var mine = ++seq;
      fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: {"Accept": "application/json", "X-CSRF-Token": csrf.value},
        body: new URLSearchParams(new FormData(form))
      }).then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      }).then(function (doc) {
        if (mine !== seq) { return; }
        var d = doc.estimate;
        if (!d) {
          var first = doc.problems && doc.problems[0];
          show(out, "No estimate: " + (first ? problem(first) : "the server refused"));
          return;
        }
        var text = fmt(d.sample_size_per_variant[0]) + " units per variant, " +
          fmt(d.total_sample_size) + " in total";
        if (d.estimated_duration_days !== null) {
          text += ", about " + d.estimated_duration_days + " days";
        }
        show(out, text + " (" + d.method + ").");
      }).catch(function () {
        if (mine === seq) { show(out, "No estimate: the server could not be reached."); }
      });
    }
    form.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(run, 300);
    });
    form.addEventListener("change", function () {
      clearTimeout(timer);
      timer = setTimeout(run, 100);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-estimate]").forEach(enhance);
  });
})();
