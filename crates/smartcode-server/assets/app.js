// The one script of smartcode's pages: a copy button for a newly shown code, and times shown in
// the browser's own time zone (the page says UTC without it). Pages work without it.
"use strict";

// Each <time datetime> is written in UTC, labelled so; here it becomes the browser's local time,
// with the UTC text kept as its title.
function localTimes() {
  document.querySelectorAll("time[datetime]").forEach(function (element) {
    var at = new Date(element.getAttribute("datetime"));
    if (isNaN(at.getTime())) { return; }
    element.title = element.textContent;
    element.textContent = at.toLocaleString(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"
    });
    element.setAttribute("data-local", "true");
  });
}

document.addEventListener("DOMContentLoaded", function () {
  localTimes();
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
