// Keyboard shortcuts on every page, and the portfolio's row selection and URL state.
//   /        focus the global search (↓ ↑ move through its results, Esc closes them)
//   j / k    next / previous row of the portfolio or a task list ([data-row])
//   o, Enter open the focused row (its [data-open] link)
//   x        tick the focused row's box (portfolio bulk actions)
//   ?        the help dialog (#shortcut-help) listing them
// None fires while typing in an input, textarea, select or contenteditable, or with Ctrl,
// Alt or Meta held. The README lists the same keys.
(function () {
  "use strict";

  function typing(target) {
    if (!target || !target.closest) { return false; }
    return Boolean(target.closest("input, textarea, select, [contenteditable]:not([contenteditable=false])"));
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-row]"));
  }

  function focusedRow() {
    var active = document.activeElement;
    return active && active.closest ? active.closest("[data-row]") : null;
  }

  function moveRow(step) {
    var all = rows();
    if (!all.length) { return false; }
    var current = focusedRow() || document.querySelector("[data-row].row-focus");
    var index = all.indexOf(current);
    var next = index === -1 ? (step > 0 ? 0 : all.length - 1) : Math.min(Math.max(index + step, 0), all.length - 1);
    all.forEach(function (row) { row.classList.remove("row-focus"); });
    var row = all[next];
    row.classList.add("row-focus");
    row.setAttribute("tabindex", "-1");
    row.focus();
    row.scrollIntoView({ block: "nearest" });
    return true;
  }

  function openRow() {
    var row = focusedRow();
    var link = row && row.querySelector("[data-open]");
    if (!link) { return false; }
    link.click();
    return true;
  }

  function toggleRow() {
    var row = focusedRow();
    var box = row && row.querySelector("input[type=checkbox]");
    if (!box) { return false; }
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  function openHelp() {
    var dialog = document.getElementById("shortcut-help");
    if (!dialog || dialog.open) { return false; }
    dialog.showModal();
    return true;
  }

  function focusSearch() {
    var box = document.getElementById("global-search");
    if (!box) { return false; }
    box.focus();
    box.select();
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey) { return; }
    if (typing(event.target)) { return; }
    if (document.querySelector("dialog[open]")) { return; }
    var handled = false;
    switch (event.key) {
      case "/": handled = focusSearch(); break;
      case "?": handled = openHelp(); break;
      case "j": handled = moveRow(1); break;
      case "k": handled = moveRow(-1); break;
      case "o": handled = openRow(); break;
      case "Enter": handled = event.target === focusedRow() && openRow(); break;
      case "x": handled = toggleRow(); break;
    }
    if (handled) { event.preventDefault(); }
  });

  // The global search's drop-down: ↓ from the box enters it, ↓ ↑ move, Esc goes back.
  document.addEventListener("keydown", function (event) {
    var menu = document.getElementById("global-search-menu");
    var box = document.getElementById("global-search");
    if (!menu || !box) { return; }
    var hits = Array.prototype.slice.call(menu.querySelectorAll("a.search-hit"));
    var index = hits.indexOf(document.activeElement);
    if (event.target !== box && index === -1) { return; }
    if (event.key === "ArrowDown" && hits.length) {
      hits[Math.min(index + 1, hits.length - 1)].focus();
      event.preventDefault();
    } else if (event.key === "ArrowUp" && index !== -1) {
      (index === 0 ? box : hits[index - 1]).focus();
      event.preventDefault();
    } else if (event.key === "Escape") {
      menu.innerHTML = "";
      box.focus();
    }
  });

  // The footer's button opens the same help dialog; a click outside the search closes its
  // drop-down.
  document.addEventListener("click", function (event) {
    if (!event.target.closest) { return; }
    if (event.target.closest("[data-shortcut-help]")) { openHelp(); }
    var menu = document.getElementById("global-search-menu");
    if (menu && !event.target.closest(".global-search")) { menu.innerHTML = ""; }
  });

  // Portfolio selection: the header box ticks the page, the count shows in the bar.
  function updateCount() {
    var label = document.getElementById("bulk-count");
    if (!label) { return; }
    var all = document.getElementById("bulk-all");
    var ticked = document.querySelectorAll("input[name=account][form=bulk-form]:checked").length;
    var text;
    if (all && all.checked) {
      text = "All matching accounts selected";
    } else if (ticked) {
      text = ticked + " selected";
    } else {
      text = "Tick rows to act on them";
    }
    label.textContent = text;
    var bar = document.getElementById("bulk-form");
    if (bar) { bar.classList.toggle("has-selection", Boolean(ticked || (all && all.checked))); }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.id === "select-page") {
      document.querySelectorAll("input[name=account][form=bulk-form]").forEach(function (box) {
        box.checked = target.checked;
      });
    }
    if (target.id === "select-page" || target.id === "bulk-all" || target.matches("input[name=account][form=bulk-form]")) {
      updateCount();
    }
  });

  // Back and forward restore the table from htmx's history; the filter fields follow the
  // URL so the next change composes with what the table shows.
  function syncFilters() {
    var form = document.getElementById("portfolio-filters");
    if (!form) { return; }
    var params = new URLSearchParams(window.location.search);
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name || field.type === "hidden" || field.type === "submit") { return; }
      field.value = params.get(field.name) || "";
    });
  }
  document.addEventListener("htmx:historyRestore", syncFilters);
  window.addEventListener("popstate", function () { window.setTimeout(syncFilters, 0); });
})();
