/* The dashboard (templates/metrics/dashboard.html): draws the figures metrics/dashboard.py
   embeds with json_script, with the plotly.js the app serves itself (no CDN); a click on a
   funnel stage, a bar or a point opens its lead list (the point's customdata, or its first
   item, is the link). The filter form changes the URL, so a view can be shared and reloaded. */
(function () {
  "use strict";

  var figures = window.RevOpsFigures;
  var CONFIG = Object.assign({}, figures.CONFIG, {
    modeBarButtonsToRemove: figures.CONFIG.modeBarButtonsToRemove.concat(
      ["zoom2d", "pan2d", "zoomIn2d", "zoomOut2d", "resetScale2d"]),
  });

  function linkOf(point) {
    var data = point && point.customdata;
    var link = Array.isArray(data) ? data[0] : data;
    return typeof link === "string" && link.charAt(0) === "/" ? link : null;
  }

  function drawCharts() {
    figures.draw(document, {
      config: CONFIG,
      adjust: function (figure) {
        figure.layout.dragmode = false; // a click drills down; it never starts a zoom box
      },
      drawn: function (chart) {
        chart.on("plotly_click", function (event) {
          var link = linkOf(event.points && event.points[0]);
          if (link) window.location.assign(link);
        });
      },
    });
  }

  function resizeCharts() {
    if (!window.Plotly) return;
    var charts = document.querySelectorAll(".chart.js-plotly-plot");
    for (var i = 0; i < charts.length; i++) window.Plotly.Plots.resize(charts[i]);
  }

  function setUpFilters() {
    var form = document.getElementById("dash-filters");
    if (!form) return;
    var range = form.elements.range;
    var custom = form.querySelectorAll(".custom-date");

    function showDates() {
      var on = range.value === "custom";
      for (var i = 0; i < custom.length; i++) {
        custom[i].hidden = !on;
        custom[i].querySelector("input").disabled = !on;
      }
    }

    showDates();
    // Back to this page from the browser's cache: the fields disabled on submit come back.
    window.addEventListener("pageshow", function () {
      for (var j = 0; j < form.elements.length; j++) form.elements[j].disabled = false;
      showDates();
    });
    range.addEventListener("change", function () {
      showDates();
      if (range.value !== "custom") form.requestSubmit();
    });
    // A member filter applies at once; dates wait for Apply (typing one is several changes).
    var selects = form.querySelectorAll("select:not([name=range])");
    for (var i = 0; i < selects.length; i++) {
      selects[i].addEventListener("change", function () { form.requestSubmit(); });
    }
    // Only the filters in use go into the URL: short links that read as what they show.
    form.addEventListener("submit", function () {
      for (var j = 0; j < form.elements.length; j++) {
        var field = form.elements[j];
        if (field.name && !field.value) field.disabled = true;
      }
    });
  }

  function setUpPrint() {
    var button = document.querySelector("[data-dash-print]");
    if (button) button.addEventListener("click", function () { window.print(); });
    // Charts follow the printed page's width, and come back after.
    if (window.matchMedia) {
      var print = window.matchMedia("print");
      if (print.addEventListener) print.addEventListener("change", resizeCharts);
    }
    window.addEventListener("beforeprint", resizeCharts);
    window.addEventListener("afterprint", resizeCharts);
  }

  function start() {
    setUpFilters();
    setUpPrint();
    drawCharts();
  }

  figures.onReady(start);
})();
