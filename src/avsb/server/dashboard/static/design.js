/* Design pages: the live sample-size estimate of the experiment form (progressive
   enhancement of its "Estimate" button, which works without this script). */
(function () {
  "use strict";

  function value(form, name) {
    var field = form.elements.namedItem(name);
    return field && !field.disabled ? String(field.value).trim() : "";
  }

  function checked(form, name) {
    var field = form.elements.namedItem(name);
    return !!(field && field.checked);
  }

  function primaryType(form) {
    var selects = form.querySelectorAll("select[data-metric-type]");
    for (var i = 0; i < selects.length; i++) {
      if (selects[i].value === "primary") {
        return selects[i].getAttribute("data-metric-type") === "binary" ? "binary" : "continuous";
      }
    }
    return "binary";
  }

  function request(form) {
    var weights = [];
    for (var i = 0; i < 10; i++) {
      if (value(form, "variants." + i + ".key")) {
        weights.push(Number(value(form, "variants." + i + ".weight") || "0"));
      }
    }
    var body = {
      metric_type: primaryType(form),
      baseline_value: Number(value(form, "estimate.baseline_value")),
      mde_pct: Number(value(form, "analysis.mde_pct")),
      alpha: Number(value(form, "analysis.alpha") || "0.05"),
      power: Number(value(form, "analysis.power") || "0.8"),
      two_sided: checked(form, "analysis.two_sided"),
      audience_share_in_test: Number(value(form, "traffic_percent") || "100") / 100
    };
    if (weights.length >= 2) {
      body.traffic_split = weights;
      body.variants_count = weights.length;
    }
    if (value(form, "estimate.std_dev")) { body.std_dev = Number(value(form, "estimate.std_dev")); }
    if (value(form, "estimate.expected_daily_traffic")) {
      body.expected_daily_traffic = Number(value(form, "estimate.expected_daily_traffic"));
    }
    return body;
  }

  function show(out, text) { out.textContent = text; }

  function fmt(n) { return Number(n).toLocaleString("en"); }

  function enhance(form) {
    var out = document.getElementById("estimate-result");
    var csrf = form.elements.namedItem("csrf_token");
    if (!out || !csrf) { return; }
    var timer = null;
    var seq = 0;
    function run() {
      if (!value(form, "estimate.baseline_value") || !value(form, "analysis.mde_pct")) {
        show(out, "Enter the metric's current value and a minimum detectable effect to estimate.");
        return;
      }
      var mine = ++seq;
      fetch("/api/tools/sample-size", {
        method: "POST",
        credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf.value},
        body: JSON.stringify(request(form))
      }).then(function (response) {
        return response.json().then(function (doc) { return {ok: response.ok, doc: doc}; });
      }).then(function (answer) {
        if (mine !== seq) { return; }
        if (!answer.ok) {
          var err = answer.doc && answer.doc.error;
          var fields = err && err.details && err.details.fields;
          var first = fields && fields.length ? fields[0].path + ": " + fields[0].message : "";
          show(out, "No estimate: " + (first || (err ? err.message : "the server refused")));
          return;
        }
        var d = answer.doc.data;
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
