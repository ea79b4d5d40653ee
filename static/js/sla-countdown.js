/* Live SLA clocks: every [data-sla-clock] whose timer is running (or breached) re-renders each
   second from its data-due / data-warn deadlines, with the wording of sla/templatetags/sla_ui.py
   (keep the two in step). The server's clock wins over the browser's: data-now says when the
   page was rendered, and the difference is applied to every tick. */
(function () {
  "use strict";

  var FAR_MS = 6 * 3600 * 1000; // sla_ui.FAR: further away, show when it is due
  var LIVE = { running: true, breached: true };
  var STATUS = /\bsla-(on-track|at-risk|breached)\b/;

  function two(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function span(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var days = Math.floor(s / 86400);
    var hours = Math.floor((s % 86400) / 3600);
    var minutes = Math.floor((s % 3600) / 60);
    var seconds = s % 60;
    if (days) return days + "d " + hours + "h";
    if (hours) return hours + "h " + two(minutes) + "m " + two(seconds) + "s";
    return minutes + "m " + two(seconds) + "s";
  }

  function render(el, clientNow) {
    if (!LIVE[el.dataset.state]) return;
    if (el.slaSkew === undefined) {
      var rendered = Date.parse(el.dataset.now);
      el.slaSkew = isNaN(rendered) ? 0 : rendered - clientNow;
    }
    var now = clientNow + el.slaSkew;
    var due = Date.parse(el.dataset.due);
    var warn = Date.parse(el.dataset.warn);
    if (isNaN(due)) return;
    var left = due - now;
    var status, text;
    if (el.dataset.state === "breached" || left <= 0) {
      status = "breached";
      text = "Breached · " + span(-left) + " overdue";
    } else {
      status = now >= warn ? "at-risk" : "on-track";
      text = left > FAR_MS ? "Due " + el.dataset.dueLabel : span(left) + " left";
      if (status === "at-risk") text = "At risk · " + text;
    }
    if (el.dataset.status !== status) {
      el.dataset.status = status;
      el.className = el.className.replace(STATUS, "sla-" + status);
    }
    var target = el.querySelector(".sla-text");
    if (target && target.textContent !== text) target.textContent = text;
  }

  function tick() {
    var now = Date.now();
    var clocks = document.querySelectorAll("[data-sla-clock]");
    for (var i = 0; i < clocks.length; i++) render(clocks[i], now);
  }

  document.addEventListener("DOMContentLoaded", tick);
  // Feedback items are swapped in by htmx after acknowledge / resolve.
  document.addEventListener("htmx:afterSettle", tick);
  setInterval(tick, 1000);
})();
