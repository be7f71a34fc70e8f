// The patch calendar: FullCalendar fed by a JSON endpoint bounded to the range on screen.
(function () {
  var el = document.getElementById("calendar");
  if (!el || !window.FullCalendar) return;
  var filters = document.getElementById("calendar-filters");
  var panel = document.getElementById("occurrence-panel");

  document.querySelectorAll("[data-colour]").forEach(function (swatch) {
    var colour = swatch.getAttribute("data-colour");
    if (swatch.classList.contains("legend-border")) swatch.style.borderColor = colour;
    else swatch.style.backgroundColor = colour;
  });

  function filterParams() {
    var params = new URLSearchParams();
    new FormData(filters).forEach(function (value, key) {
      if (value) params.set(key, value);
    });
    return params;
  }

  var calendar = new FullCalendar.Calendar(el, {
    initialView: "dayGridMonth",
    headerToolbar: { left: "prev,next today", center: "title", right: "dayGridMonth,timeGridWeek,agenda" },
    buttonText: { month: "Month", week: "Week", today: "Today" },
    views: {
      // The next 30 days from today, whatever the month: what is coming, as a list.
      agenda: { type: "list", duration: { days: 30 }, buttonText: "Next 30 days" },
      timeGridWeek: { slotEventOverlap: false, eventMinHeight: 28, expandRows: true },
    },
    firstDay: 1,
    nowIndicator: true,
    eventDisplay: "block",
    dayMaxEvents: 4,
    height: "auto",
    eventTimeFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
    events: function (info, success, failure) {
      var params = filterParams();
      params.set("start", info.start.toISOString());
      params.set("end", info.end.toISOString());
      fetch(el.getAttribute("data-events-url") + "?" + params.toString(), { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("Calendar events: HTTP " + response.status);
          return response.json();
        })
        .then(success)
        .catch(failure);
    },
    eventClick: function (info) {
      info.jsEvent.preventDefault();
      if (!info.event.extendedProps.url) return;
      htmx.ajax("GET", info.event.extendedProps.url, { target: panel, swap: "innerHTML" });
    },
    eventDidMount: function (info) {
      if (info.event.extendedProps.freeze) {
        info.el.setAttribute("data-testid", "calendar-freeze");
        info.el.setAttribute("title", info.event.title);
        return;
      }
      var props = info.event.extendedProps;
      info.el.setAttribute("data-testid", "calendar-event");
      info.el.setAttribute(
        "title",
        [props.windowTitle, props.components.join(", ")].concat(props.progress ? [props.progress] : [], props.warnings || []).join("\n")
      );
      if ((props.warnings || []).length) info.el.setAttribute("data-warnings", props.warnings.length);
    },
  });
  calendar.render();

  filters.addEventListener("change", function () {
    history.replaceState(null, "", "?" + filterParams().toString());
    calendar.refetchEvents();
  });
  document.body.addEventListener("occurrence-changed", function () {
    calendar.refetchEvents();
  });
})();
