// Minimal demo chat over the REST channel. Everything is rendered as text (no innerHTML).
(function () {
  "use strict";
  var base = (window.KAKEHASHI_RASA_URL || "http://localhost:5005").replace(/\/$/, "");
  var key = "kakehashi-demo-sender";
  var sender = localStorage.getItem(key);
  if (!sender) { sender = "web-" + Math.random().toString(36).slice(2) + Date.now().toString(36); localStorage.setItem(key, sender); }
  var log = document.getElementById("log");
  var form = document.getElementById("form");
  var input = document.getElementById("message");

  function addText(text, who) {
    var div = document.createElement("div");
    div.className = "msg " + who;
    // **bold** is the only markup the assistant uses; render it with elements, never as HTML.
    String(text).split(/(\*\*[^*]+\*\*)/).forEach(function (part) {
      if (/^\*\*[^*]+\*\*$/.test(part)) { var b = document.createElement("strong"); b.textContent = part.slice(2, -2); div.appendChild(b); }
      else { div.appendChild(document.createTextNode(part)); }
    });
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
  }

  function addButtons(buttons) {
    var row = document.createElement("div");
    row.className = "buttons";
    buttons.forEach(function (b) {
      var btn = document.createElement("button");
      btn.type = "button";
      btn.textContent = b.title;
      btn.addEventListener("click", function () { send(b.payload, b.title); });
      row.appendChild(btn);
    });
    log.appendChild(row);
  }

  function send(message, shown) {
    addText(shown || message, "user");
    fetch(base + "/webhooks/rest/webhook", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sender: sender, message: message })
    }).then(function (r) { return r.json(); }).then(function (msgs) {
      msgs.forEach(function (m) {
        if (m.text) addText(m.text, "bot");
        if (m.buttons && m.buttons.length) addButtons(m.buttons);
      });
    }).catch(function () { addText("The assistant cannot be reached right now. Please try again in a moment.", "bot"); });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });
})();
