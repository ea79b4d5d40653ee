/* The SLA report's charts: figures built server-side with plotly.graph_objects, embedded with
   json_script, drawn here by the plotly.js the app serves itself (no CDN). */
(function () {
  "use strict";

  function draw() {
    var holders = document.querySelectorAll("[data-plotly-figure]");
    for (var i = 0; i < holders.length; i++) {
      var holder = holders[i];
      var source = document.getElementById(holder.dataset.plotlyFigure);
      if (!source || !window.Plotly) continue;
      var figure = JSON.parse(source.textContent);
      window.Plotly.newPlot(holder, figure.data, figure.layout, {
        responsive: true,
        displaylogo: false,
        modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
