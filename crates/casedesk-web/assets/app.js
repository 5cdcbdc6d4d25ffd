// casedesk: the few live parts of the pages. Every page works without this file.
(function () {
  "use strict";
  // A page restored from the back-forward cache is shown again from the server, so Back
  // after signing out asks to sign in instead of showing the last case.
  window.addEventListener("pageshow", function (e) { if (e.persisted) location.reload(); });
  function human(ms) {
    var s = Math.round(Math.abs(ms) / 1000), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    if (d) return d + " d " + h + " h";
    if (h) return h + " h " + m + " min";
    if (m) return m + " min " + (s % 60) + " s";
    return (s % 60) + " s";
  }
  // SLA countdowns: <time class="due" datetime="…">.
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time.due[datetime]").forEach(function (el) {
      var left = Date.parse(el.getAttribute("datetime")) - now;
      if (isNaN(left)) return;
      el.textContent = left >= 0 ? "in " + human(left) : "overdue by " + human(left);
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 3600000);
    });
  }
  if (document.querySelector("time.due")) { tick(); setInterval(tick, 1000); }

  // Rollout stage: show the identifiers of the chosen stage only.
  var form = document.getElementById("case-form");
  if (form) {
    var stage = form.querySelector("[name=stage]"), purpose = form.querySelector("[name=\"identifiers.client_purpose\"]");
    var showStage = function () {
      form.querySelectorAll("fieldset[data-stage]").forEach(function (fs) {
        // Before a stage is chosen none is shown: each asks for different identifiers.
        var on = fs.getAttribute("data-stage") === stage.value;
        fs.hidden = !on;
        fs.disabled = !on;
      });
      var hint = document.getElementById("stage-first");
      if (hint) hint.hidden = !!stage.value;
      var r = document.getElementById("redirect-uri-field");
      if (r && purpose) r.hidden = purpose.value !== "interactive_web";
    };
    if (stage) { stage.addEventListener("change", showStage); showStage(); }
    if (purpose) purpose.addEventListener("change", showStage);

    // Suggestions while subject and description are typed.
    var box = document.getElementById("suggestions"), timer = null, last = "";
    var ask = function () {
      var p = new URLSearchParams();
      ["subject", "description", "issue_area"].forEach(function (n) {
        var f = form.querySelector("[name=" + n + "]"); if (f) p.set(n, f.value);
      });
      var q = p.toString();
      if (q === last || !box) return;
      last = q;
      fetch("/support/suggest?" + q, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : ""; })
        .then(function (html) { if (last === q) box.innerHTML = html; })
        .catch(function () {});
    };
    ["subject", "description", "issue_area"].forEach(function (n) {
      var f = form.querySelector("[name=" + n + "]");
      if (f) f.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(ask, 250); });
    });
  }

  // The composer: a saved reply or an article link goes in at the cursor, to be edited
  // before sending. Without the script the saved reply comes with the page instead.
  var body = document.getElementById("write-body");
  function insert(text) {
    if (!body) return;
    var at = body.selectionStart || body.value.length, end = body.selectionEnd || at;
    body.value = body.value.slice(0, at) + text + body.value.slice(end);
    body.focus();
    body.selectionStart = body.selectionEnd = at + text.length;
  }
  var saved = document.getElementById("saved");
  if (saved && body) {
    saved.form.addEventListener("submit", function (e) {
      e.preventDefault();
      var o = saved.options[saved.selectedIndex];
      if (o) insert(o.getAttribute("data-text"));
    });
  }
  var pick = document.getElementById("article-pick"), pickButton = document.getElementById("insert-article");
  if (pick && pickButton && body) {
    pickButton.hidden = false;
    pickButton.addEventListener("click", function () {
      var found = Array.prototype.find.call(document.querySelectorAll("#article-list option"), function (o) { return o.value === pick.value; });
      if (!found) { pick.setAttribute("aria-invalid", "true"); return; }
      pick.removeAttribute("aria-invalid");
      insert(found.value + ": " + location.origin + found.getAttribute("data-href"));
      pick.value = "";
    });
  }

  // Size feedback for file inputs: data-max (bytes) and data-max-har.
  document.querySelectorAll("input[type=file][data-max]").forEach(function (input) {
    var out = document.getElementById(input.id + "-sizes");
    input.addEventListener("change", function () {
      if (!out) return;
      out.textContent = "";
      var max = +input.getAttribute("data-max"), maxHar = +input.getAttribute("data-max-har"), bad = false;
      Array.prototype.forEach.call(input.files, function (f) {
        var limit = /\.har$/i.test(f.name) ? maxHar : max, li = document.createElement("li");
        li.textContent = f.name + ": " + (f.size / 1048576).toFixed(2) + " MB" + (f.size > limit ? " (over the " + (limit / 1048576).toFixed(0) + " MB limit)" : "");
        if (f.size > limit) { li.className = "too-big"; bad = true; }
        out.appendChild(li);
      });
      input.setAttribute("aria-invalid", bad ? "true" : "false");
    });
  });
})();
