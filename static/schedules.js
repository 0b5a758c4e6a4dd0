// Remember the browser's IANA time zone in a cookie so the server shows run times in it (UTC otherwise).
(function () {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("td_tz=" + zone) === -1) {
      document.cookie = "td_tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (e) {}
})();
