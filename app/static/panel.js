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
