// A search box over a long multiple select: typing narrows the options shown; chosen ones always stay.
(function () {
  document.querySelectorAll("select[data-searchable]").forEach(function (select) {
    var search = document.createElement("input");
    search.type = "search";
    search.className = "form-control form-control-sm mb-1";
    search.placeholder = "Search " + select.getAttribute("data-searchable") + "…";
    search.setAttribute("aria-label", "Narrow the list by name");
    search.setAttribute("data-testid", "picker-search");
    select.parentNode.insertBefore(search, select);
    search.addEventListener("input", function () {
      var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      Array.prototype.forEach.call(select.options, function (option) {
        var text = option.text.toLowerCase();
        option.hidden = !option.selected && !words.every(function (w) { return text.indexOf(w) !== -1; });
      });
    });
    search.addEventListener("change", function (event) { event.stopPropagation(); });
  });
})();
