// Runs in <head> so the page paints in the chosen theme straight away.
(function () {
  var saved = localStorage.getItem("estate-theme");
  var dark = saved ? saved === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.setAttribute("data-bs-theme", dark ? "dark" : "light");
})();
