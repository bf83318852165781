// The one script of smartcode's pages: a copy button for a newly shown code. Pages work without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var text = button.getAttribute("data-copy");
      if (!navigator.clipboard) {
        button.textContent = "Select the code above and copy it";
        return;
      }
      navigator.clipboard.writeText(text).then(
        function () { button.textContent = "Copied"; },
        function () { button.textContent = "Select the code above and copy it"; }
      );
    });
  });
});
