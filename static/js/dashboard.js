// Draws the dashboard's chart from the data the server put in a JSON script element.
(function () {
  var source = document.getElementById("category-chart-data");
  var canvas = document.getElementById("category-chart");
  if (!source || !canvas || !window.Chart) return;
  var data = JSON.parse(source.textContent);
  function colour(name) {
    // Resolved through a real property: the kit's tokens may be light-dark() pairs a canvas cannot read.
    var probe = document.createElement("span");
    probe.style.color = "var(--tblr-" + name + ")";
    document.body.appendChild(probe);
    var value = getComputedStyle(probe).color;
    probe.remove();
    return value;
  }
  function themed() {
    // Text and grid follow the kit's light or dark theme.
    Chart.defaults.color = colour("secondary");
    Chart.defaults.borderColor = colour("border-color");
  }
  themed();
  var chart = new Chart(canvas, {
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
      animation: window.matchMedia("(prefers-reduced-motion: reduce)").matches ? false : {},
      scales: { x: { stacked: true, ticks: { precision: 0 } }, y: { stacked: true } },
      plugins: { legend: { position: "bottom" } }
    }
  });
  document.addEventListener("estate:theme", function () {
    themed();
    chart.options.scales.x.ticks.color = chart.options.scales.y.ticks.color = Chart.defaults.color;
    chart.options.scales.x.grid.color = chart.options.scales.y.grid.color = Chart.defaults.borderColor;
    chart.options.plugins.legend.labels.color = Chart.defaults.color;
    chart.update("none");
  });
})();
