// Warns before leaving a page whose form marked data-unsaved-warning has unsaved edits.
// Submitting that form (Save, or Save and publish) saves them, so it never warns.
(function () {
  "use strict";
  function watch(form) {
    var dirty = false;
    function markDirty() { dirty = true; form.setAttribute("data-dirty", "true"); }
    form.addEventListener("input", markDirty);
    form.addEventListener("change", markDirty);
    form.addEventListener("submit", function () {
      dirty = false;
      form.removeAttribute("data-dirty");
    });
    window.addEventListener("beforeunload", function (event) {
      if (!dirty) { return; }
      event.preventDefault();
      event.returnValue = "";  // older browsers show the prompt only with a returnValue
    });
  }
  function init() {
    document.querySelectorAll("form[data-unsaved-warning]").forEach(watch);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
