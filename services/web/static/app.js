// b2bpay web screens: progressive enhancement only; every action works without this file.
(function () {
  "use strict";

  // Idle timeout: warn a minute before the session ends, then go to the login page.
  function watchIdle() {
    var body = document.body;
    var idle = parseInt(body.getAttribute("data-idle-seconds") || "", 10);
    if (!idle) { return; }
    var warning = document.getElementById("idle-warning");
    var expired = body.getAttribute("data-expired-url") || "/bank/login?expired=1";
    window.setTimeout(function () {
      if (warning) { warning.hidden = false; }
    }, Math.max(0, idle - 60) * 1000);
    window.setTimeout(function () {
      window.location.assign(expired);
    }, idle * 1000 + 1000);
  }

  // Progress: reload the timeline fragment (htmx) whenever one of the payment's events
  // arrives over server-sent events; stop once the payment reached a final state.
  function followProgress() {
    var timeline = document.getElementById("timeline");
    if (!timeline || !window.EventSource) { return; }
    var eventsUrl = timeline.getAttribute("data-events-url");
    if (!eventsUrl || timeline.getAttribute("data-final") === "true") { return; }
    var source = new EventSource(eventsUrl);
    var refresh = function () {
      var current = document.getElementById("timeline");
      if (!current) { return; }
      var url = current.getAttribute("data-timeline-url");
      var done = window.htmx
        ? window.htmx.ajax("GET", url, { target: "#timeline", swap: "outerHTML" })
        : Promise.resolve();
      done.then(function () {
        var now = document.getElementById("timeline");
        if (now && now.getAttribute("data-final") === "true") { source.close(); }
      });
    };
    source.addEventListener("open", refresh);
    source.addEventListener("transition", refresh);
    source.addEventListener("refusal", refresh);
  }

  document.addEventListener("DOMContentLoaded", function () {
    watchIdle();
    followProgress();
  });
})();
