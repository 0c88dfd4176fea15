// The header menu and the table wrappers (issue 16). Loaded in <head>, before the page is drawn: it marks the page
// as scripted at once (so the folded menu never flashes open) and listens on the document for the rest.
"use strict";
document.documentElement.classList.add("js");

// Below 900 px the navigation folds behind the Menu button.
document.addEventListener("click", function (event) {
  const toggle = event.target.closest(".menu-toggle");
  if (toggle) {
    const nav = toggle.closest("nav");
    const open = nav.classList.toggle("open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    return;
  }
  // A click outside an open dropdown (the account menu) closes it.
  document.querySelectorAll("details.dropdown[open]").forEach(function (dropdown) {
    if (!dropdown.contains(event.target)) dropdown.removeAttribute("open");
  });
});
document.addEventListener("keydown", function (event) {
  if (event.key !== "Escape") return;
  document.querySelectorAll("details.dropdown[open]").forEach(function (dropdown) {
    dropdown.removeAttribute("open");
  });
});

// Every table of the page, and of every fragment htmx swaps in, scrolls inside its own box.
function wrapTables(root) {
  const tables = root.matches && root.matches("table") ? [root] : root.querySelectorAll("main table");
  tables.forEach(function (table) {
    const parent = table.parentElement;
    if (!table.closest("main") || parent.classList.contains("table-scroll")) return;
    if (parent.classList.contains("overflow-auto") && parent.children.length === 1) {
      parent.classList.add("table-scroll");  // Pico's own scrolling box, written in the template
      return;
    }
    const wrapper = document.createElement("div");
    wrapper.className = "table-scroll";
    table.parentNode.insertBefore(wrapper, table);
    wrapper.appendChild(table);
  });
}
document.addEventListener("DOMContentLoaded", function () { wrapTables(document); });
document.addEventListener("htmx:load", function (event) { wrapTables(event.target); });
