// The viewer's time zone, which no profile stores: the browser's. Remembered in a cookie so the server
// renders times in it; times the server rendered in another zone (a first visit: UTC) are re-rendered
// here, the UTC time staying on hover; a new patch window's zone defaults to it.
(function () {
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone) return;
  if (document.cookie.split("; ").indexOf("estate_tz=" + zone) === -1) {
    document.cookie = "estate_tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
  }

  var formatter = new Intl.DateTimeFormat("en-US", {
    timeZone: zone, weekday: "short", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short",
  });

  // The server's shapes: "Tue 2027-01-05 02:00 EST" (datetime) and "02:00 EST" (time).
  function format(when, part) {
    var p = {};
    formatter.formatToParts(when).forEach(function (item) { p[item.type] = item.value; });
    var time = p.hour + ":" + p.minute + " " + p.timeZoneName;
    return part === "time" ? time : p.weekday + " " + p.year + "-" + p.month + "-" + p.day + " " + time;
  }

  function zoneTimes(root) {
    root.querySelectorAll("time[data-zone]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (el.getAttribute("data-zone") === zone || isNaN(when)) return;
      el.textContent = format(when, el.getAttribute("data-part"));
      el.setAttribute("data-zone", zone);
    });
  }

  function defaultZone(root) {
    root.querySelectorAll("select[data-default-zone=browser]").forEach(function (select) {
      var known = Array.prototype.some.call(select.options, function (o) { return o.value === zone; });
      if (known) select.value = zone;
      select.removeAttribute("data-default-zone");
    });
  }

  function enhance(root) {
    zoneTimes(root);
    defaultZone(root);
  }

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:afterSwap", function (event) { enhance(event.detail.target); });
})();
