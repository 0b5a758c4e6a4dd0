// Glue for the Run form only; behaviour stays in hx-* attributes and the server.
// 1. A refused run answers 4xx with the form and its errors: let htmx swap it in like a 200.
document.addEventListener("htmx:beforeSwap", function (event) {
  var status = event.detail.xhr.status;
  if (status >= 400 && status < 500 && event.detail.target && event.detail.target.id === "run-panel") {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
// 2. Until this browser has run something (td_tz cookie), preselect its own time zone for the ETA.
document.addEventListener("DOMContentLoaded", function () {
  if (document.cookie.split("; ").some(function (c) { return c.indexOf("td_tz=") === 0; })) return;
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  document.querySelectorAll("select[data-operator-zone]").forEach(function (select) {
    if (zone && select.querySelector('option[value="' + zone + '"]')) select.value = zone;
  });
});
