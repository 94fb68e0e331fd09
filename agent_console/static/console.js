// crmhub agent console. Customer text is untrusted: it only ever reaches the page via textContent.
"use strict";
(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  const TEXTS = {
    en: {},  // English is the markup's own text
    "zh-CN": {
      offline: "离线", status: "状态", available: "空闲", away: "离开", offline_btn: "下线",
      logout: "退出", login: "登录", username: "用户名", password: "密码", work: "工作台",
      customers: "客户", shortcuts: "Alt+A 接受 · Alt+R 回复 · Ctrl+Enter 发送 · Alt+W 结束 · Alt+1…9 切换",
      offers: "新分配", no_offers: "暂无新分配。", my_work: "我的会话", nothing_assigned: "暂无会话。",
      search_placeholder: "姓名、任意格式的电话、邮箱", search: "搜索", previous: "历史记录",
      accept: "接受", reject: "拒绝", call_ended: "通话已结束：请选择处理结果。", hang_up: "挂断", call_now: "立即呼叫",
      subject: "主题", reply_placeholder: "回复客户（输入 / 使用快捷回复）", send: "发送",
      transfer: "转接", to_queue: "转到队列…", to_agent: "或转给坐席…", transfer_note: "给下一位坐席的备注",
      choose_disposition: "处理结果…", note_optional: "备注（可选）", wrap_up: "结束",
      identities: "电话和邮箱", tags: "标签", add_tag: "添加标签", add: "添加", preferences: "偏好",
      pref_key: "偏好项", pref_value: "值", save: "保存", notes: "备注", add_note: "添加备注",
      add_note_btn: "添加备注", orders: "订单", timeline: "时间线", reason_break: "休息",
      reason_lunch: "午餐", reason_training: "培训", reason_meeting: "会议",
      connected: "已连接", reconnecting: "重新连接中", priority: "优先级", lifetime_value: "客户价值",
      churn: "流失风险", no_answer: "集线器无响应", login_failed: "登录失败", no_results: "没有找到客户。",
      not_allowed: "无权查看此会话。", too_large: "文件过大，未保存", call: "呼叫", remove: "删除", new_offer: "新的分配",
      ends_in: "剩余", ringing_phone: "来电正在您的电话上响铃：", sec: "秒", queued: "排队中", sent: "已发送", delivered: "已送达", failed: "失败",
      received: "已收到", internal: "内部备注", empty_customer: "（未知客户）"
    }
  };
  const EN = { connected: "connected", reconnecting: "reconnecting", offline: "offline",
    priority: "Priority", lifetime_value: "Lifetime value", churn: "Churn risk",
    no_answer: "no answer from the hub", login_failed: "Login failed", no_results: "No customer found.",
    not_allowed: "You may not open this conversation.", too_large: "too large: not kept", call: "Call", remove: "Remove",
    new_offer: "New offer", ends_in: "", sec: "s", queued: "queued", sent: "sent",
    delivered: "delivered", failed: "failed", received: "received", internal: "internal note",
    empty_customer: "(unknown customer)", no_offers: "No offers right now.",
    nothing_assigned: "Nothing assigned.", ringing_phone: "Ringing on your phone:", available: "available", away: "away" };

  const state = {
    token: sessionStorage.getItem("crmhub.token"), socket: null, agent: null,
    offers: new Map(), ringing: new Map(), work: new Map(), panels: new Map(), profiles: new Map(),
    active: null, unread: new Set(), config: { dispositions: [], canned_responses: [] },
    queues: [], colleagues: [], lang: chooseLanguage(), watched: null,
  };

  function chooseLanguage() {
    const saved = localStorage.getItem("crmhub.lang");
    if (saved === "en" || saved === "zh-CN") return saved;
    return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
  }
  function t(key) {
    const zh = TEXTS["zh-CN"];
    if (state.lang === "zh-CN" && zh[key]) return zh[key];
    return EN[key] != null ? EN[key] : key;
  }
  function translate(root) {
    for (const el of $$("[data-i18n]", root)) {
      if (!el.dataset.en) el.dataset.en = el.textContent;
      el.textContent = state.lang === "zh-CN" && TEXTS["zh-CN"][el.dataset.i18n]
        ? TEXTS["zh-CN"][el.dataset.i18n] : el.dataset.en;
    }
    for (const el of $$("[data-i18n-placeholder]", root)) {
      if (!el.dataset.enPlaceholder) el.dataset.enPlaceholder = el.placeholder;
      const zh = TEXTS["zh-CN"][el.dataset.i18nPlaceholder];
      el.placeholder = state.lang === "zh-CN" && zh ? zh : el.dataset.enPlaceholder;
    }
  }
  function setLanguage(lang) {
    state.lang = lang;
    localStorage.setItem("crmhub.lang", lang);
    document.documentElement.lang = lang;
    text($("#lang"), lang === "zh-CN" ? "English" : "中文");
    translate(document);
    if (state.socket) text($("#connection"), t(state.socket.connected ? "connected" : "reconnecting"));
    showAgent();
    renderAll();
  }

  function text(el, value) { el.textContent = value == null ? "" : String(value); return el; }
  function el(tag, cls, value) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (value != null) text(node, value);
    return node;
  }
  function notice(msg) { text($("#notice"), msg || ""); }
  function clone(id) {
    const node = $(id).content.firstElementChild.cloneNode(true);
    translate(node);
    return node;
  }

  // ---- REST and Socket.IO ------------------------------------------------------------------
  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + state.token };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, { method, headers,
      body: body === undefined ? undefined : JSON.stringify(body) });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) { data.status = res.status; throw data; }
    return data;
  }

  function send(event, payload) {
    return new Promise((resolve) => {
      state.socket.timeout(10000).emit(event, payload, (err, ack) => {
        const result = err ? { ok: false, message: t("no_answer") } : ack;
        notice(result.ok ? "" : result.message || result.error);
        resolve(result);
      });
    });
  }

  async function login(event) {
    event.preventDefault();
    text($("#login-error"), "");
    unlockSound();
    if (window.Notification && Notification.permission === "default") {
      Notification.requestPermission().catch(() => {});
    }
    const body = JSON.stringify({ username: $("#username").value, password: $("#password").value });
    const res = await fetch("/api/auth/login", { method: "POST", body,
      headers: { "Content-Type": "application/json" } });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) { text($("#login-error"), data.message || t("login_failed")); return; }
    state.token = data.token;
    sessionStorage.setItem("crmhub.token", data.token);
    connect();
  }

  function connect() {
    if (state.socket) state.socket.disconnect();
    const socket = io("/agent", { auth: { token: state.token }, transports: ["websocket", "polling"] });
    state.socket = socket;
    socket.on("connect", () => {
      text($("#connection"), t("connected"));
      showWork();
      if (state.watched) socket.emit("watch_customer", { customer_id: state.watched }, () => {});
    });
    socket.on("disconnect", () => text($("#connection"), t("reconnecting")));
    socket.on("connect_error", (err) => {
      text($("#connection"), t("offline"));
      if (err && err.data && err.data.error === "unauthorized") logout();
    });
    socket.on("state", applySnapshot);
    socket.on("status", (agent) => { state.agent = agent; showAgent(); });
    socket.on("offer", (item) => { state.offers.set(item.interaction.id, item); offerArrived(item); renderOffers(); });
    socket.on("call.ringing", (item) => { state.ringing.set(item.interaction.id, item); offerArrived(item); renderOffers(); });
    socket.on("call.ringing.ended", (ev) => { state.ringing.delete(ev.interaction_id); renderOffers(); });
    socket.on("offer.revoked", (ev) => { state.offers.delete(ev.interaction_id); renderOffers(); });
    socket.on("interaction.assigned", (item) => {
      state.offers.delete(item.interaction.id);
      state.ringing.delete(item.interaction.id);
      state.work.set(item.interaction.id, item);
      state.active = item.interaction.id;
      renderOffers(); renderWork();
    });
    socket.on("interaction.updated", (it) => {
      if (state.ringing.delete(it.id)) renderOffers();
      const item = state.work.get(it.id);
      if (!item) return;
      const mine = !state.agent || !it.assigned_agent_id || it.assigned_agent_id === state.agent.id;
      if ((it.state !== "assigned" && !it.needs_wrapup) || !mine) state.work.delete(it.id);
      else item.interaction = it;
      renderWork();
    });
    socket.on("message.created", addMessage);
    socket.on("message.status", addMessage);
    socket.on("customer.updated", (card) => {
      for (const item of [...state.offers.values(), ...state.work.values()]) {
        if (item.customer.id === card.id) item.customer = card;
      }
      renderOffers();
      renderWork();
      refreshProfile(card.id);
    });
    socket.on("customer.changed", (ev) => refreshProfile(ev.id));
  }

  function applySnapshot(snap) {
    state.offers = new Map(snap.offers.map((o) => [o.interaction.id, o]));
    state.work = new Map(snap.interactions.map((w) => [w.interaction.id, w]));
    state.ringing = new Map((snap.ringing || []).map((w) => [w.interaction.id, w]));
    if (snap.config) state.config = snap.config;
    state.agent = snap.agent;
    if (!state.work.has(state.active)) state.active = null;
    // Panels are rebuilt from the snapshot: nothing stale survives a reconnect.
    for (const panel of state.panels.values()) panel.remove();
    state.panels.clear();
    state.profiles.clear();
    showAgent();
    renderAll();
    loadDirectory();
  }

  async function loadDirectory() {
    try {
      state.queues = (await api("GET", "/api/queues")).queues || [];
      state.colleagues = ((await api("GET", "/api/agents")).agents || [])
        .filter((a) => !state.agent || a.id !== state.agent.id);
    } catch (e) { state.queues = state.queues || []; }
    for (const [id, panel] of state.panels) fillTransfer(panel, state.work.get(id));
  }

  function addMessage(m) {
    const item = state.work.get(m.interaction_id) || state.offers.get(m.interaction_id);
    if (!item) return;
    const i = item.messages.findIndex((x) => x.id === m.id);
    if (i >= 0) item.messages[i] = m; else item.messages.push(m);
    if (state.work.has(m.interaction_id)) {
      if (m.interaction_id !== state.active && m.direction === "in") state.unread.add(m.interaction_id);
      const panel = state.panels.get(m.interaction_id);
      if (panel) renderMessages(panel, item);
      renderTabs();
    } else {
      renderOffers();
    }
  }

  function showAgent() {
    const agent = state.agent;
    if (!agent) return;
    text($("#who"), agent.display_name);
    text($("#status-text"), t(agent.status) + (agent.status_reason ? " (" + agent.status_reason + ")" : ""));
    renderLoad();
  }

  function showWork() {
    $("#login-view").hidden = true;
    $("#work-view").hidden = false;
    $("#status-buttons").hidden = false;
  }

  function logout() {
    if (state.token) {
      fetch("/api/auth/logout", { method: "POST", headers: { Authorization: "Bearer " + state.token } });
    }
    sessionStorage.removeItem("crmhub.token");
    state.token = null;
    if (state.socket) state.socket.disconnect();
    stopRinging();
    $("#login-view").hidden = false;
    $("#work-view").hidden = true;
    $("#status-buttons").hidden = true;
    $("#load").hidden = true;
  }

  // ---- Load per channel ---------------------------------------------------------------------
  function renderLoad() {
    if (!state.agent) return;
    const capacity = (state.agent && state.agent.capacity) || {};
    const used = {};
    for (const item of [...state.offers.values(), ...state.work.values()]) {
      const ch = item.interaction.channel;
      used[ch] = (used[ch] || 0) + 1;
    }
    const box = $("#load");
    box.replaceChildren();
    for (const ch of Object.keys(capacity)) {
      const b = el("span", "badge load-" + ch, ch + " " + (used[ch] || 0) + "/" + capacity[ch]);
      if ((used[ch] || 0) >= capacity[ch]) b.classList.add("full");
      box.appendChild(b);
    }
    box.hidden = false;
  }

  // ---- Offers: card, countdown, ringing, desktop notification -------------------------------
  let audio = null;
  let ringTimer = null;
  function unlockSound() {
    try { audio = audio || new (window.AudioContext || window.webkitAudioContext)(); } catch (e) { audio = null; }
  }
  function beep() {
    if (!audio) return;
    const now = audio.currentTime;
    for (const [start, freq] of [[0, 440], [0.25, 480]]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.08, now + start);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + start + 0.2);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + start);
      osc.stop(now + start + 0.22);
    }
  }
  function startRinging() {
    if (ringTimer) return;
    beep();
    ringTimer = setInterval(() => (state.offers.size || state.ringing.size ? beep() : stopRinging()), 2000);
    document.body.classList.add("ringing");
  }
  function stopRinging() {
    clearInterval(ringTimer); ringTimer = null;
    document.body.classList.remove("ringing");
  }
  function offerArrived(item) {
    startRinging();
    if (window.Notification && Notification.permission === "granted" && document.hidden) {
      const n = new Notification(t("new_offer") + ": " + (item.customer.name || item.interaction.customer_address),
        { body: item.interaction.channel + " · " + item.customer.tier, tag: item.interaction.id });
      n.onclick = () => { window.focus(); n.close(); };
    }
  }
  function tickCountdowns() {
    for (const node of $$(".countdown[data-expires]")) {
      const left = Math.max(0, Math.round((Date.parse(node.dataset.expires) - Date.now()) / 1000));
      text(node, left + t("sec"));
      node.classList.toggle("urgent", left <= 5);
    }
  }

  function header(card, item) {
    text($(".customer-name", card), item.customer.name || item.interaction.customer_address || t("empty_customer"));
    const tier = text($(".tier", card), item.customer.tier);
    tier.classList.add("tier-" + item.customer.tier);
    text($(".channel", card), item.interaction.channel);
  }

  function renderOffer(item) {
    const card = clone("#offer-template");
    card.dataset.interaction = item.interaction.id;
    header(card, item);
    const countdown = $(".countdown", card);
    if (item.expires_at) countdown.dataset.expires = item.expires_at; else countdown.hidden = true;
    text($(".priority", card), t("priority") + ": " + (item.priority_explain || item.interaction.priority_explain));
    const c = item.customer;
    text($(".value", card), t("lifetime_value") + ": " + Math.round(c.lifetime_value || 0) +
      ((c.tier_reasons || []).length ? " (" + c.tier_reasons.join(", ") + ")" : ""));
    if (c.churn_risk) {
      const churn = $(".churn", card);
      churn.hidden = false;
      text(churn, t("churn") + ": " + (c.churn_reasons || []).join("; "));
    }
    for (const n of c.notes || []) $(".notes", card).appendChild(el("li", "", n.author + ": " + n.body));
    const last = item.messages.filter((m) => m.direction !== "note").pop();
    text($(".last-message", card), last ? (last.subject ? last.subject + " — " : "") + last.body : "");
    for (const h of (c.history || []).filter((h) => h.id !== item.interaction.id)) {
      $(".history", card).appendChild(el("li", "", h.created_at.slice(0, 10) + " " + h.channel + " " +
        (h.subject || h.preview) + (h.disposition ? " [" + h.disposition + "]" : "")));
    }
    $(".accept", card).addEventListener("click", () => accept(item.interaction.id));
    $(".reject", card).addEventListener("click", async () => {
      const r = await send("reject", { interaction_id: item.interaction.id });
      if (r.ok) { state.offers.delete(item.interaction.id); renderOffers(); }
    });
    return card;
  }

  function renderRinging(item) {
    // A PBX call (CTI screen-pop): the agent answers on the phone; the card shows who it is.
    const card = renderOffer(item);
    card.classList.add("ringing-call");
    $(".countdown", card).hidden = true;
    text($(".priority", card), t("ringing_phone") + " " + (item.interaction.customer_address || ""));
    $(".accept", card).remove();
    $(".reject", card).remove();
    return card;
  }

  function accept(id) { return send("accept", { interaction_id: id }); }

  function renderOffers() {
    const box = $("#offers");
    box.replaceChildren();
    const items = [...state.offers.values()].sort((a, b) => b.interaction.priority - a.interaction.priority);
    const calls = [...state.ringing.values()];
    if (!items.length && !calls.length) box.appendChild(el("p", "empty", t("no_offers")));
    for (const item of calls) box.appendChild(renderRinging(item));
    for (const item of items) box.appendChild(renderOffer(item));
    if (!items.length && !calls.length) stopRinging(); else startRinging();
    tickCountdowns();
    renderLoad();
  }

  // ---- Workspace: tabs, conversation, reply, transfer, wrap-up -------------------------------
  function renderTabs() {
    const bar = $("#tabs");
    bar.replaceChildren();
    let n = 0;
    for (const item of state.work.values()) {
      n += 1;
      const id = item.interaction.id;
      const tab = el("button", "tab", (n <= 9 ? n + " · " : "") +
        (item.customer.name || item.interaction.customer_address) + " · " + item.interaction.channel);
      tab.type = "button";
      tab.setAttribute("role", "tab");
      tab.dataset.interaction = id;
      tab.classList.toggle("active", id === state.active);
      tab.classList.toggle("unread", state.unread.has(id));
      tab.classList.toggle("needs-wrapup", !!item.interaction.needs_wrapup);
      tab.addEventListener("click", () => activate(id));
      bar.appendChild(tab);
    }
  }

  function activate(id) {
    state.active = id;
    state.unread.delete(id);
    renderWork();
  }

  function renderWork() {
    if (state.active && !state.work.has(state.active)) state.active = null;
    if (!state.active && state.work.size) state.active = state.work.keys().next().value;
    for (const [id, panel] of state.panels) {
      if (!state.work.has(id)) { panel.remove(); state.panels.delete(id); }
    }
    const box = $("#conversations");
    const empty = $(".empty", box);
    if (empty) empty.remove();
    if (!state.work.size) box.appendChild(el("p", "empty", t("nothing_assigned")));
    for (const item of state.work.values()) {
      let panel = state.panels.get(item.interaction.id);
      if (!panel) {
        panel = buildConversation(item);
        state.panels.set(item.interaction.id, panel);
        box.appendChild(panel);
      }
      updateConversation(panel, item);
      panel.hidden = item.interaction.id !== state.active;
    }
    renderTabs();
    renderLoad();
  }

  function buildConversation(item) {
    const id = item.interaction.id;
    const card = clone("#conversation-template");
    card.dataset.interaction = id;
    const form = $(".reply-form", card);
    const box = $(".reply-body", card);
    const subject = $(".reply-subject", card);
    if (item.interaction.channel === "email") {
      subject.hidden = false;
      const s = item.interaction.subject || "";
      subject.value = /^re:/i.test(s) ? s : (s ? "Re: " + s : "");
    }
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!box.value.trim()) return;
      const payload = { interaction_id: id, body: box.value };
      if (!subject.hidden) payload.subject = subject.value;
      const r = await send("reply", payload);
      if (r.ok) { box.value = ""; addMessage(r.message); }
    });
    wireCanned(card, box, () => state.work.get(id));
    box.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
    });
    $(".wrapup-form", card).addEventListener("submit", async (e) => {
      e.preventDefault();
      const r = await send("wrapup", { interaction_id: id,
        disposition: $(".disposition", card).value, note: $(".wrapup-note", card).value });
      if (r.ok) { state.work.delete(id); renderWork(); }
    });
    $(".transfer-form", card).addEventListener("submit", async (e) => {
      e.preventDefault();
      const r = await send("transfer", { interaction_id: id,
        queue_id: $(".transfer-queue", card).value, agent_id: $(".transfer-agent", card).value,
        note: $(".transfer-note", card).value });
      if (r.ok) { state.work.delete(id); renderWork(); }
    });
    $(".hangup", card).addEventListener("click", () => send("hangup", { interaction_id: id }));
    $(".call-back", card).addEventListener("click", () => {
      const it = state.work.get(id).interaction;
      send("call.start", { customer_id: it.customer_id, number: it.customer_address, interaction_id: id });
    });
    fillDispositions(card);
    fillTransfer(card, item);
    const panel = buildProfilePanel(item.customer.id);
    $(".panel360", card).appendChild(panel);
    loadProfile(item.customer.id);
    return card;
  }

  function fillDispositions(card) {
    const select = $(".disposition", card);
    const chosen = select.value;
    for (const o of $$("option", select)) if (o.value) o.remove();
    for (const d of state.config.dispositions) {
      const label = state.lang === "zh-CN" && d.label_zh ? d.label_zh : (d.label || d.code);
      const opt = el("option", "", label);
      opt.value = d.code;
      select.appendChild(opt);
    }
    select.value = chosen;
  }

  function fillTransfer(card, item) {
    if (!card || !item) return;
    const queues = $(".transfer-queue", card);
    const agents = $(".transfer-agent", card);
    for (const o of $$("option", queues)) if (o.value) o.remove();
    for (const o of $$("option", agents)) if (o.value) o.remove();
    for (const q of state.queues) {
      const opt = el("option", "", q.name || q.id);
      opt.value = q.id;
      queues.appendChild(opt);
    }
    for (const a of state.colleagues) {
      const opt = el("option", "", a.display_name + " (" + t(a.status) + ")");
      opt.value = a.id;
      agents.appendChild(opt);
    }
  }

  function updateConversation(card, item) {
    header(card, item);
    text($(".address", card), item.interaction.customer_address);
    text($(".subject-line", card), item.interaction.subject || "");
    const isCall = item.interaction.channel === "voice";
    const ended = !!item.interaction.needs_wrapup;
    $(".ended", card).hidden = !ended;
    $(".call-controls", card).hidden = !isCall || ended;
    $(".call-back", card).hidden = !item.interaction.call_pending || !!item.interaction.error;
    $(".hangup", card).hidden = !!item.interaction.call_pending;
    const failure = $(".call-error", card);
    failure.hidden = !item.interaction.error;
    text(failure, item.interaction.error || "");
    $(".reply-form", card).hidden = isCall || ended;
    $(".transfer", card).hidden = ended;
    renderMessages(card, item);
  }

  function markRead(item) {
    // The visitor's chat messages on the agent's screen: the widget shows them as seen.
    if (item.interaction.channel !== "chat" || item.interaction.id !== state.active) return;
    if (document.visibilityState !== "visible") return;
    if (!item.messages.some((m) => m.direction === "in" && m.status === "received")) return;
    for (const m of item.messages) if (m.direction === "in") m.status = "read";
    state.socket.emit("read", { interaction_id: item.interaction.id }, () => {});
  }

  function renderMessages(card, item) {
    markRead(item);
    const list = $(".messages", card);
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.replaceChildren();
    for (const m of item.messages) {
      const li = el("li", m.direction);
      if (m.subject && m.channel === "email") li.appendChild(el("strong", "subject", m.subject));
      li.appendChild(el("span", "body", m.body));
      if (m.direction === "out") li.appendChild(el("span", "delivery status-" + m.status, t(m.status)));
      if (m.direction === "note") li.appendChild(el("span", "delivery", t("internal") + " · " + m.sender));
      if (m.error) li.appendChild(el("span", "delivery error", m.error));
      for (const a of m.attachments || []) li.appendChild(attachmentButton(a));
      list.appendChild(li);
    }
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  // ---- Attachments: fetched with the agent's token (the server checks who may open them) ----
  function attachmentButton(a) {
    const box = el("span", "attachment");
    const label = "📎 " + a.filename + " (" + Math.max(1, Math.round(a.size / 1024)) + " KB)";
    const b = el("button", "open-attachment", label);
    b.type = "button";
    if (!a.stored) { b.disabled = true; b.title = t("too_large"); }
    b.addEventListener("click", async () => {
      const res = await fetch("/api/attachments/" + encodeURIComponent(a.id),
        { headers: { Authorization: "Bearer " + state.token } });
      if (!res.ok) { notice(t("not_allowed")); return; }
      const url = URL.createObjectURL(await res.blob());
      if (/^image\/(png|jpeg|gif|webp)$/.test(a.content_type)) {
        const img = document.createElement("img");
        img.className = "thumbnail"; img.alt = a.filename; img.src = url;
        box.replaceChildren(img);
      } else {
        const link = document.createElement("a");
        link.href = url; link.download = a.filename || "attachment";
        document.body.appendChild(link); link.click(); link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 1000);
      }
    });
    box.appendChild(b);
    return box;
  }

  // ---- Canned responses: "/shortcut" in a reply box ------------------------------------------
  function fillPlaceholders(body, item) {
    const name = (item && item.customer && item.customer.name) || "";
    const values = { customer_name: name, customer_first_name: name.split(/\s+/)[0] || name,
      agent_name: (state.agent && state.agent.display_name) || "" };
    return body.replace(/\{(customer_name|customer_first_name|agent_name)\}/g, (_, k) => values[k]);
  }

  function wireCanned(card, box, itemOf) {
    const list = $(".canned", card);
    let matches = [];
    let index = 0;
    const query = () => { const m = /(?:^|\s)\/([\w.-]*)$/.exec(box.value); return m ? m[1].toLowerCase() : null; };
    const close = () => { list.hidden = true; matches = []; };
    const pick = (c) => {
      box.value = box.value.replace(/\/[\w.-]*$/, "") + fillPlaceholders(c.body, itemOf());
      close();
      box.focus();
    };
    const show = () => {
      list.replaceChildren();
      matches.forEach((c, i) => {
        const li = el("li", i === index ? "selected" : "");
        li.appendChild(el("strong", "", "/" + c.shortcut));
        li.appendChild(el("span", "", " " + (c.title || "") + " — " + fillPlaceholders(c.body, itemOf())));
        li.setAttribute("role", "option");
        li.addEventListener("mousedown", (e) => { e.preventDefault(); pick(c); });
        list.appendChild(li);
      });
      list.hidden = !matches.length;
    };
    box.addEventListener("input", () => {
      const q = query();
      if (q === null) return close();
      matches = state.config.canned_responses.filter((c) =>
        c.shortcut.toLowerCase().includes(q) || (c.title || "").toLowerCase().includes(q)).slice(0, 8);
      index = 0;
      show();
    });
    box.addEventListener("keydown", (e) => {
      if (list.hidden || !matches.length) return;
      if (e.key === "ArrowDown") { index = (index + 1) % matches.length; show(); e.preventDefault(); }
      else if (e.key === "ArrowUp") { index = (index + matches.length - 1) % matches.length; show(); e.preventDefault(); }
      else if (e.key === "Enter" || e.key === "Tab") { e.preventDefault(); pick(matches[index]); }
      else if (e.key === "Escape") close();
    });
    box.addEventListener("blur", close);
  }

  // ---- The customer's 360 panel (workspace and customer page) --------------------------------
  function buildProfilePanel(customerId) {
    const panel = clone("#panel-template");
    panel.dataset.customer = customerId;
    $(".tag-form", panel).addEventListener("submit", async (e) => {
      e.preventDefault();
      const input = $(".tag-input", panel);
      const tag = input.value.trim();
      const profile = state.profiles.get(customerId);
      if (!tag || !profile || profile.tags.includes(tag)) return;
      if (await saveCustomer(customerId, { tags: [...profile.tags, tag] })) input.value = "";
    });
    $(".pref-form", panel).addEventListener("submit", async (e) => {
      e.preventDefault();
      const key = $(".pref-key", panel).value.trim();
      const value = $(".pref-value", panel).value.trim();
      const profile = state.profiles.get(customerId);
      if (!key || !profile) return;
      const prefs = Object.assign({}, profile.preferences);
      if (value) prefs[key] = value; else delete prefs[key];
      if (await saveCustomer(customerId, { preferences: prefs })) {
        $(".pref-key", panel).value = ""; $(".pref-value", panel).value = "";
      }
    });
    $(".note-form", panel).addEventListener("submit", async (e) => {
      e.preventDefault();
      const input = $(".note-input", panel);
      if (!input.value.trim()) return;
      try {
        await api("POST", "/api/customers/" + encodeURIComponent(customerId) + "/notes", { body: input.value });
        input.value = "";
        await loadProfile(customerId);
      } catch (err) { notice(err.message || err.error); }
    });
    return panel;
  }

  async function saveCustomer(customerId, fields) {
    try {
      const profile = await api("PATCH", "/api/customers/" + encodeURIComponent(customerId), fields);
      state.profiles.set(customerId, profile);
      renderProfiles(customerId);
      notice("");
      return true;
    } catch (err) { notice(err.message || err.error); return false; }
  }

  async function loadProfile(customerId) {
    try {
      state.profiles.set(customerId, await api("GET", "/api/customers/" + encodeURIComponent(customerId)));
      renderProfiles(customerId);
    } catch (err) { /* an erased or merged customer: the card from the offer stays */ }
  }

  function refreshProfile(customerId) {
    if ($$(".c360").some((p) => p.dataset.customer === customerId)) loadProfile(customerId);
  }

  function renderProfiles(customerId) {
    const profile = state.profiles.get(customerId);
    if (!profile) return;
    for (const panel of $$(".c360")) if (panel.dataset.customer === customerId) renderProfile(panel, profile);
  }

  function renderProfile(panel, c) {
    text($(".c-name", panel), c.name || t("empty_customer"));
    const tier = text($(".c-tier", panel), c.tier);
    tier.className = "c-tier badge tier-" + c.tier;
    text($(".c-value", panel), t("lifetime_value") + ": " + Math.round(c.lifetime_value || 0) +
      ((c.tier_reasons || []).length ? " (" + c.tier_reasons.join(", ") + ")" : "") +
      (c.company ? " · " + c.company : ""));
    const churn = $(".c-churn", panel);
    churn.hidden = !c.churn_risk;
    text(churn, c.churn_risk ? t("churn") + ": " + (c.churn_reasons || []).join("; ") : "");

    const ids = $(".c-identities", panel);
    ids.replaceChildren();
    for (const i of c.identities || []) {
      const li = el("li", "identity", i.kind + ": " + i.value);
      if (i.kind === "phone") {
        const call = el("button", "call-number", t("call"));
        call.type = "button";
        call.addEventListener("click", () => send("call.start", { customer_id: c.id, number: i.value }));
        li.appendChild(call);
      }
      ids.appendChild(li);
    }

    const tags = $(".c-tags", panel);
    tags.replaceChildren();
    for (const tag of c.tags || []) {
      const chip = el("span", "chip", tag);
      const x = el("button", "remove-tag", "×");
      x.type = "button";
      x.title = t("remove");
      x.addEventListener("click", () => saveCustomer(c.id, { tags: c.tags.filter((v) => v !== tag) }));
      chip.appendChild(x);
      tags.appendChild(chip);
    }

    const prefs = $(".c-prefs", panel);
    prefs.replaceChildren();
    for (const [k, v] of Object.entries(c.preferences || {})) {
      prefs.appendChild(el("dt", "", k));
      prefs.appendChild(el("dd", "", typeof v === "string" ? v : JSON.stringify(v)));
    }

    const notes = $(".c-notes", panel);
    notes.replaceChildren();
    for (const n of c.notes || []) {
      const li = el("li", "note");
      li.appendChild(el("span", "meta", (n.created_at || "").slice(0, 16).replace("T", " ") + " " + n.author + ": "));
      li.appendChild(el("span", "", n.body));
      notes.appendChild(li);
    }

    const orders = $(".c-orders tbody", panel);
    orders.replaceChildren();
    for (const o of (c.orders || []).slice(0, 10)) {
      const tr = el("tr");
      tr.appendChild(el("td", "", o.ordered_at.slice(0, 10)));
      tr.appendChild(el("td", "", o.product || o.external_ref));
      tr.appendChild(el("td", "num", o.amount.toFixed(2) + " " + o.currency));
      orders.appendChild(tr);
    }

    const timeline = $(".c-timeline", panel);
    timeline.replaceChildren();
    for (const h of c.interactions || []) {
      const li = el("li", "event channel-" + h.channel);
      const open = el("button", "open-interaction", h.created_at.slice(0, 16).replace("T", " ") + " " +
        h.channel + " · " + (h.subject || h.preview || h.state) + (h.disposition ? " [" + h.disposition + "]" : ""));
      open.type = "button";
      const transcript = el("ol", "transcript");
      transcript.hidden = true;
      open.addEventListener("click", () => toggleTranscript(h.id, transcript));
      li.appendChild(open);
      li.appendChild(transcript);
      timeline.appendChild(li);
    }
  }

  async function toggleTranscript(id, box) {
    if (!box.hidden) { box.hidden = true; return; }
    box.replaceChildren();
    try {
      const data = await api("GET", "/api/interactions/" + encodeURIComponent(id));
      for (const m of data.messages) {
        const li = el("li", m.direction);
        li.appendChild(el("span", "meta", m.created_at.slice(0, 16).replace("T", " ") + " "));
        if (m.subject) li.appendChild(el("strong", "", m.subject + " "));
        li.appendChild(el("span", "body", m.body));
        for (const a of m.attachments || []) li.appendChild(attachmentButton(a));
        box.appendChild(li);
      }
    } catch (err) {
      box.appendChild(el("li", "error", err.status === 403 ? t("not_allowed") : (err.message || err.error)));
    }
    box.hidden = false;
  }

  // ---- Customer search page -----------------------------------------------------------------
  function showPane(which) {
    $("#work-pane").hidden = which !== "work";
    $("#customers-pane").hidden = which !== "customers";
    $("#show-work").classList.toggle("active", which === "work");
    $("#show-customers").classList.toggle("active", which === "customers");
    if (which === "customers") $("#search-q").focus();
  }

  async function search(event) {
    event.preventDefault();
    const q = $("#search-q").value.trim();
    const list = $("#search-results");
    list.replaceChildren();
    if (!q) return;
    try {
      const found = (await api("GET", "/api/customers?q=" + encodeURIComponent(q))).customers;
      if (!found.length) list.appendChild(el("li", "empty", t("no_results")));
      for (const c of found) {
        const li = el("li", "result");
        const b = el("button", "open-customer", (c.name || t("empty_customer")) + (c.company ? " · " + c.company : ""));
        b.type = "button";
        b.addEventListener("click", () => openCustomer(c.id));
        li.appendChild(b);
        li.appendChild(el("span", "badge tier-" + c.tier, c.tier));
        list.appendChild(li);
      }
    } catch (err) { notice(err.message || err.error); }
  }

  async function openCustomer(id) {
    const page = $("#customer-page");
    page.replaceChildren(buildProfilePanel(id));
    state.watched = id;
    state.socket.emit("watch_customer", { customer_id: id }, () => {});
    await loadProfile(id);
  }

  function renderAll() {
    renderOffers();
    for (const card of state.panels.values()) fillDispositions(card);
    renderWork();
    for (const id of state.profiles.keys()) renderProfiles(id);
  }

  // ---- Keyboard shortcuts --------------------------------------------------------------------
  function shortcuts(e) {
    if (!state.socket || $("#work-view").hidden) return;
    if (!e.altKey || e.ctrlKey || e.metaKey) return;
    const active = state.active && state.panels.get(state.active);
    const key = e.key.toLowerCase();
    if (key === "a" || e.code === "KeyA") {
      const first = [...state.offers.values()].sort((a, b) => b.interaction.priority - a.interaction.priority)[0];
      if (first) { e.preventDefault(); accept(first.interaction.id); }
    } else if ((key === "r" || e.code === "KeyR") && active) {
      e.preventDefault(); showPane("work"); $(".reply-body", active).focus();
    } else if ((key === "w" || e.code === "KeyW") && active) {
      e.preventDefault(); showPane("work"); $(".disposition", active).focus();
    } else if (/^Digit[1-9]$/.test(e.code)) {
      const id = [...state.work.keys()][Number(e.code.slice(5)) - 1];
      if (id) { e.preventDefault(); showPane("work"); activate(id); }
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    setLanguage(state.lang);
    $("#login-form").addEventListener("submit", login);
    for (const b of $$("[data-status]")) {
      b.addEventListener("click", () => send("status", { status: b.dataset.status,
        reason: b.dataset.status === "away" ? $("#away-reason").value : "" }));
    }
    $("#logout").addEventListener("click", logout);
    $("#lang").addEventListener("click", () => setLanguage(state.lang === "zh-CN" ? "en" : "zh-CN"));
    $("#show-work").addEventListener("click", () => showPane("work"));
    $("#show-customers").addEventListener("click", () => showPane("customers"));
    $("#search-form").addEventListener("submit", search);
    document.addEventListener("keydown", shortcuts);
    setInterval(tickCountdowns, 1000);
    if (state.token) connect();
  });
})();
