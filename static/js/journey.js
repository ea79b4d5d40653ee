/* The customer journey map: draws the Sankey (a figure built server-side with
   plotly.graph_objects, embedded with json_script) with the plotly.js the app serves itself, and
   applies a filter as soon as it changes: the page is fetched with the new query string, its
   results swapped in and the URL updated, so the view can be shared or bookmarked. Without
   JavaScript the form's Show button does the same with a page load. */
(function () {
  "use strict";

  var SWAPPED = ["journey-window", "journey-errors", "journey-results"];
  var PRINT_WIDTH = 1000; // px: an A4 landscape page less its margins

  function charts() {
    return document.querySelectorAll("#journey-results [data-plotly-figure]");
  }

  function draw() {
    var results = document.getElementById("journey-results");
    if (results) window.RevOpsFigures.draw(results);
  }

  function queryOf(form) {
    // Only what differs from "everything": empty filters and the dates of a preset range are
    // left out, so links stay short and readable.
    var params = new URLSearchParams();
    var custom = form.elements.range.value === "custom";
    new FormData(form).forEach(function (value, name) {
      if (!value) return;
      if ((name === "start" || name === "end") && !custom) return;
      params.append(name, value);
    });
    var query = params.toString();
    return window.location.pathname + (query ? "?" + query : "");
  }

  function load(url, remember) {
    var results = document.getElementById("journey-results");
    results.setAttribute("aria-busy", "true");
    return fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (response) {
        // A refused filter answers 400 with its message: shown like any other page.
        if (!response.ok && response.status !== 400) throw new Error(response.statusText);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        SWAPPED.forEach(function (id) {
          var now = document.getElementById(id);
          var next = fresh.getElementById(id);
          if (now && next) now.replaceWith(next);
        });
        if (remember) window.history.pushState({ journey: true }, "", url);
        draw();
      })
      .catch(function () {
        window.location.assign(url); // let the browser show whatever went wrong
      });
  }

  function watch(form) {
    form.addEventListener("change", function (event) {
      var target = event.target;
      if (target.name === "range" && target.value === "custom") {
        // From and To hold the current range's days: pick the ones wanted, then it reloads.
        form.elements.start.focus();
        return;
      }
      if ((target.name === "start" || target.name === "end") &&
          !(form.elements.start.value && form.elements.end.value)) {
        return;
      }
      load(queryOf(form), true);
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      load(queryOf(form), true);
    });
    // The form is not swapped: going back or forward reloads the page the URL names.
    window.addEventListener("popstate", function () {
      window.location.reload();
    });
  }

  function printing(on) {
    if (!window.Plotly) return;
    var holders = charts();
    for (var i = 0; i < holders.length; i++) {
      if (holders[i].dataset.drawn !== "true") continue;
      window.Plotly.relayout(holders[i], { width: on ? PRINT_WIDTH : null, autosize: !on });
    }
  }

  function start() {
    draw();
    var form = document.getElementById("journey-filters");
    if (form && window.fetch && window.URLSearchParams) watch(form);
    window.addEventListener("beforeprint", function () { printing(true); });
    window.addEventListener("afterprint", function () { printing(false); });
  }

  window.RevOpsFigures.onReady(start);
})();
