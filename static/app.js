// Glue only: the theme toggle and the poll-interval picker. Behaviour lives on elements as hx-*.
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
