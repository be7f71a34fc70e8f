// Draws the component page's metric charts from the JSON the server put in the page, and again
// each time HTMX refreshes the health panel. Thresholds are dashed lines in the status colours.
(function () {
  var charts = [];

  function colour(name) {
    var probe = document.createElement("span");
    probe.style.color = "var(--tblr-" + name + ")";
    document.body.appendChild(probe);
    var value = getComputedStyle(probe).color;
    probe.remove();
    return value;
  }

  function flat(value, since, until, label, tone) {
    return {
      label: label,
      data: [{ x: since, y: value }, { x: until, y: value }],
      borderColor: colour(tone),
      borderDash: [6, 4],
      borderWidth: 1,
      pointRadius: 0,
      fill: false
    };
  }

  // Ticks on round local times (every 1, 2, 5, 10, 15, 30 min, 1, 2, 3, 6, 12 h or a day), so
  // the labels are evenly spaced and read 10:00, 10:15, 10:30 rather than Chart.js's linear
  // "nice numbers" of milliseconds, which land on uneven minutes.
  var MINUTE = 60000;
  var STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440].map(function (m) { return m * MINUTE; });

  function timeTicks(scale) {
    var span = scale.max - scale.min;
    if (!(span > 0)) return;
    var step = STEPS.find(function (s) { return span / s <= 6; }) || STEPS[STEPS.length - 1];
    // Align to the viewer's clock: 10:15 local, whatever the zone's offset from UTC.
    var offset = -new Date(scale.min).getTimezoneOffset() * MINUTE;
    var first = Math.ceil((scale.min + offset) / step) * step - offset;
    var ticks = [];
    for (var t = first; t <= scale.max; t += step) ticks.push({ value: t });
    scale.ticks = ticks;
  }

  function timeLabel(ms) {
    var when = new Date(ms);
    return when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function draw() {
    charts.forEach(function (chart) { chart.destroy(); });
    charts = [];
    var source = document.getElementById("health-chart-data");
    if (!source || !window.Chart) return;
    var series = JSON.parse(source.textContent);
    Chart.defaults.color = colour("secondary");
    Chart.defaults.borderColor = colour("border-color");
    document.querySelectorAll("canvas[data-metric-index]").forEach(function (canvas) {
      var s = series[Number(canvas.getAttribute("data-metric-index"))];
      var datasets = [{
        label: s.metric + (s.unit ? " (" + s.unit + ")" : ""),
        data: s.points.map(function (p) { return { x: p[0], y: p[1] }; }),
        borderColor: colour("azure"),
        backgroundColor: colour("azure"),
        borderWidth: 2,
        pointRadius: 0,
        tension: 0.2
      }];
      if (s.warn !== null) datasets.push(flat(s.warn, s.since, s.until, "warn", "yellow"));
      if (s.critical !== null) datasets.push(flat(s.critical, s.since, s.until, "critical", "red"));
      charts.push(new Chart(canvas, {
        type: "line",
        data: { datasets: datasets },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          parsing: false,
          scales: {
            x: { type: "linear", min: s.since, max: s.until, afterBuildTicks: timeTicks, ticks: { callback: timeLabel } },
            y: { beginAtZero: true }
          },
          plugins: {
            legend: { position: "bottom", labels: { boxWidth: 12 } },
            tooltip: { callbacks: { title: function (items) { return items.length ? timeLabel(items[0].parsed.x) : ""; } } }
          }
        }
      }));
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target && event.target.id === "health-live") draw();
  });
  document.addEventListener("estate:theme", draw);
})();
