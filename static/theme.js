// Applied before first paint so a stored theme never flashes the other one.
(function () {
  var stored = null;
  try { stored = localStorage.getItem("taskdeck-theme"); } catch (e) {}
  if (stored === "light" || stored === "dark") document.documentElement.dataset.theme = stored;
})();
