// Glue only: the theme toggle, the poll-interval picker, poll announcements, copy buttons and the
// "Redis is unreachable" banner swap.
// Behaviour lives on elements as hx-*.
document.addEventListener("DOMContentLoaded", function () {
  var toggle = document.getElementById("theme-toggle");
  if (toggle) {
    toggle.addEventListener("click", function () {
      var root = document.documentElement;
      var current = root.dataset.theme ||
        (window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
      var next = current === "dark" ? "light" : "dark";
      root.dataset.theme = next;
      try { localStorage.setItem("taskdeck-theme", next); } catch (e) {}
    });
  }
});

// The server renders hx-trigger from the td_poll_<key> cookie; changing the picker stores the
// choice and retunes the regions already on the page.
document.addEventListener("change", function (event) {
  var select = event.target.closest("select[data-poll-control]");
  if (!select) return;
  var key = select.dataset.pollControl;
  var seconds = parseInt(select.value, 10) || 0;
  document.cookie = "td_poll_" + key + "=" + seconds + "; path=/; max-age=31536000; SameSite=Lax";
  document.querySelectorAll('[data-poll-key="' + key + '"]').forEach(function (region) {
    if (seconds) region.setAttribute("hx-trigger", "every " + seconds + "s");
    else region.removeAttribute("hx-trigger");
    htmx.process(region);
  });
});

// Copy-to-clipboard for ids: <button data-copy="..."> (see the copy_button macro). The buttons
// are shown only when this script runs and the browser offers the clipboard.
if (navigator.clipboard) document.documentElement.classList.add("can-copy");
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button || !navigator.clipboard) return;
  navigator.clipboard.writeText(button.dataset.copy).then(function () {
    var label = button.textContent;
    button.textContent = button.dataset.copiedLabel || label;
    setTimeout(function () { button.textContent = label; }, 1500);
  });
});

// Polled regions carry a one-line summary in data-announce. After every swap the summaries are
// compared with the last ones seen per region id; the changed ones are read out, politely, through
// the persistent #poll-announcer (base.html). Regions seen for the first time are not announced.
var lastSummaries = {};
function changedSummaries() {
  var changed = [];
  document.querySelectorAll("[data-announce][id]").forEach(function (region) {
    var text = region.dataset.announce;
    if (region.id in lastSummaries && lastSummaries[region.id] !== text) changed.push(text);
    lastSummaries[region.id] = text;
  });
  return changed;
}
document.addEventListener("DOMContentLoaded", changedSummaries);
// Regions polled separately (the overview's tiles) settle a few milliseconds apart: their changes
// are gathered briefly and read as one message rather than overwriting each other.
var pendingSummaries = [];
var announceTimer = null;
document.addEventListener("htmx:afterSettle", function () {
  pendingSummaries = pendingSummaries.concat(changedSummaries());
  if (!pendingSummaries.length || announceTimer) return;
  announceTimer = setTimeout(function () {
    var announcer = document.getElementById("poll-announcer");
    if (announcer) announcer.textContent = pendingSummaries.join(" · ");
    pendingSummaries = [];
    announceTimer = null;
  }, 250);
});

// htmx 2 swaps no 4xx/5xx answer, so a poll that gets 503 would leave stale figures on screen as if
// current. A GET answered with the dashboard's own banner (X-Taskdeck-Unreachable, dashboard/errors.py)
// replaces the polled region; the banner polls the same address and gives way to the figures when
// Redis is back. Anything else (a form's 4xx, another server's 503) keeps its current handling.
document.addEventListener("htmx:beforeSwap", function (event) {
  var xhr = event.detail.xhr;
  var config = event.detail.requestConfig;
  if (xhr.status !== 503 || !xhr.getResponseHeader("X-Taskdeck-Unreachable")) return;
  if (config && config.verb && config.verb !== "get") return;
  event.detail.shouldSwap = true;
  event.detail.isError = false;
});
