// crmhub agent console. Customer text is untrusted: it only ever reaches the page via textContent.
"use strict";
(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const state = { token: sessionStorage.getItem("crmhub.token"), socket: null,
                  offers: new Map(), work: new Map() };

  function text(el, value) { el.textContent = value == null ? "" : String(value); return el; }
  function notice(msg) { text($("#notice"), msg || ""); }

  async function login(event) {
    event.preventDefault();
    text($("#login-error"), "");
    const body = JSON.stringify({ username: $("#username").value, password: $("#password").value });
    const res = await fetch("/api/auth/login", { method: "POST", body,
      headers: { "Content-Type": "application/json" } });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) { text($("#login-error"), data.message || "Login failed"); return; }
    state.token = data.token;
    sessionStorage.setItem("crmhub.token", data.token);
    connect();
  }

  function send(event, payload) {
    return new Promise((resolve) => {
      state.socket.timeout(10000).emit(event, payload, (err, ack) => {
        const result = err ? { ok: false, message: "no answer from the hub" } : ack;
        if (!result.ok) notice(result.message || result.error);
        else notice("");
        resolve(result);
      });
    });
  }

  function connect() {
    if (state.socket) state.socket.disconnect();
    const socket = io("/agent", { auth: { token: state.token }, transports: ["websocket", "polling"] });
    state.socket = socket;
    socket.on("connect", () => { text($("#connection"), "connected"); showWork(); });
    socket.on("disconnect", () => text($("#connection"), "reconnecting"));
    socket.on("connect_error", (err) => {
      text($("#connection"), "offline");
      if (err && err.data && err.data.error === "unauthorized") { logout(); }
    });
    socket.on("state", applySnapshot);
    socket.on("status", (agent) => showAgent(agent));
    socket.on("offer", (item) => { state.offers.set(item.interaction.id, item); render(); });
    socket.on("offer.revoked", (ev) => { state.offers.delete(ev.interaction_id); render(); });
    socket.on("interaction.assigned", (item) => {
      state.offers.delete(item.interaction.id); state.work.set(item.interaction.id, item); render();
    });
    socket.on("interaction.updated", (it) => {
      const item = state.work.get(it.id);
      if (!item) return;
      if (it.state !== "assigned") state.work.delete(it.id); else item.interaction = it;
      render();
    });
    socket.on("message.created", (m) => addMessage(m));
    socket.on("message.status", (m) => addMessage(m));
    socket.on("customer.updated", (card) => {
      for (const item of [...state.offers.values(), ...state.work.values()]) {
        if (item.customer.id === card.id) item.customer = card;
      }
      render();
    });
  }

  function applySnapshot(snap) {
    state.offers = new Map(snap.offers.map((o) => [o.interaction.id, o]));
    state.work = new Map(snap.interactions.map((w) => [w.interaction.id, w]));
    showAgent(snap.agent);
    render();
  }

  function addMessage(m) {
    const item = state.work.get(m.interaction_id) || state.offers.get(m.interaction_id);
    if (!item) return;
    const i = item.messages.findIndex((x) => x.id === m.id);
    if (i >= 0) item.messages[i] = m; else item.messages.push(m);
    render();
  }

  function showAgent(agent) {
    text($("#who"), agent.display_name);
    text($("#status-text"), agent.status + (agent.status_reason ? " (" + agent.status_reason + ")" : ""));
  }

  function showWork() {
    $("#login-view").hidden = true;
    $("#work-view").hidden = false;
    $("#status-buttons").hidden = false;
  }

  function logout() {
    fetch("/api/auth/logout", { method: "POST", headers: { Authorization: "Bearer " + state.token } });
    sessionStorage.removeItem("crmhub.token");
    state.token = null;
    if (state.socket) state.socket.disconnect();
    $("#login-view").hidden = false;
    $("#work-view").hidden = true;
    $("#status-buttons").hidden = true;
  }

  function header(card, item) {
    text($(".customer-name", card), item.customer.name || item.interaction.customer_address);
    const tier = text($(".tier", card), item.customer.tier);
    tier.classList.add("tier-" + item.customer.tier);
    text($(".channel", card), item.interaction.channel);
  }

  function renderOffer(item) {
    const card = $("#offer-template").content.firstElementChild.cloneNode(true);
    header(card, item);
    text($(".priority", card), "Priority: " + (item.priority_explain || item.interaction.priority_explain));
    const c = item.customer;
    text($(".value", card), "Lifetime value: " + Math.round(c.lifetime_value) +
      ((c.tier_reasons || []).length ? " (" + c.tier_reasons.join(", ") + ")" : ""));
    if (c.churn_risk) {
      const churn = $(".churn", card);
      churn.hidden = false;
      text(churn, "Churn risk: " + (c.churn_reasons || []).join("; "));
    }
    for (const n of c.notes || []) {
      const li = document.createElement("li");
      text(li, n.author + ": " + n.body);
      $(".notes", card).appendChild(li);
    }
    const last = item.messages[item.messages.length - 1];
    text($(".last-message", card), last ? last.body : "");
    const list = $(".history", card);
    for (const h of item.customer.history.filter((h) => h.id !== item.interaction.id)) {
      const li = document.createElement("li");
      text(li, h.created_at.slice(0, 10) + " " + h.channel + " " + (h.subject || h.preview) +
        (h.disposition ? " [" + h.disposition + "]" : ""));
      list.appendChild(li);
    }
    $(".accept", card).addEventListener("click", () => send("accept", { interaction_id: item.interaction.id }));
    $(".reject", card).addEventListener("click", async () => {
      const r = await send("reject", { interaction_id: item.interaction.id });
      if (r.ok) { state.offers.delete(item.interaction.id); render(); }
    });
    return card;
  }

  function renderWork(item) {
    const card = $("#conversation-template").content.firstElementChild.cloneNode(true);
    card.dataset.interaction = item.interaction.id;
    header(card, item);
    const list = $(".messages", card);
    for (const m of item.messages) {
      const li = document.createElement("li");
      li.className = m.direction;
      text(li, m.body + (m.direction === "out" ? "  (" + m.status + ")" : ""));
      list.appendChild(li);
    }
    $(".reply-form", card).addEventListener("submit", async (e) => {
      e.preventDefault();
      const box = $(".reply-body", card);
      const r = await send("reply", { interaction_id: item.interaction.id, body: box.value });
      if (r.ok) { box.value = ""; addMessage(r.message); }
    });
    $(".wrapup-form", card).addEventListener("submit", async (e) => {
      e.preventDefault();
      const r = await send("wrapup", { interaction_id: item.interaction.id,
        disposition: $(".disposition", card).value, note: $(".wrapup-note", card).value });
      if (r.ok) { state.work.delete(item.interaction.id); render(); }
    });
    return card;
  }

  function fill(container, items, renderItem, emptyText) {
    const draft = {};
    for (const box of container.querySelectorAll(".reply-body")) {
      draft[box.closest("[data-interaction]").dataset.interaction] = box.value;
    }
    container.replaceChildren();
    if (!items.length) {
      const p = document.createElement("p"); p.className = "empty"; text(p, emptyText);
      container.appendChild(p);
    }
    for (const item of items) {
      const card = renderItem(item);
      const box = $(".reply-body", card);
      if (box && draft[item.interaction.id]) box.value = draft[item.interaction.id];
      container.appendChild(card);
    }
  }

  function render() {
    fill($("#offers"), [...state.offers.values()], renderOffer, "No offers right now.");
    fill($("#conversations"), [...state.work.values()], renderWork, "Nothing assigned.");
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("#login-form").addEventListener("submit", login);
    for (const b of document.querySelectorAll("[data-status]")) {
      b.addEventListener("click", () => send("status", { status: b.dataset.status }));
    }
    $("#logout").addEventListener("click", logout);
    if (state.token) connect();
  });
})();
