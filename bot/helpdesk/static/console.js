/* Kakehashi helpdesk console: fills the queue and ticket pages from the JSON API and keeps them
   up to date by polling. Every user or staff text is put in the page with textContent — never as
   HTML. Writes send the page's CSRF token in the X-CSRF-Token header. */
(function () {
  "use strict";

  var body = document.body;
  var base = body.getAttribute("data-base");
  var pollMs = parseInt(body.getAttribute("data-poll-ms"), 10) || 2000;
  var me = body.getAttribute("data-me");
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var REASONS = { asked_for_person: "Asked for a person", not_understood: "Not understood twice", introduction: "Introduction request" };
  var CHANNELS = { socketio: "web widget", telegram: "Telegram", rest: "REST API" };
  var PROFILE_LABELS = {
    profile_sector: "Sector", profile_home: "Based in", profile_target: "Looking in", profile_kind: "Organisation type",
    introduction_to: "Introduction to", sector: "Sector asked about", place: "Place asked about", country: "Country asked about",
    org_name: "Organisation asked about", focus_org: "Organisation in focus", site_cluster: "Came from the site of"
  };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function when(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
  }

  function ago(iso) {
    var s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    if (s < 60) return "just now";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }

  function profileText(profile) {
    var parts = [];
    Object.keys(profile || {}).forEach(function (k) {
      var v = profile[k];
      if (v === null || v === undefined || v === "") return;
      parts.push((PROFILE_LABELS[k] || k) + ": " + (typeof v === "object" ? JSON.stringify(v) : v));
    });
    return parts.join(" · ");
  }

  function channelName(c) {
    return CHANNELS[c] || c;
  }

  function who(t) {
    return t.display_name || t.conversation_id;
  }

  function status(text, isError) {
    var node = document.getElementById("status");
    if (!node) return;
    node.textContent = text || "";
    node.classList.toggle("error", !!isError);
  }

  function request(method, path, data) {
    var opts = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRF-Token"] = csrf;
      opts.body = JSON.stringify(data || {});
    }
    return fetch(base + path, opts).then(function (resp) {
      if (resp.status === 401) {
        window.location.href = base + "/login";
        throw new Error("Your session ended — please log in again.");
      }
      return resp.json().catch(function () { return {}; }).then(function (json) {
        if (!resp.ok) throw new Error(json.error || "The server answered " + resp.status);
        return json;
      });
    });
  }

  /* ------------------------------------------------------------------ queue */

  function queueRow(t, kind) {
    var tr = el("tr");
    var link = el("a", null, "#" + t.id);
    link.href = base + "/tickets/" + t.id;
    var first = el("td");
    first.appendChild(link);
    tr.appendChild(first);
    var since = kind === "closed" ? t.closed_at : kind === "claimed" ? t.claimed_at : t.created_at;
    var sinceCell = el("td", null, ago(since));
    sinceCell.title = when(since);
    tr.appendChild(sinceCell);
    tr.appendChild(el("td", null, who(t) + " (" + channelName(t.channel) + ")"));
    var why = el("td", null, REASONS[t.reason] || t.reason);
    if (t.status !== "closed" && !t.holding) why.appendChild(el("span", "tag", "assistant answering"));
    tr.appendChild(why);
    tr.appendChild(el("td", "want", profileText(t.profile)));
    tr.appendChild(el("td", "last", t.last_user_text || ""));
    if (kind === "waiting") {
      var cell = el("td");
      var button = el("button", null, "Claim");
      button.type = "button";
      button.addEventListener("click", function () {
        button.disabled = true;
        request("POST", "/api/tickets/" + t.id + "/claim").then(function () {
          window.location.href = base + "/tickets/" + t.id;
        }, function (err) { status(err.message, true); refreshQueue(); });
      });
      cell.appendChild(button);
      tr.appendChild(cell);
    } else if (kind === "claimed") {
      tr.appendChild(el("td", t.claimed_by === me ? "mine" : null, t.claimed_by_name || ""));
    } else {
      tr.appendChild(el("td", null, t.closed_by || ""));
    }
    return tr;
  }

  function fill(id, rows, kind) {
    var tbody = document.querySelector("#" + id + " tbody");
    tbody.replaceChildren.apply(tbody, rows.map(function (t) { return queueRow(t, kind); }));
    var empty = document.getElementById(id + "-empty");
    if (empty) empty.hidden = rows.length > 0;
  }

  var lastWaiting = null;
  function refreshQueue() {
    return request("GET", "/api/queue").then(function (data) {
      var waiting = data.tickets.filter(function (t) { return t.status === "waiting"; });
      var claimed = data.tickets.filter(function (t) { return t.status === "claimed"; });
      var closed = data.tickets.filter(function (t) { return t.status === "closed"; });
      fill("waiting", waiting, "waiting");
      fill("claimed", claimed, "claimed");
      fill("closed", closed, "closed");
      document.getElementById("waiting-count").textContent = "(" + waiting.length + ")";
      document.title = (waiting.length ? "(" + waiting.length + ") " : "") + "Helpdesk queue — Kakehashi";
      if (lastWaiting !== null && waiting.length > lastWaiting) status("New ticket waiting.");
      lastWaiting = waiting.length;
    }, function (err) { status(err.message, true); });
  }

  /* ------------------------------------------------------------------ ticket */

  var ticketId = body.getAttribute("data-ticket");
  var lastId = 0;
  var ticket = null;
  var SENDER_LABEL = { user: "User", assistant: "Assistant", system: "", staff: "Helpdesk" };
  var DELIVERY = { queued: "sending…", delivered: "delivered", failed: "not delivered" };

  function messageItem(m) {
    var li = el("li", "msg " + m.sender);
    li.id = "m-" + m.id;
    var head = el("div", "meta");
    var label = m.sender === "staff" ? "Helpdesk — " + (m.author || "") : m.sender === "user" && m.author ? m.author : SENDER_LABEL[m.sender];
    if (label) head.appendChild(el("span", "who", label));
    head.appendChild(el("time", null, when(m.created_at)));
    if (m.delivery) head.appendChild(el("span", "delivery " + m.delivery, DELIVERY[m.delivery] || m.delivery));
    li.appendChild(head);
    li.appendChild(el("p", "text", m.text));
    return li;
  }

  function renderTicket(t) {
    ticket = t;
    var badge = document.getElementById("t-status");
    badge.textContent = t.status;
    badge.className = "badge " + t.status;
    document.getElementById("t-user").textContent = who(t) + (t.display_name ? " (" + t.conversation_id + ")" : "");
    document.getElementById("t-channel").textContent = channelName(t.channel) + (t.deliverable ? "" : " — replies cannot be delivered on this channel");
    document.getElementById("t-reason").textContent = REASONS[t.reason] || t.reason;
    document.getElementById("t-created").textContent = when(t.created_at);
    document.getElementById("t-claimed").textContent = t.claimed_by_name ? t.claimed_by_name + (t.claimed_by === me ? " (you)" : "") : "nobody yet";
    document.getElementById("t-holding").textContent = t.status === "closed" ? "answering (ticket closed)" : t.holding ? "silent — the user's messages come here" : "answering the user";
    var dl = document.getElementById("t-profile");
    var items = [];
    Object.keys(t.profile || {}).forEach(function (k) {
      var v = t.profile[k];
      if (v === null || v === undefined || v === "") return;
      items.push(el("dt", null, PROFILE_LABELS[k] || k));
      items.push(el("dd", null, typeof v === "object" ? JSON.stringify(v) : v));
    });
    if (!items.length) items.push(el("dd", "empty", "Nothing recorded yet."));
    dl.replaceChildren.apply(dl, items);
    var mine = t.status === "claimed" && t.claimed_by === me;
    document.getElementById("b-claim").hidden = t.status !== "waiting";
    document.getElementById("b-release").hidden = !mine;
    document.getElementById("b-handback").hidden = !(mine && t.holding);
    document.getElementById("b-close").hidden = !(t.status === "waiting" || mine);
    var reply = document.getElementById("reply-form");
    var canReply = mine && t.deliverable;
    Array.prototype.forEach.call(reply.elements, function (e) { e.disabled = !canReply; });
    document.getElementById("reply-hint").textContent = !mine
      ? (t.status === "closed" ? "This ticket is closed." : "Claim the ticket to reply.")
      : t.deliverable ? "The user sees your name: “Helpdesk — " + (t.claimed_by_name || "") + "”." : "This channel cannot receive replies.";
  }

  function refreshTicket() {
    return request("GET", "/api/tickets/" + ticketId + "?after=" + lastId).then(function (data) {
      renderTicket(data.ticket);
      var list = document.getElementById("messages");
      var atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 40;
      data.messages.forEach(function (m) {
        if (document.getElementById("m-" + m.id)) return;
        list.appendChild(messageItem(m));
        lastId = Math.max(lastId, m.id);
      });
      Object.keys(data.deliveries || {}).forEach(function (id) {
        var node = document.querySelector("#m-" + id + " .delivery");
        var state = data.deliveries[id];
        if (node && !node.classList.contains(state)) {
          node.className = "delivery " + state;
          node.textContent = DELIVERY[state] || state;
        }
      });
      if (atBottom) list.scrollTop = list.scrollHeight;
      var notes = document.getElementById("notes");
      notes.replaceChildren.apply(notes, data.notes.map(function (n) {
        var li = el("li", "note");
        var head = el("div", "meta");
        head.appendChild(el("span", "who", n.author || ""));
        head.appendChild(el("time", null, when(n.created_at)));
        li.appendChild(head);
        li.appendChild(el("p", "text", n.text));
        return li;
      }));
    }, function (err) { status(err.message, true); });
  }

  function act(action, data) {
    status("");
    return request("POST", "/api/tickets/" + ticketId + "/" + action, data).then(refreshTicket, function (err) {
      status(err.message, true);
      return refreshTicket();
    });
  }

  function composer(formId, action) {
    var form = document.getElementById(formId);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var area = form.querySelector("textarea");
      var text = area.value;
      if (!text.trim()) return;
      var button = form.querySelector("button");
      button.disabled = true;
      request("POST", "/api/tickets/" + ticketId + "/" + action, { text: text }).then(function () {
        area.value = "";
        return refreshTicket();
      }, function (err) { status(err.message, true); }).then(function () { button.disabled = false; });
    });
    form.querySelector("textarea").addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) form.requestSubmit();
    });
  }

  /* ------------------------------------------------------------------ start */

  function poll(fn) {
    var run = function () { fn().then(function () { setTimeout(run, pollMs); }, function () { setTimeout(run, pollMs * 2); }); };
    run();
  }

  if (body.getAttribute("data-page") === "queue") {
    poll(refreshQueue);
  } else if (body.getAttribute("data-page") === "ticket") {
    Array.prototype.forEach.call(document.querySelectorAll("[data-action]"), function (button) {
      button.addEventListener("click", function () {
        var action = button.getAttribute("data-action");
        button.disabled = true;
        act(action).then(function () { button.disabled = false; });
      });
    });
    composer("reply-form", "reply");
    composer("note-form", "note");
    poll(refreshTicket);
  }
})();
