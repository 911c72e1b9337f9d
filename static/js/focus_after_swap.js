// Keeps keyboard and screen-reader users where they were after an htmx swap.
// When the swap removed the focused element (a row's button, a submitted form), focus
// moves to the first field with an error, else to what the new content marks
// ``autofocus`` (a row's confirmation), else to the same element in the new content
// (matched by id or name), else to the changed content itself (a row, a region).
// Focus that is still on the page (typing in a field that refreshes a preview) stays.
(function () {
  "use strict";
  var before = null;

  function describe(el) {
    if (!el || el === document.body) { return null; }
    return { id: el.id || null, name: el.getAttribute("name"), value: el.getAttribute("value"), tag: el.tagName };
  }

  function sameControl(root, seen) {
    if (!seen) { return null; }
    if (seen.id) {
      var byId = document.getElementById(seen.id);
      if (byId && root.contains(byId)) { return byId; }
    }
    if (seen.name) {
      var candidates = root.querySelectorAll(seen.tag + "[name]");
      for (var i = 0; i < candidates.length; i++) {
        var c = candidates[i];
        if (c.getAttribute("name") === seen.name && c.getAttribute("value") === seen.value) { return c; }
      }
    }
    return null;
  }

  function firstError(root) {
    var field = root.querySelector(".has-error input, .has-error select, .has-error textarea, [aria-invalid='true']");
    if (field) { return field; }
    var message = root.querySelector(".form-error, .field-error, [role='alert']");
    return message;
  }

  function focusOn(el) {
    if (!el) { return; }
    if (!el.matches("a[href], button, input, select, textarea, summary, [tabindex]")) {
      el.setAttribute("tabindex", "-1");
    }
    el.focus({ preventScroll: false });
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var active = document.activeElement;
    before = {
      targetId: target && target.id,
      focused: describe(active)
    };
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var seen = before;
    before = null;
    if (!seen) { return; }
    var root = (seen.targetId && document.getElementById(seen.targetId)) || event.detail.target;
    if (!root || !root.isConnected) { return; }
    var asked = root.querySelector("[autofocus]");  // the new content names its own focus
    if (asked && !firstError(root)) { focusOn(asked); return; }
    var active = document.activeElement;
    var lost = !active || active === document.body || !active.isConnected;
    if (!lost) { return; }
    var error = firstError(root);
    if (error) { focusOn(error); return; }
    var control = sameControl(root, seen.focused);
    if (control) { focusOn(control); return; }
    focusOn(root);
  });
})();
