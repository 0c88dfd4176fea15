// The panel's only script of its own. Behaviour that used to live in hx-on attributes (which htmx runs through
// eval, refused by the Content-Security-Policy) is registered here as ordinary event listeners.
"use strict";

// A refused sync request (400) carries a message meant for the page: show it instead of dropping it, as htmx does
// with error answers by default.
document.addEventListener("htmx:beforeSwap", function (event) {
  if (event.detail.xhr.status === 400 && event.target.closest("[data-show-refusals]")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// The global search box: "/" focuses it (unless you are typing somewhere else), the arrow keys move through the
// suggestions, Escape or a click outside closes them.
(function () {
  function box() { return document.querySelector(".global-search input[type=search]"); }
  function panel() { return document.getElementById("search-suggestions"); }
  function options() {
    var suggestions = panel();
    return suggestions ? Array.prototype.slice.call(suggestions.querySelectorAll("[role=option]")) : [];
  }
  function close() {
    var suggestions = panel();
    if (suggestions) { suggestions.innerHTML = ""; }
  }
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  document.addEventListener("keydown", function (event) {
    var input = box();
    if (!input) { return; }
    if (event.key === "/" && !event.ctrlKey && !event.metaKey && !event.altKey && !typing(event.target)) {
      event.preventDefault();
      input.focus();
      input.select();
      return;
    }
    var inSearch = event.target === input || (panel() && panel().contains(event.target));
    if (!inSearch) { return; }
    if (event.key === "Escape") {
      close();
      input.focus();
      event.preventDefault();
      return;
    }
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") { return; }
    var links = options();
    if (!links.length) { return; }
    event.preventDefault();
    var position = links.indexOf(document.activeElement);
    if (event.key === "ArrowDown") {
      links[position < 0 ? 0 : Math.min(position + 1, links.length - 1)].focus();
    } else if (position <= 0) {
      input.focus();
    } else {
      links[position - 1].focus();
    }
  });

  document.addEventListener("click", function (event) {
    var search = document.querySelector(".global-search");
    if (search && !search.contains(event.target)) { close(); }
  });
})();
