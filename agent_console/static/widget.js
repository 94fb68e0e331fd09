// crmhub web chat widget. Embed: <script src="https://hub.example/widget.js" async></script>
// Options (data-*): lang (en | zh-CN), customer-id + customer-expires + customer-hash (identity
// hash computed by the website's server), title. Lives in a shadow DOM; customer and agent text
// is only ever set with textContent.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__crmhubChat) return;
  window.__crmhubChat = true;
  var hub = new URL(script.src).origin;
  var data = script.dataset;
  var lang = (data.lang || document.documentElement.lang || "en").toLowerCase();
  var TEXTS = {
    en: { open: "Chat with us", title: "Chat", name: "Your name", email: "Email or phone",
      start: "Start chat", send: "Send", placeholder: "Type a message…", typing: "typing…",
      waiting: "You are number {p} in line, about {m} min.", withAgent: "You are chatting with {n}",
      away: "No one is available right now. Leave a message and we will get back to you.",
      close: "End chat", rate: "How did we do?", thanks: "Thank you!", you: "You", agent: "Agent",
      error: "Could not send: ", transcript: "Email me the transcript",
      sent: "The transcript is on its way.", attach: "Send an image or PDF", file: "File",
      tooBig: "files are at most 4 MB", seen: "Seen" },
    zh: { open: "在线咨询", title: "在线咨询", name: "您的姓名", email: "邮箱或电话",
      start: "开始咨询", send: "发送", placeholder: "请输入消息…", typing: "正在输入…",
      waiting: "您前面还有 {p} 位，预计等待约 {m} 分钟。", withAgent: "客服 {n} 正在为您服务",
      away: "目前没有客服在线。请留言，我们会尽快回复您。", close: "结束对话",
      rate: "请为本次服务评分", thanks: "谢谢！", you: "我", agent: "客服", error: "发送失败：",
      transcript: "把对话记录发到我的邮箱", sent: "对话记录已发送。",
      attach: "发送图片或PDF", file: "文件", tooBig: "文件不能超过4 MB", seen: "已读" }
  };
  var T = TEXTS[lang.indexOf("zh") === 0 ? "zh" : "en"];
  var KEY = "crmhub.chat.token:" + hub;
  var MAX_UPLOAD = 4000000;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  }

  var host = el("div");
  host.id = "crmhub-chat";
  var root = host.attachShadow({ mode: "open" });
  var style = el("style");
  style.textContent = [
    ":host{all:initial}",
    "[hidden]{display:none!important}",
    "*{box-sizing:border-box;font-family:system-ui,sans-serif;font-size:14px}",
    ".launcher{position:fixed;right:16px;bottom:16px;z-index:2147483000;border:0;border-radius:24px;",
    "padding:12px 18px;background:#1d2330;color:#fff;cursor:pointer;box-shadow:0 2px 8px #0004}",
    ".panel{position:fixed;right:16px;bottom:72px;z-index:2147483000;width:340px;max-width:calc(100vw - 32px);",
    "height:480px;max-height:calc(100vh - 96px);background:#fff;color:#1d2330;border-radius:10px;",
    "box-shadow:0 4px 24px #0005;display:flex;flex-direction:column;overflow:hidden}",
    ".panel[hidden]{display:none}",
    ".head{background:#1d2330;color:#fff;padding:10px 12px;display:flex;justify-content:space-between}",
    ".status{padding:6px 12px;color:#555;font-size:12px;min-height:1.2em}",
    ".log{flex:1;overflow-y:auto;padding:8px 12px;list-style:none;margin:0}",
    ".log li{margin:4px 0;padding:6px 8px;border-radius:8px;white-space:pre-wrap;word-wrap:break-word;max-width:85%}",
    ".log li.in{background:#1d2330;color:#fff;margin-left:auto}",
    ".log li.out{background:#eef1f6}",
    "form{display:flex;gap:6px;padding:8px;border-top:1px solid #eee}",
    "form.pre{flex-direction:column}",
    "input,textarea{flex:1;padding:8px;border:1px solid #ccc;border-radius:6px}",
    "button{padding:8px 10px;border:0;border-radius:6px;background:#1d2330;color:#fff;cursor:pointer}",
    ".rating button{background:#eee;color:#1d2330;margin:2px}",
    ".attach{background:#eee;color:#1d2330}",
    ".log li.seen{background:none;color:#888;font-size:12px;text-align:right;padding:0;margin:0}",
    ".rating .transcript{display:block;font-size:13px;margin-top:6px}",
    "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;max-width:100vw;height:100vh;max-height:100vh;border-radius:0}}"
  ].join("");
  root.appendChild(style);

  var launcher = el("button", "launcher", data.title || T.open);
  launcher.type = "button";
  var panel = el("div", "panel");
  panel.hidden = true;
  var head = el("div", "head");
  head.appendChild(el("span", "", data.title || T.title));
  var closeBtn = el("button", "close", T.close);
  closeBtn.type = "button";
  head.appendChild(closeBtn);
  var status = el("div", "status");
  var log = el("ol", "log");
  var pre = el("form", "pre");
  var nameInput = el("input"); nameInput.placeholder = T.name; nameInput.maxLength = 200;
  var emailInput = el("input"); emailInput.placeholder = T.email; emailInput.maxLength = 320;
  var startBtn = el("button", "start", T.start); startBtn.type = "submit";
  pre.appendChild(nameInput); pre.appendChild(emailInput); pre.appendChild(startBtn);
  var form = el("form", "compose");
  var input = el("textarea"); input.rows = 1; input.placeholder = T.placeholder; input.maxLength = 10000;
  var sendBtn = el("button", "send", T.send); sendBtn.type = "submit";
  var file = el("input", "file"); file.type = "file"; file.hidden = true;
  file.accept = "image/png,image/jpeg,image/gif,image/webp,application/pdf";
  var attach = el("button", "attach", T.file); attach.type = "button"; attach.title = T.attach;
  form.appendChild(attach); form.appendChild(file);
  form.appendChild(input); form.appendChild(sendBtn);
  form.hidden = true;
  var rating = el("div", "rating");
  rating.hidden = true;
  panel.appendChild(head); panel.appendChild(status); panel.appendChild(log);
  panel.appendChild(pre); panel.appendChild(form); panel.appendChild(rating);
  root.appendChild(launcher); root.appendChild(panel);
  (document.body || document.documentElement).appendChild(host);

  var socket = null;
  var seen = el("li", "seen", "");
  var agentName = null;
  var typingTimer = null;

  function setStatus(text) { status.textContent = text || ""; }
  function fmt(t, vars) { return t.replace(/\{(\w)\}/g, function (_, k) { return vars[k]; }); }
  function addMessage(m) {
    if (m.id && root.querySelector('[data-id="' + CSS.escape(m.id) + '"]')) return;
    var li = el("li", m.direction === "in" ? "in" : "out", m.body);
    if (m.id) li.setAttribute("data-id", m.id);
    li.title = m.direction === "in" ? T.you : (m.author || T.agent);
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }
  function showWaiting(ack) {
    if (ack && ack.position && !agentName) {
      setStatus(fmt(T.waiting, { p: ack.position, m: Math.max(1, Math.round((ack.estimated_wait_s || 60) / 60)) }));
    }
  }

  function identity() {
    if (!data.customerId) return null;
    return { id: data.customerId, expires: parseInt(data.customerExpires || "0", 10), hash: data.customerHash || "" };
  }

  function connect(profile) {
    var auth = { token: localStorage.getItem(KEY), identity: identity() };
    if (profile) { auth.name = profile.name; auth.email = profile.email; }
    socket = window.io(hub + "/chat", { auth: auth, transports: ["websocket", "polling"] });
    socket.on("session", function (s) { localStorage.setItem(KEY, s.token); });
    socket.on("history", function (h) {
      log.replaceChildren();
      h.messages.forEach(addMessage);
      agentName = h.agent;
      if (agentName) setStatus(fmt(T.withAgent, { n: agentName }));
      else if (!h.available) setStatus(T.away);
      pre.hidden = true; form.hidden = false;
      markRead();
    });
    socket.on("message", function (m) { addMessage(m); markRead(); });
    socket.on("read", function () {
      var mine = root.querySelectorAll(".log li.in");
      seen.textContent = mine.length ? T.seen : "";
      if (mine.length) mine[mine.length - 1].after(seen);
    });
    socket.on("agent", function (a) { agentName = a.name; setStatus(fmt(T.withAgent, { n: a.name })); });
    socket.on("typing", function (t) {
      setStatus(t.typing ? (agentName || T.agent) + " " + T.typing : (agentName ? fmt(T.withAgent, { n: agentName }) : ""));
    });
    socket.on("closed", function (c) { setStatus(c.message); showRating(); });
  }

  function markRead() {
    // Only what the visitor can actually see counts as read.
    if (socket && !panel.hidden && document.visibilityState === "visible") socket.emit("read", {});
  }
  document.addEventListener("visibilitychange", markRead);

  function showRating() {
    rating.replaceChildren(el("span", "", T.rate));
    var copy = el("label", "transcript", "");
    var box = el("input", "", "");
    box.type = "checkbox";
    copy.appendChild(box);
    copy.appendChild(document.createTextNode(" " + T.transcript));
    [1, 2, 3, 4, 5].forEach(function (n) {
      var b = el("button", "", "★" + n);
      b.type = "button";
      b.addEventListener("click", function () {
        socket.emit("close", { rating: n, transcript: box.checked }, function (ack) {
          rating.replaceChildren(el("span", "", T.thanks + (ack && ack.transcript_to ? " " + T.sent : "")));
        });
      });
      rating.appendChild(b);
    });
    rating.appendChild(copy);
    rating.hidden = false;
  }

  function load(src, done) {
    if (window.io) return done();
    var s = document.createElement("script");
    s.src = src; s.async = true; s.onload = done;
    document.head.appendChild(s);
  }

  launcher.addEventListener("click", function () {
    panel.hidden = !panel.hidden;
    if (!panel.hidden && !socket && (localStorage.getItem(KEY) || identity())) {
      load(hub + "/widget/socket.io.min.js", function () { connect(null); });
    }
    markRead();
  });
  pre.addEventListener("submit", function (e) {
    e.preventDefault();
    load(hub + "/widget/socket.io.min.js", function () {
      connect({ name: nameInput.value, email: emailInput.value });
    });
  });
  var pending = { body: null, id: null };
  function messageId() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var body = input.value.trim();
    if (!body || !socket) return;
    // One id per message, kept while it is resent: the hub stores it once even when an
    // earlier attempt was stored but answered with an error or lost its answer.
    if (pending.body !== body) { pending = { body: body, id: messageId() }; }
    socket.emit("message", { body: body, id: pending.id }, function (ack) {
      if (!ack || !ack.ok) { setStatus(T.error + ((ack && ack.message) || "")); return; }
      pending = { body: null, id: null };
      input.value = "";
      addMessage({ id: ack.id, body: body, direction: "in" });
      showWaiting(ack);
    });
  });
  attach.addEventListener("click", function () { file.click(); });
  file.addEventListener("change", function () {
    var f = file.files && file.files[0];
    file.value = "";
    if (!f || !socket) return;
    if (f.size > MAX_UPLOAD) { setStatus(T.error + T.tooBig); return; }
    f.arrayBuffer().then(function (buf) {
      socket.emit("upload", { name: f.name, data: buf }, function (ack) {
        if (!ack || !ack.ok) { setStatus(T.error + ((ack && ack.message) || "")); return; }
        addMessage({ id: ack.id, body: "📎 " + ack.name, direction: "in" });
      });
    });
  });
  input.addEventListener("input", function () {
    if (!socket) return;
    socket.emit("typing", { typing: true });
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { socket.emit("typing", { typing: false }); }, 1500);
  });
  closeBtn.addEventListener("click", function () {
    if (socket) showRating(); else panel.hidden = true;
  });
})();
