/* The SLA report's charts: figures built server-side, drawn by static/js/figures.js. */
window.RevOpsFigures.onReady(function () {
  "use strict";
  window.RevOpsFigures.draw(document);
});
