// AvsB dashboard: small progressive enhancements; every page works without this script.
"use strict";

(function () {
  // The sign-in form posts to POST /auth/login; here its errors are shown beside the form
  // instead of as the API's JSON answer.
  function enhanceLogin(form) {
    var box = document.querySelector("[data-login-error]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      if (button) { button.disabled = true; }
      var body = new URLSearchParams(new FormData(form));
      fetch(form.action, {
        method: "POST", body: body, redirect: "manual", credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (response) {
        if (response.type === "opaqueredirect" || response.ok) {
          window.location.assign(form.elements.next.value || "/");
          return null;
        }
        return response.json().then(function (payload) {
          var error = payload && payload.error;
          var text = error ? error.message : "Sign-in failed (" + response.status + ").";
          if (error && error.details && error.details.fields && error.details.fields.length) {
            text += " " + error.details.fields.map(function (f) {
              return f.path + ": " + f.message;
            }).join("; ");
          }
          throw new Error(text);
        }, function () { throw new Error("Sign-in failed (" + response.status + ")."); });
      }).catch(function (err) {
        if (box) { box.textContent = err.message; box.hidden = false; box.focus(); }
        if (button) { button.disabled = false; }
      });
    });
  }

  function copyButton(button) {
    button.addEventListener("click", function () {
      var field = document.getElementById(button.getAttribute("data-copy"));
      if (!field) { return; }
      var done = function () { button.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () {
          field.select(); button.textContent = "Press Ctrl+C";
        });
      } else {
        field.select();
        button.textContent = "Press Ctrl+C";
      }
    });
  }

  // A JSON file chosen for import is read into the form's text area (the form stays a plain
  // urlencoded POST, so the CSRF check is the same as every other form's).
  function fileIntoTextarea(input) {
    input.addEventListener("change", function () {
      var target = document.getElementById(input.getAttribute("data-load-into"));
      var file = input.files && input.files[0];
      if (!target || !file) { return; }
      file.text().then(function (text) { target.value = text; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.documentElement.classList.add("js");
    document.querySelectorAll("form[data-login]").forEach(enhanceLogin);
    document.querySelectorAll("[data-copy]").forEach(copyButton);
    document.querySelectorAll("input[type=file][data-load-into]").forEach(fileIntoTextarea);
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  });
})();
