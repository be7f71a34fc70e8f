// Behaviour shared by every page. No inline scripts anywhere: a strict CSP can forbid them.
(function () {
  function localiseTimes(root) {
    // Times with a data-zone are already in the viewer's zone, UTC on hover (timezone.js).
    root.querySelectorAll("time[datetime]:not([data-zone])").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) el.title = when.toLocaleString();
    });
  }

  function sizeBars(root) {
    root.querySelectorAll("[data-width]").forEach(function (el) {
      el.style.width = el.getAttribute("data-width") + "%";
    });
  }

  function confirmForms(root) {
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  }

  function copyButtons(root) {
    root.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var field = document.querySelector(button.getAttribute("data-copy"));
        field.select();
        // The field is selected either way, so a refused clipboard still leaves Ctrl-C to the person.
        if (navigator.clipboard) navigator.clipboard.writeText(field.value).catch(function () {});
        button.textContent = "Copied";
      });
    });
  }

  function themeToggle() {
    var button = document.querySelector("[data-theme-toggle]");
    if (!button) return;
    var icon = button.querySelector(".ti");
    function showIcon() {
      // The button shows the theme it switches to.
      var dark = document.documentElement.getAttribute("data-bs-theme") === "dark";
      icon.classList.toggle("ti-sun", dark);
      icon.classList.toggle("ti-moon", !dark);
    }
    showIcon();
    button.addEventListener("click", function () {
      var next = document.documentElement.getAttribute("data-bs-theme") === "dark" ? "light" : "dark";
      document.documentElement.setAttribute("data-bs-theme", next);
      localStorage.setItem("estate-theme", next);
      showIcon();
      document.dispatchEvent(new CustomEvent("estate:theme", { detail: { theme: next } }));
    });
  }

  function enhance(root) {
    localiseTimes(root);
    sizeBars(root);
    confirmForms(root);
    copyButtons(root);
  }

  document.addEventListener("DOMContentLoaded", function () {
    themeToggle();
    enhance(document);
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    enhance(event.detail.target);
  });
})();
