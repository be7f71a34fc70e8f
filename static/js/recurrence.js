// The window form's recurrence builder: weekly on days, monthly on the nth weekday, or an RRULE typed by hand.
// It only writes the RRULE field, which the server checks as it checks any rule (one place for the rules).
(function () {
  var builder = document.querySelector("[data-recurrence-builder]");
  if (!builder) return;
  var rrule = document.getElementById(builder.getAttribute("data-target"));
  var modes = builder.querySelectorAll("input[name=recurrence_mode]");
  var days = builder.querySelectorAll("[data-weekday]");
  var nth = builder.querySelector("[data-nth]");
  var monthDay = builder.querySelector("[data-month-weekday]");

  function mode() {
    var checked = builder.querySelector("input[name=recurrence_mode]:checked");
    return checked ? checked.value : "once";
  }

  function compose() {
    if (mode() === "once") return "";
    if (mode() === "weekly") {
      var picked = Array.prototype.filter.call(days, function (d) { return d.checked; }).map(function (d) { return d.value; });
      return picked.length ? "FREQ=WEEKLY;BYDAY=" + picked.join(",") : "FREQ=WEEKLY";
    }
    if (mode() === "monthly") return "FREQ=MONTHLY;BYDAY=" + nth.value + monthDay.value;
    return rrule.value;
  }

  function show() {
    builder.querySelectorAll("[data-recurrence]").forEach(function (part) {
      part.hidden = part.getAttribute("data-recurrence") !== mode();
    });
    rrule.readOnly = mode() !== "advanced";
  }

  function write() {
    show();
    var rule = compose();
    if (rule === rrule.value) return;
    rrule.value = rule;
    rrule.dispatchEvent(new Event("change", { bubbles: true })); // the live conflict check listens
  }

  // Read the stored rule back into the builder; anything it cannot say is "advanced".
  function read(rule) {
    var weekly = /^FREQ=WEEKLY(?:;BYDAY=((?:MO|TU|WE|TH|FR|SA|SU)(?:,(?:MO|TU|WE|TH|FR|SA|SU))*))?$/.exec(rule);
    var monthly = /^FREQ=MONTHLY;BYDAY=(-1|[1-4])(MO|TU|WE|TH|FR|SA|SU)$/.exec(rule);
    var chosen = !rule ? "once" : weekly ? "weekly" : monthly ? "monthly" : "advanced";
    builder.querySelector("#recurrence-" + chosen).checked = true;
    if (weekly) {
      var on = (weekly[1] || "").split(",");
      days.forEach(function (d) { d.checked = on.indexOf(d.value) !== -1; });
    }
    if (monthly) { nth.value = monthly[1]; monthDay.value = monthly[2]; }
  }

  read(rrule.value.trim().toUpperCase());
  show();
  builder.addEventListener("change", function (event) {
    event.stopPropagation(); // the builder's own inputs are not form fields: only the RRULE change counts
    write();
  });
})();
