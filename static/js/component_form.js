// Switches off the field group that does not belong to the chosen mode: dimmed, and disabled so
// that its values (a preselected provider, say) are not posted. The server still decides.
(function () {
  var form = document.getElementById("component-form");
  if (!form) return;
  function update() {
    var checked = form.querySelector("input[name=mode]:checked");
    var mode = checked ? checked.value : "";
    form.querySelectorAll("[data-mode-group]").forEach(function (group) {
      var inactive = mode !== "" && group.getAttribute("data-mode-group") !== mode;
      group.classList.toggle("is-inactive", inactive);
      group.querySelectorAll("input, select, textarea").forEach(function (field) {
        field.disabled = inactive || field.hasAttribute("data-managed");  // a source's field stays shut
      });
    });
  }
  function slugify(text) {
    return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 100);
  }
  var name = form.querySelector("#id_name");
  var slug = form.querySelector("#id_slug");
  if (name && slug) {
    var edited = slug.value !== "";
    slug.addEventListener("input", function () { edited = slug.value !== ""; });
    name.addEventListener("input", function () { if (!edited) slug.value = slugify(name.value); });
  }
  form.addEventListener("change", update);
  update();
})();
