/*! Kakehashi web widget — a chat launcher and panel for the Kakehashi assistant.
 * Embed: <script src="https://ASSISTANT-WEB/widget/kakehashi-widget.js" defer></script>
 * (options as data- attributes; see /embed). Plain ES5, no dependencies beyond the bundled
 * socket.io client. Everything shown is built with createElement/textContent: no text from the
 * user or the assistant is ever parsed as HTML. */
(function (io, DEFAULTS) {
  "use strict";

  if (window.KakehashiWidget) return; // included twice: keep the first
  var script = document.currentScript || (function () {
    var all = document.querySelectorAll("script[src*='kakehashi-widget']");
    return all[all.length - 1];
  })();
  var data = (script && script.dataset) || {};

  var VERSION = "1.0.0";
  var MAX_ENTRIES = 100;
  var MAX_TEXT = 10000;
  var INPUT_MAX = 2000;
  var TYPING_TIMEOUT_MS = 45000;

  var STRINGS = {
    en: {
      open: "Chat with {t}", close: "Close", restart: "New conversation", message: "Message", send: "Send",
      placeholder: "Ask about clusters, partners, programmes…",
      greeting: "Hello! I'm {t}. Ask me about partner clusters, programmes and events across Europe and Japan.",
      typing: "{t} is typing…", you: "You", staff: "Helpdesk", log: "Conversation", results: "Results",
      website: "Website", unread: "new message", connecting: "Connecting…",
      offline: "Connection lost — reconnecting…", unreachable: "Cannot reach the assistant — retrying…",
      newSession: "A new conversation has started.", image: "Image"
    },
    ja: {
      open: "{t}とチャット", close: "閉じる", restart: "新しい会話", message: "メッセージ", send: "送信",
      placeholder: "クラスター、パートナー、支援プログラムについて質問…",
      greeting: "こんにちは、{t}です。欧州と日本のパートナークラスター、支援プログラム、イベントについてお尋ねください。",
      typing: "{t}が入力中…", you: "あなた", staff: "ヘルプデスク", log: "会話", results: "結果",
      website: "ウェブサイト", unread: "新着メッセージ", connecting: "接続中…",
      offline: "接続が切れました — 再接続中…", unreachable: "アシスタントに接続できません — 再試行中…",
      newSession: "新しい会話を開始しました。", image: "画像"
    },
    de: {
      open: "Chat mit {t}",
      close: "Schließen",
      restart: "Neues Gespräch",
      message: "Nachricht",
      send: "Senden",
      placeholder: "Fragen zu Clustern, Partnern, Programmen…",
      greeting: "Hallo! Ich bin {t}. Fragen Sie mich nach Partnerclustern, Programmen und Veranstaltungen in Europa und Japan.",
      typing: "{t} schreibt…",
      you: "Sie",
      staff: "Helpdesk",
      log: "Gespräch",
      results: "Ergebnisse",
      website: "Website",
      unread: "neue Nachricht",
      connecting: "Verbindung wird hergestellt…",
      offline: "Verbindung unterbrochen — neuer Verbindungsversuch…",
      unreachable: "Assistent nicht erreichbar — neuer Versuch…",
      newSession: "Ein neues Gespräch hat begonnen.",
      image: "Bild"
    },
    fr: {
      open: "Discuter avec {t}",
      close: "Fermer",
      restart: "Nouvelle conversation",
      message: "Message",
      send: "Envoyer",
      placeholder: "Posez vos questions sur les clusters, partenaires, programmes…",
      greeting: "Bonjour ! Je suis {t}. Interrogez-moi sur les clusters partenaires, les programmes et les événements en Europe et au Japon.",
      typing: "{t} écrit…",
      you: "Vous",
      staff: "Assistance",
      log: "Conversation",
      results: "Résultats",
      website: "Site web",
      unread: "nouveau message",
      connecting: "Connexion…",
      offline: "Connexion perdue — reconnexion…",
      unreachable: "Impossible de joindre l'assistant — nouvel essai…",
      newSession: "Une nouvelle conversation a commencé.",
      image: "Image"
    }
  };

  // ---- configuration from the <script> tag ------------------------------------------------
  function scriptBase() {
    try { return new URL(".", script.src).href; } catch (e) { return ""; }
  }
  var lang = String(data.language || data.lang || document.documentElement.lang || "en").toLowerCase().slice(0, 2);
  if (!STRINGS[lang]) lang = "en";
  var cfg = {
    title: (data.title || "Kakehashi").slice(0, 60),
    language: lang,
    primary: data.primaryColor || "",
    assistantUrl: data.assistantUrl || DEFAULTS.assistantUrl || "",
    siteCluster: (data.siteCluster || "").slice(0, 200),
    position: data.position === "left" ? "left" : "right",
    base: scriptBase()
  };
  var S = STRINGS[lang];
  function t(key) { return S[key].replace("{t}", cfg.title); }
  cfg.greeting = data.greeting !== undefined ? data.greeting.slice(0, 500) : t("greeting");

  // ---- small DOM helpers --------------------------------------------------------------------
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function attrs(node, map) {
    for (var k in map) if (Object.prototype.hasOwnProperty.call(map, k)) node.setAttribute(k, map[k]);
    return node;
  }
  var SVG = "http://www.w3.org/2000/svg";
  function icon(d) { // a decorative 24×24 stroke icon
    var svg = document.createElementNS(SVG, "svg");
    attrs(svg, { viewBox: "0 0 24 24", width: "24", height: "24", "aria-hidden": "true", focusable: "false" });
    var path = document.createElementNS(SVG, "path");
    attrs(path, { d: d, fill: "none", stroke: "currentColor", "stroke-width": "2", "stroke-linecap": "round",
      "stroke-linejoin": "round" });
    svg.appendChild(path);
    return svg;
  }
  var ICON_CHAT = "M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z";
  var ICON_CLOSE = "M6 6l12 12M18 6L6 18";
  var ICON_RESTART = "M4 4v6h6M4.6 15a8 8 0 1 0 1.9-8.3L4 10";

  // ---- safe links and the Markdown subset ---------------------------------------------------
  /** An absolute http/https/mailto URL, normalised; anything else (javascript:, data:, relative) → null. */
  function safeHref(url) {
    if (typeof url !== "string" || url.length > 2000) return null;
    var u;
    try { u = new URL(url.trim()); } catch (e) { return null; }
    return (u.protocol === "http:" || u.protocol === "https:" || u.protocol === "mailto:") ? u.href : null;
  }
  function link(href, label) {
    var a = el("a", "kh-link", label);
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    return a;
  }

  // **bold**, *italics* or _italics_, [label](url), bare http(s)/mailto URLs. Everything else is text.
  var INLINE = /\*\*(?=\S)([\s\S]*?\S)\*\*|\*(?=[^\s*])([^*\n]*?[^\s*])\*|(^|[^A-Za-z0-9_])_(?=[^\s_])([^_\n]*?[^\s_])_(?![A-Za-z0-9_])|\[([^\[\]\n]{1,300})\]\(\s*([^()\s]{1,2000})\s*\)|((?:https?:\/\/|mailto:)[^\s<>"'`]+)/g;

  function inline(text, parent, depth) {
    var re = new RegExp(INLINE.source, "g");
    var last = 0, m;
    while ((m = re.exec(text)) !== null) {
      var start = m.index;
      if (m[3] !== undefined) start += m[3].length; // the character before _italics_ stays text
      if (start > last) parent.appendChild(document.createTextNode(text.slice(last, start)));
      var end = re.lastIndex;
      if (m[1] !== undefined) {
        nested("strong", m[1], parent, depth);
      } else if (m[2] !== undefined) {
        nested("em", m[2], parent, depth);
      } else if (m[4] !== undefined) {
        nested("em", m[4], parent, depth);
      } else if (m[5] !== undefined) {
        var href = safeHref(m[6]);
        parent.appendChild(href ? link(href, m[5]) : document.createTextNode(m[0]));
      } else {
        var url = trimUrl(m[7]);
        var safe = safeHref(url);
        parent.appendChild(safe ? link(safe, url) : document.createTextNode(url));
        end = start + url.length;
      }
      if (end <= m.index) end = m.index + m[0].length; // always move on
      last = end;
      re.lastIndex = end;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }
  /** A bare URL without the punctuation that ends the sentence around it. */
  function trimUrl(url) {
    for (;;) {
      var last = url.charAt(url.length - 1);
      if (/[.,;:!?\]'"]/.test(last)) url = url.slice(0, -1);
      else if (last === ")" && url.split("(").length < url.split(")").length) url = url.slice(0, -1);
      else return url;
    }
  }
  function nested(tag, text, parent, depth) {
    var node = el(tag);
    if (depth < 3) inline(text, node, depth + 1); else node.textContent = text;
    parent.appendChild(node);
  }

  /** The assistant's text as DOM: paragraphs, line breaks, bulleted and numbered lists, inline marks. */
  function renderMarkdown(text) {
    var frag = document.createDocumentFragment();
    var lines = String(text === undefined || text === null ? "" : text).replace(/\r\n?/g, "\n").split("\n");
    var block = null, kind = null, item = null;
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i];
      var bullet = /^\s{0,3}[-*•]\s+(.*)$/.exec(line);
      var number = /^\s{0,3}(\d{1,4})[.)]\s+(.*)$/.exec(line);
      if (!line.trim()) { block = kind = item = null; continue; }
      if (bullet || number) {
        var want = bullet ? "ul" : "ol";
        if (kind !== want) {
          block = el(want);
          if (number && number[1] !== "1") block.setAttribute("start", String(parseInt(number[1], 10)));
          frag.appendChild(block);
          kind = want;
        }
        item = el("li");
        inline(bullet ? bullet[1] : number[2], item, 0);
        block.appendChild(item);
      } else if (item && /^\s+/.test(line)) { // an indented continuation of a list item
        item.appendChild(el("br"));
        inline(line.trim(), item, 0);
      } else if (kind === "p") {
        block.appendChild(el("br"));
        inline(line, block, 0);
      } else {
        block = el("p");
        kind = "p";
        item = null;
        inline(line, block, 0);
        frag.appendChild(block);
      }
    }
    return frag;
  }

  // ---- message contract -----------------------------------------------------------------------
  function kakehashiOf(m) {
    return (m && m.custom && typeof m.custom === "object" && m.custom.kakehashi) || null;
  }
  function staffOf(m) {
    var k = kakehashiOf(m);
    if (k && k.from === "staff") return k;
    var md = m && m.metadata && m.metadata.kakehashi;
    return md && md.from === "staff" ? md : null;
  }
  function str(v, max) {
    if (v === undefined || v === null || typeof v === "object") return "";
    return String(v).slice(0, max || 300);
  }
  function cardOf(item) {
    if (!item || typeof item !== "object") return null;
    if (item.a && item.b && item.a.name && item.b.name) { // a partnership between two organisations
      return { name: str(item.a.name) + " ↔ " + str(item.b.name),
        place: [str(item.kind), str(item.year)].filter(Boolean).join(", "), sectors: "", detail: "", link: "" };
    }
    if (!item.name) return null;
    var place = [];
    [item.place, item.country].forEach(function (p) { p = str(p); if (p && place.indexOf(p) < 0) place.push(p); });
    var dates = [str(item.start), str(item.end)].filter(Boolean).join(" – ");
    return {
      name: str(item.name),
      place: place.join(", "),
      sectors: Array.isArray(item.sectors) ? item.sectors.slice(0, 6).map(function (s) { return str(s, 80); })
        .filter(Boolean).join(", ") : str(item.sectors),
      detail: str(item.reason || dates || item.operator, 400),
      link: safeHref(item.website || item.url) || ""
    };
  }
  /** A bot_uttered event as a transcript entry (plain data, safe to store). */
  function entryOf(m) {
    if (typeof m === "string") m = { text: m };
    if (!m || typeof m !== "object") return null;
    var staff = staffOf(m), k = kakehashiOf(m);
    var e = { id: str(m.id, 64) || uid(), who: staff ? "staff" : "bot",
      text: str(m.text || (staff && staff.text) || "", MAX_TEXT) };
    if (staff) e.name = str(staff.name, 80);
    var buttons = m.quick_replies || m.buttons;
    if (Array.isArray(buttons)) {
      e.buttons = buttons.slice(0, 12).filter(function (b) { return b && b.title; })
        .map(function (b) { return { title: str(b.title, 80), payload: str(b.payload, 2000) }; });
    }
    if (k && Array.isArray(k.items)) {
      e.cards = k.items.slice(0, 10).map(cardOf).filter(Boolean);
    }
    var att = m.attachment;
    if (att && att.payload && safeHref(att.payload.src)) e.link = safeHref(att.payload.src);
    if (!e.text && !(e.cards && e.cards.length) && !(e.buttons && e.buttons.length) && !e.link) return null;
    return e;
  }
  function uid() { return "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8); }

  // ---- storage: the transcript survives reloads; shared by the tabs of the site -------------------
  var KEY = "kakehashi:" + cfg.assistantUrl;
  var WHO = ["user", "bot", "staff", "system"];
  var memory = null; // when localStorage is unavailable (privacy modes)
  function load() {
    var raw = null;
    try { raw = window.localStorage.getItem(KEY); } catch (e) { raw = memory; }
    var s = null;
    try { s = JSON.parse(raw || "null"); } catch (e) { s = null; }
    if (!s || typeof s !== "object" || !Array.isArray(s.entries)) s = { session: null, entries: [], open: false };
    if (typeof s.session !== "string") s.session = null;
    // Messages typed while disconnected: kept until a connection takes them (reloads included).
    s.pending = Array.isArray(s.pending) ? s.pending.filter(function (p) { return typeof p === "string"; }) : [];
    s.entries = s.entries.filter(function (e) {
      return e && typeof e.id === "string" && WHO.indexOf(e.who) >= 0 && typeof e.text === "string";
    });
    return s;
  }
  function save(s) {
    s.entries = s.entries.slice(-MAX_ENTRIES);
    var raw = JSON.stringify(s);
    memory = raw;
    try { window.localStorage.setItem(KEY, raw); } catch (e) {
      try { s.entries = s.entries.slice(-20); window.localStorage.setItem(KEY, JSON.stringify(s)); } catch (e2) { /* keep in memory */ }
    }
  }
  function update(fn) { var s = load(); fn(s); save(s); return s; }

  // ---- the widget ---------------------------------------------------------------------------------
  var host, root, launcher, badge, panel, log, statusLine, typingLine, form, input, sendButton;
  var socket = null, ready = false, typingTimer = null, rendered = [];

  function build() {
    host = el("div");
    host.id = "kakehashi-widget";
    root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    var sheet = attrs(el("link"), { rel: "stylesheet", href: cfg.base + "kakehashi-widget.css" });
    var frame = el("div", "kh-root kh-" + cfg.position);
    frame.setAttribute("lang", cfg.language);
    frame.hidden = true; // until the stylesheet is in
    sheet.onload = sheet.onerror = function () { frame.hidden = false; };
    applyColour(frame);

    launcher = attrs(el("button", "kh-launcher"), { type: "button", "aria-expanded": "false",
      "aria-controls": "kh-panel", "aria-label": t("open") });
    launcher.appendChild(icon(ICON_CHAT));
    badge = attrs(el("span", "kh-badge"), { "aria-hidden": "true" });
    badge.hidden = true;
    launcher.appendChild(badge);

    panel = attrs(el("section", "kh-panel"), { id: "kh-panel", role: "dialog", "aria-modal": "false",
      "aria-labelledby": "kh-title" });
    panel.hidden = true;
    var header = el("div", "kh-header");
    header.appendChild(attrs(el("h2", "kh-title", cfg.title), { id: "kh-title" }));
    var restart = attrs(el("button", "kh-icon"), { type: "button", "aria-label": t("restart"), title: t("restart") });
    restart.appendChild(icon(ICON_RESTART));
    var close = attrs(el("button", "kh-icon"), { type: "button", "aria-label": t("close"), title: t("close") });
    close.appendChild(icon(ICON_CLOSE));
    header.appendChild(restart);
    header.appendChild(close);

    statusLine = attrs(el("p", "kh-status"), { role: "status" });
    log = attrs(el("div", "kh-log"), { role: "log", "aria-label": t("log"), tabindex: "0" });
    typingLine = attrs(el("div", "kh-typing"), { role: "status" });
    typingLine.hidden = true;

    form = el("form", "kh-form");
    form.setAttribute("novalidate", "");
    var label = attrs(el("label", "kh-sr", t("message")), { "for": "kh-input" });
    input = attrs(el("input", "kh-input"), { id: "kh-input", type: "text", autocomplete: "off",
      maxlength: String(INPUT_MAX), placeholder: t("placeholder"), enterkeyhint: "send" });
    sendButton = attrs(el("button", "kh-send", t("send")), { type: "submit" });
    form.appendChild(label);
    form.appendChild(input);
    form.appendChild(sendButton);

    panel.appendChild(header);
    panel.appendChild(statusLine);
    panel.appendChild(log);
    panel.appendChild(typingLine);
    panel.appendChild(form);
    frame.appendChild(panel);
    frame.appendChild(launcher);
    root.appendChild(sheet);
    root.appendChild(frame);
    document.body.appendChild(host);

    launcher.addEventListener("click", function () { setOpen(panel.hidden, true); });
    close.addEventListener("click", function () { setOpen(false, true); });
    restart.addEventListener("click", newConversation);
    panel.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" || ev.key === "Esc") { ev.preventDefault(); setOpen(false, true); }
      else if (ev.key === "Tab" && fullScreen()) keepFocusIn(ev);
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = input.value;
      if (!text.trim()) return;
      input.value = "";
      send(text, null);
    });
    window.addEventListener("storage", function (ev) { // another tab of this site changed the conversation
      if (ev.key === KEY) renderAll();
    });
  }

  function applyColour(frame) {
    var c = cfg.primary;
    if (!c || !(window.CSS && CSS.supports && CSS.supports("color", c))) return;
    var probe = el("span");
    probe.style.color = c;
    document.body.appendChild(probe);
    var computed = getComputedStyle(probe).color;
    document.body.removeChild(probe);
    frame.style.setProperty("--kh-primary", c);
    if (!/^rgba?\(/.test(computed)) return; // another colour space: keep white text
    var rgb = computed.match(/[\d.]+/g).map(Number);
    var lum = rgb.slice(0, 3).map(function (v) {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    var L = 0.2126 * lum[0] + 0.7152 * lum[1] + 0.0722 * lum[2];
    // White text when it reaches 4.5:1 on the colour, else near-black (WCAG AA either way for most colours).
    frame.style.setProperty("--kh-on-primary", (1.05 / (L + 0.05)) >= 4.5 ? "#ffffff" : "#111111");
  }

  /** On a phone the panel covers the page: Tab then cycles within it, as in a modal dialog. */
  function fullScreen() { return !!(window.matchMedia && window.matchMedia("(max-width: 480px)").matches); }
  function keepFocusIn(ev) {
    var all = panel.querySelectorAll("button, input, a[href], [tabindex='0']"), list = [];
    for (var i = 0; i < all.length; i++) if (all[i].offsetParent !== null) list.push(all[i]);
    if (!list.length) return;
    var active = root.activeElement || document.activeElement;
    if (ev.shiftKey && active === list[0]) { ev.preventDefault(); list[list.length - 1].focus(); }
    else if (!ev.shiftKey && active === list[list.length - 1]) { ev.preventDefault(); list[0].focus(); }
  }

  function setOpen(open, byUser) {
    panel.setAttribute("aria-modal", open && fullScreen() ? "true" : "false");
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    host.setAttribute("data-open", open ? "true" : "false");
    // Nothing is stored on the visitor's device until they open the chat themselves.
    if (byUser) update(function (s) { s.open = open; });
    if (open) {
      greet();
      badge.hidden = true;
      launcher.setAttribute("aria-label", t("open"));
      connect();
      scrollDown();
      if (byUser) input.focus();
    } else if (byUser) {
      launcher.focus();
    }
  }

  function status(text) {
    statusLine.textContent = text || "";
    statusLine.hidden = !text;
  }
  function typing(on) {
    clearTimeout(typingTimer);
    typingLine.textContent = "";
    typingLine.hidden = !on;
    if (!on) return;
    var dots = attrs(el("span", "kh-dots"), { "aria-hidden": "true" });
    dots.appendChild(el("span"));
    dots.appendChild(el("span"));
    dots.appendChild(el("span"));
    typingLine.appendChild(dots);
    typingLine.appendChild(el("span", "kh-sr", t("typing")));
    typingTimer = setTimeout(function () { typing(false); }, TYPING_TIMEOUT_MS);
  }
  function scrollDown() { log.scrollTop = log.scrollHeight; }

  // ---- rendering -----------------------------------------------------------------------------
  function renderEntry(e, withButtons) {
    var wrap = el("div", "kh-msg kh-" + e.who);
    wrap.setAttribute("data-id", e.id);
    if (e.who === "staff") {
      wrap.appendChild(el("p", "kh-from", t("staff") + (e.name ? " — " + e.name : "")));
    } else if (e.who !== "system") {
      wrap.appendChild(el("span", "kh-sr", (e.who === "user" ? t("you") : cfg.title) + ": "));
    }
    if (e.text) {
      var body = el("div", "kh-text");
      if (e.who === "user" || e.who === "system") body.textContent = e.text; // the user's words, verbatim
      else body.appendChild(renderMarkdown(e.text));
      wrap.appendChild(body);
    }
    if (e.cards && e.cards.length) {
      var list = attrs(el("ul", "kh-cards"), { "aria-label": t("results") });
      e.cards.forEach(function (c) {
        var li = el("li", "kh-card");
        li.appendChild(el("p", "kh-card-name", c.name));
        if (c.place) li.appendChild(el("p", "kh-card-place", c.place));
        if (c.sectors) li.appendChild(el("p", "kh-card-sectors", c.sectors));
        if (c.detail) li.appendChild(el("p", "kh-card-detail", c.detail));
        if (c.link) {
          var a = link(c.link, t("website"));
          a.setAttribute("aria-label", t("website") + " — " + c.name);
          li.appendChild(a);
        }
        list.appendChild(li);
      });
      wrap.appendChild(list);
    }
    if (e.link) wrap.appendChild(link(e.link, t("image")));
    if (withButtons && e.buttons && e.buttons.length) {
      var row = el("div", "kh-buttons");
      e.buttons.forEach(function (b) {
        var btn = attrs(el("button", "kh-reply", b.title), { type: "button" });
        btn.addEventListener("click", function () { send(b.payload || b.title, b.title); });
        row.appendChild(btn);
      });
      wrap.appendChild(row);
    }
    return wrap;
  }
  /** Buttons are offered only on the assistant's messages since the user last spoke. */
  function activeFrom(entries) {
    for (var i = entries.length - 1; i >= 0; i--) if (entries[i].who === "user") return i + 1;
    return 0;
  }
  function renderAll() {
    var s = load();
    log.textContent = "";
    var from = activeFrom(s.entries);
    s.entries.forEach(function (e, i) { log.appendChild(renderEntry(e, i >= from)); });
    rendered = s.entries.map(function (e) { return e.id; });
    scrollDown();
  }
  function addEntry(e) {
    var s = update(function (st) {
      if (st.entries.some(function (x) { return x.id === e.id; })) return;
      st.entries.push(e);
    });
    if (rendered.indexOf(e.id) >= 0) return;
    // Another tab may have written in between: redraw then, else append.
    var ids = s.entries.map(function (x) { return x.id; });
    if (ids.length !== rendered.length + 1 || ids[ids.length - 1] !== e.id) { renderAll(); return; }
    if (e.who === "user") {
      var rows = log.querySelectorAll(".kh-buttons");
      for (var i = 0; i < rows.length; i++) rows[i].parentNode.removeChild(rows[i]);
    }
    log.appendChild(renderEntry(e, e.who !== "user"));
    rendered.push(e.id);
    while (log.childNodes.length > MAX_ENTRIES) { log.removeChild(log.firstChild); rendered.shift(); }
    scrollDown();
  }

  // ---- talking to the assistant ---------------------------------------------------------------
  function metadata() {
    var m = { language: cfg.language, page: location.origin + location.pathname };
    if (cfg.siteCluster) m.site_cluster = cfg.siteCluster;
    return m;
  }
  function send(text, shown) {
    text = String(text).slice(0, MAX_TEXT);
    addEntry({ id: uid(), who: "user", text: shown || text });
    update(function (s) { s.pending.push(text); });
    typing(true);
    connect();
    flush();
  }
  function flush() {
    if (!ready || !socket || !load().pending.length) return;
    var out = [];
    // Taken out of storage before sending, so that no other tab of the site sends them too.
    var s = update(function (st) { out = st.pending; st.pending = []; });
    out.forEach(function (text) {
      socket.emit("user_uttered", { message: text, session_id: s.session, metadata: metadata() });
    });
  }
  function receive(m) {
    var e = entryOf(m);
    typing(false);
    if (!e) return;
    addEntry(e);
    if (panel.hidden) {
      badge.hidden = false;
      launcher.setAttribute("aria-label", t("open") + " (" + t("unread") + ")");
    }
  }
  function newConversation() {
    update(function (s) { s.session = null; s.entries = []; s.pending = []; });
    renderAll();
    greet();
    if (socket && socket.connected) { ready = false; socket.emit("session_request", { session_id: null }); }
    input.focus();
  }
  function greet() {
    if (cfg.greeting && !load().entries.length) addEntry({ id: uid(), who: "bot", text: cfg.greeting });
  }

  function endpoint() {
    var u;
    try { u = new URL(cfg.assistantUrl || cfg.base, location.href); } catch (e) { return null; }
    return { origin: u.origin, path: u.pathname.replace(/\/+$/, "") + "/socket.io" };
  }
  function connect() {
    if (socket || !io) return;
    var ep = endpoint();
    if (!ep) { status(t("unreachable")); return; }
    status(t("connecting"));
    // Long-polling first, then upgrade to a websocket; polling stays the fallback.
    socket = io(ep.origin, { path: ep.path, transports: ["polling", "websocket"], withCredentials: false,
      reconnectionDelayMax: 10000, timeout: 20000 });
    socket.on("connect", function () {
      ready = false;
      socket.emit("session_request", { session_id: load().session });
    });
    socket.on("session_confirm", function (id) {
      if (typeof id !== "string" || !id) return;
      var had = load().session;
      if (id !== had) {
        update(function (s) { s.session = id; });
        if (had) addEntry({ id: uid(), who: "system", text: t("newSession") });
      }
      ready = true;
      status("");
      flush();
    });
    socket.on("bot_uttered", receive);
    socket.on("kakehashi_status", function () { typing(false); }); // the helpdesk has the message
    socket.on("kakehashi_error", function () { // e.g. the session became invalid: get a new one
      ready = false;
      socket.emit("session_request", { session_id: load().session });
    });
    socket.on("disconnect", function (reason) {
      ready = false;
      status(t("offline"));
      if (reason === "io server disconnect") socket.connect(); // the server hung up: reconnect anyway
    });
    socket.on("connect_error", function () { ready = false; status(t("unreachable")); });
  }

  function start() {
    build();
    var s = load();
    renderAll();
    setOpen(!!s.open, false);
    if (s.session && !socket) connect(); // staff replies may arrive while the panel is closed
  }

  window.KakehashiWidget = {
    version: VERSION,
    open: function () { setOpen(true, true); },
    close: function () { setOpen(false, true); },
    transport: function () {
      return socket && socket.io && socket.io.engine && socket.io.engine.transport ? socket.io.engine.transport.name : null;
    },
    connected: function () { return !!(socket && socket.connected && ready); },
    renderMarkdown: renderMarkdown
  };

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})(typeof KAKEHASHI_IO !== "undefined" ? KAKEHASHI_IO : window.io,
   typeof KAKEHASHI_DEFAULTS !== "undefined" ? KAKEHASHI_DEFAULTS : {});
