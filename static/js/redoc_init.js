// Starts ReDoc from a file (no inline script) and hands it the CSP nonce for the <style>
// elements its styled-components inject.
(function () {
  var container = document.getElementById("redoc-container");
  var meta = document.querySelector('meta[name="csp-nonce"]');
  var nonce = meta ? meta.getAttribute("content") : undefined;
  window.Redoc.init(container.getAttribute("data-spec-url"), { nonce: nonce }, container);
})();
