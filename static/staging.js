// Staging glue: Sortable on the list, one HTMX POST per drop, and no poll swap while dragging.
// The server decides everything: the drop sends the item's new neighbours and the version seen.
(function () {
  var dragging = false;
  var REGION = "#staging-list-region";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // The version the page shows (templates/staging/_version.html): each drop's answer moves it on.
  function seenVersion() {
    var input = document.getElementById("staging-seen-version");
    return input ? input.value : "";
  }

  function start(root) {
    var lists = root.querySelectorAll ? root.querySelectorAll(".staging-list") : [];
    if (root.matches && root.matches(".staging-list")) lists = [root];
    Array.prototype.forEach.call(lists, function (list) {
      if (list.dataset.sortable) return;
      list.dataset.sortable = "on";
      Sortable.create(list, {
        handle: ".staging-handle",
        forceFallback: true, // pointer-event dragging: the same in every browser and under test
        animation: 0,
        onStart: function () { dragging = true; },
        onEnd: function (evt) {
          dragging = false;
          if (evt.oldIndex === evt.newIndex) return;
          var item = evt.item;
          var prev = item.previousElementSibling;
          var next = item.nextElementSibling;
          htmx.ajax("POST", item.dataset.moveUrl, {
            source: item,
            target: REGION,
            swap: "outerHTML",
            headers: { "X-CSRFToken": csrfToken() },
            values: {
              after: prev ? prev.dataset.id : "",
              before: next ? next.dataset.id : "",
              version: seenVersion()
            }
          });
        }
      });
    });
  }

  htmx.onLoad(start);

  // Never replace the list under the operator's pointer: skip polls while a drag is in progress.
  document.addEventListener("htmx:beforeRequest", function (evt) {
    if (dragging && evt.detail.elt && evt.detail.elt.id === "staging-list-region") evt.preventDefault();
  });

  // A refused change (unknown item, neighbour gone) answers 4xx with the current list and the
  // reason: show it instead of leaving the page as the browser rearranged it.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var status = evt.detail.xhr.status;
    if (status >= 400 && status < 500 && evt.detail.target && evt.detail.target.id === "staging-list-region") {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });

  // Keep keyboard focus on the same control after the list is re-rendered.
  var focusKey = null;
  document.addEventListener("htmx:beforeRequest", function () {
    var active = document.activeElement;
    focusKey = active && active.dataset ? active.dataset.focusKey || null : null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!focusKey) return;
    var again = document.querySelector('[data-focus-key="' + CSS.escape(focusKey) + '"]');
    if (again && !again.disabled) again.focus();
  });
})();
