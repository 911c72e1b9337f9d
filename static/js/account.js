// The account page: the tab list's keyboard pattern (arrows, Home, End move between tabs
// and open the one reached) and focus after htmx swaps (a confirmation message that an
// action returns takes focus, so keyboard and screen-reader users land on what changed).
(function () {
  "use strict";

  function tabsOf(tab) {
    return Array.prototype.slice.call(tab.closest("[role=tablist]").querySelectorAll("[role=tab]"));
  }

  document.addEventListener("keydown", function (event) {
    var tab = event.target.closest && event.target.closest("[role=tab]");
    if (!tab) return;
    var tabs = tabsOf(tab);
    var i = tabs.indexOf(tab);
    var next = null;
    if (event.key === "ArrowRight") next = tabs[(i + 1) % tabs.length];
    else if (event.key === "ArrowLeft") next = tabs[(i - 1 + tabs.length) % tabs.length];
    else if (event.key === "Home") next = tabs[0];
    else if (event.key === "End") next = tabs[tabs.length - 1];
    if (!next) return;
    event.preventDefault();
    next.focus();
    next.click();
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.elt;
    if (!target || !target.querySelector) return;
    var message = target.matches("[data-autofocus]") ? target : target.querySelector("[data-autofocus]");
    if (message) {
      message.focus();
      return;
    }
    // A tab opened by a click or a key: keep focus on the selected tab (the head was
    // swapped out of band, which drops focus to the body).
    if (target.id === "tab-panel") {
      var selected = document.querySelector("#account-head [role=tab][aria-selected=true]");
      if (selected && (document.activeElement === document.body || !document.activeElement)) {
        selected.focus();
      }
    }
  });
})();
