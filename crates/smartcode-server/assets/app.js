// The one script of smartcode's pages: a copy button for a newly shown code, times shown in the
// browser's own time zone (the page says UTC without it), and the answer to the broker's
// challenge when it asks this browser for a moment of work before trying a code (API.md: SHA-256
// of the salt's bytes followed by the ASCII nonce starts with difficulty_bits zero bits). Pages
// work without it, except a form under challenge, which then says so.
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

function challengeOf(form) {
  try {
    var text = form.getAttribute("data-challenge").replace(/-/g, "+").replace(/_/g, "/");
    while (text.length % 4) { text += "="; }
    return JSON.parse(atob(text));
  } catch (e) {
    return null;
  }
}

function zeroBits(bytes) {
  var bits = 0;
  for (var i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0) { bits += 8; continue; }
    var b = bytes[i];
    while ((b & 0x80) === 0) { bits += 1; b <<= 1; }
    return bits;
  }
  return bits;
}

// Tries nonces in batches of digests run side by side; resolves with the first that meets it.
function solve(challenge) {
  var salt = new Uint8Array(challenge.salt.match(/../g).map(function (h) { return parseInt(h, 16); }));
  var encoder = new TextEncoder();
  var batch = 512;
  function attempt(start) {
    var tries = [];
    for (var n = start; n < start + batch; n++) {
      var digits = encoder.encode(String(n));
      var input = new Uint8Array(salt.length + digits.length);
      input.set(salt);
      input.set(digits, salt.length);
      tries.push(crypto.subtle.digest("SHA-256", input));
    }
    return Promise.all(tries).then(function (digests) {
      for (var i = 0; i < digests.length; i++) {
        if (zeroBits(new Uint8Array(digests[i])) >= challenge.difficulty_bits) { return start + i; }
      }
      return attempt(start + batch);
    });
  }
  return attempt(0);
}

function guardForm(form) {
  var challenge = challengeOf(form);
  var field = form.querySelector("input[name=challenge_response]");
  if (!challenge || !field || !window.crypto || !crypto.subtle) { return; }
  var status = form.querySelector(".challenge");
  var submitted = false;
  var started = performance.now();
  var done = solve(challenge).then(function (nonce) {
    field.value = challenge.id + ":" + nonce;
    form.setAttribute("data-challenge-ms", String(Math.round(performance.now() - started)));
    if (status) { status.textContent = "Your browser has done its work; your code will be tried."; }
  });
  form.addEventListener("submit", function (event) {
    if (field.value || submitted) { return; }
    event.preventDefault();
    submitted = true;
    if (status) { status.textContent = "A moment: your browser is doing the work the broker asked for."; }
    done.then(function () { form.submit(); });
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
  document.querySelectorAll("form[data-challenge]").forEach(guardForm);
});
