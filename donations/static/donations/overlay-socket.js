// Reconnecting for the OBS overlay pages (alerts, goal): backoff with jitter up to 30 s,
// and a slow retry with a clear message when the link is no longer valid (4403/4404:
// the token was rotated; keep trying slowly, in case this is a blip).
window.overlayReconnect = function (setState, connect) {
  var attempt = 0;
  function retry(code) {
    var delay;
    if (code === 4403 || code === 4404) {
      setState("invalid", "This overlay link is no longer valid: copy the new URL from your dashboard.");
      delay = 60000;
    } else {
      attempt += 1;
      delay = Math.min(30000, 500 * Math.pow(2, Math.min(attempt, 6))) * (0.75 + Math.random() / 2);
      setState("reconnecting", "reconnecting");
    }
    setTimeout(connect, delay);
  }
  function start(valid) {
    if (valid) {
      connect();
    } else {
      setState("invalid", "This overlay link is not valid: copy the current URL from your dashboard.");
      setTimeout(function () { location.reload(); }, 60000);
    }
  }
  return { retry: retry, reset: function () { attempt = 0; }, start: start };
};
