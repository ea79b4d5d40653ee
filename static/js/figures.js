/* Draws the plotly figures the server embeds with json_script: an element with
   data-plotly-figure="<id of the JSON script>" becomes a chart, drawn by the plotly.js the app
   serves itself (no CDN). Shared by the dashboard, the journey map, the huddle and the SLA report;
   each page's own script says what differs (its plotly config, a change to the figure, what to do
   once a chart is drawn). */
window.RevOpsFigures = (function () {
  "use strict";

  var CONFIG = {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
  };

  /* Draws every figure inside `root` not drawn yet, and returns the charts drawn before (to
     resize). A chart is marked data-drawn="true" once drawn (the browser tests wait for it).
     options: config (instead of CONFIG), adjust(figure) before drawing, drawn(chart) after. */
  function draw(root, options) {
    options = options || {};
    var drawnBefore = [];
    if (!window.Plotly) return drawnBefore;
    var holders = root.querySelectorAll("[data-plotly-figure]");
    for (var i = 0; i < holders.length; i++) {
      var holder = holders[i];
      if (holder.dataset.drawn) {
        if (holder.dataset.drawn === "true") drawnBefore.push(holder);
        continue;
      }
      var source = document.getElementById(holder.dataset.plotlyFigure);
      if (!source) continue;
      var figure = JSON.parse(source.textContent);
      if (options.adjust) options.adjust(figure);
      holder.dataset.drawn = "pending"; // asked twice before plotly is done: drawn once
      window.Plotly.newPlot(holder, figure.data, figure.layout, options.config || CONFIG)
        .then(function (chart) {
          if (options.drawn) options.drawn(chart);
          chart.dataset.drawn = "true";
        });
    }
    return drawnBefore;
  }

  /* Runs `start` once the page is parsed. */
  function onReady(start) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", start);
    } else {
      start();
    }
  }

  return { CONFIG: CONFIG, draw: draw, onReady: onReady };
})();
