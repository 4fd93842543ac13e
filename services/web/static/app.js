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
  // One fetch at a time: an event that arrives while a fetch is under way asks for one more
  // fetch after it, against the timeline then on the page (the fetched one replaces it), so
  // the page always ends on the newest state however the events and answers interleave.
  function followProgress() {
    var timeline = document.getElementById("timeline");
    if (!timeline || !window.EventSource || !window.htmx) { return; }
    var eventsUrl = timeline.getAttribute("data-events-url");
    if (!eventsUrl || timeline.getAttribute("data-final") === "true") { return; }
    var source = new EventSource(eventsUrl);
    var busy = false;
    var again = false;
    var refresh = function () {
      if (busy) { again = true; return; }
      var current = document.getElementById("timeline");
      if (!current) { return; }
      busy = true;
      var settled = false;
      var finish = function () {
        if (settled) { return; }
        settled = true;
        window.clearTimeout(watchdog);
        busy = false;
        var now = document.getElementById("timeline");
        if (now && now.getAttribute("data-final") === "true") { source.close(); return; }
        if (again) { again = false; refresh(); }
      };
      // A fetch whose answer never settles (htmx leaves its promise pending when a swap
      // throws) must not stop the page following the payment.
      var watchdog = window.setTimeout(finish, 20000);
      try {
        window.htmx.ajax("GET", current.getAttribute("data-timeline-url"), {
          source: current, target: current, swap: "outerHTML"
        }).then(finish, finish);
      } catch (error) {
        finish();
      }
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
