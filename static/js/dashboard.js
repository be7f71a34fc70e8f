// Draws the dashboard's chart from the data the server put in a JSON script element.
(function () {
  var source = document.getElementById("category-chart-data");
  var canvas = document.getElementById("category-chart");
  if (!source || !canvas || !window.Chart) return;
  var data = JSON.parse(source.textContent);
  var css = getComputedStyle(document.documentElement);
  function colour(name) { return css.getPropertyValue("--tblr-" + name).trim(); }
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: [
        { label: "Immutable", data: data.immutable, backgroundColor: colour("teal") },
        { label: "Bastion", data: data.bastion, backgroundColor: colour("purple") }
      ]
    },
    options: {
      indexAxis: "y",
      responsive: true,
      maintainAspectRatio: false,
      scales: { x: { stacked: true, ticks: { precision: 0 } }, y: { stacked: true } },
      plugins: { legend: { position: "bottom" } }
    }
  });
})();
