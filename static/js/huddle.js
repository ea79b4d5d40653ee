/* The weekly revenue huddle on a shared screen: one agenda section at a time, moved with the
   keyboard (Right/Left arrows, Space/Shift+Space, Page Down/Up, Home/End), the agenda or the
   buttons; full screen through the Fullscreen API; every section drawn before printing; each
   chart's PNG made by plotly.js in the browser.

   Without this script the sections simply stack, which is also how they print. Charts are
   drawn when their section is first shown (plotly cannot size a chart inside a hidden block). */
(function () {
  "use strict";

  var deck = document.getElementById("huddle");
  if (!deck) return;
  var slides = Array.prototype.slice.call(deck.querySelectorAll(".slide"));
  var links = Array.prototype.slice.call(deck.querySelectorAll("[data-goto]"));
  var progress = deck.querySelector("[data-progress]");
  var fullscreenButton = deck.querySelector('[data-action="fullscreen"]');
  var current = 0;

  function drawCharts(root) {
    // Drawn before (in a section shown earlier, or at another size): fitted to the screen now.
    window.RevOpsFigures.draw(root).forEach(function (chart) {
      window.Plotly.Plots.resize(chart);
    });
  }

  function show(index, updateHash) {
    current = Math.max(0, Math.min(slides.length - 1, index));
    slides.forEach(function (slide, i) {
      slide.classList.toggle("current", i === current);
    });
    links.forEach(function (link, i) {
      if (i === current) link.setAttribute("aria-current", "step");
      else link.removeAttribute("aria-current");
    });
    if (progress) progress.textContent = current + 1 + " / " + slides.length;
    deck.dataset.section = slides[current].id;
    if (updateHash && history.replaceState) {
      history.replaceState(null, "", "#" + slides[current].id);
    }
    drawCharts(slides[current]);
  }

  function indexOfHash() {
    var target = document.getElementById(decodeURIComponent((location.hash || "").slice(1)));
    for (var i = 0; target && i < slides.length; i++) {
      if (slides[i].contains(target)) return i;
    }
    return 0;
  }

  function isTyping(target) {
    if (!target || !target.tagName) return false;
    return target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
  }

  function isPressable(target) {
    return target && target.tagName && /^(BUTTON|SUMMARY|A)$/.test(target.tagName);
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    if (isTyping(event.target)) return;
    var key = event.key;
    // Space on a focused button or link presses it; elsewhere it turns the page.
    if (key === " " && isPressable(event.target)) return;
    if (key === "ArrowRight" || key === "PageDown" || (key === " " && !event.shiftKey)) {
      show(current + 1, true);
    } else if (key === "ArrowLeft" || key === "PageUp" || (key === " " && event.shiftKey)) {
      show(current - 1, true);
    } else if (key === "Home") {
      show(0, true);
    } else if (key === "End") {
      show(slides.length - 1, true);
    } else {
      return;
    }
    event.preventDefault();
  });

  links.forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      show(Number(link.dataset.goto), true);
    });
  });

  function toggleFullscreen() {
    if (document.fullscreenElement) {
      document.exitFullscreen();
    } else if (deck.requestFullscreen) {
      deck.requestFullscreen().catch(function () {});
    }
  }

  document.addEventListener("fullscreenchange", function () {
    var on = document.fullscreenElement === deck;
    deck.classList.toggle("is-fullscreen", on);
    if (fullscreenButton) fullscreenButton.textContent = on ? "Exit full screen" : "Full screen";
    drawCharts(slides[current]);
  });

  deck.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-action], button[data-png]");
    if (!button) return;
    var action = button.dataset.action;
    if (action === "next") show(current + 1, true);
    else if (action === "previous") show(current - 1, true);
    else if (action === "fullscreen") toggleFullscreen();
    else if (action === "print") window.print();
    else if (button.dataset.png && window.Plotly) {
      var chart = document.getElementById(button.dataset.png);
      if (chart && chart.dataset.drawn === "true") {
        window.Plotly.downloadImage(chart, {
          format: "png",
          filename: button.dataset.pngName,
          width: 1600,
          height: 800,
        });
      }
    }
    // Keys keep turning pages after a click: Space must not press this button again.
    if (action) deck.focus({ preventScroll: true });
  });

  // Printing shows every section (print CSS): draw the charts not seen yet first.
  function beforePrint() {
    slides.forEach(function (slide) {
      slide.classList.add("current");
    });
    drawCharts(deck);
  }
  window.addEventListener("beforeprint", beforePrint);
  window.addEventListener("afterprint", function () {
    show(current, false);
  });
  if (window.matchMedia) {
    // Also when print media is emulated (a PDF made headless) without the print events.
    window.matchMedia("print").addEventListener("change", function (event) {
      if (event.matches) beforePrint();
      else show(current, false);
    });
  }

  // htmx swaps a 400 answer too: it carries the form with its field errors.
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.status === 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function start() {
    deck.classList.add("js-deck");
    show(indexOfHash(), false);
  }

  window.addEventListener("hashchange", function () {
    show(indexOfHash(), false);
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
