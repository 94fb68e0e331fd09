// crmhub supervisor board: the server pushes aggregates on /supervisor; text via textContent only.
"use strict";
(function () {
  const $ = (s) => document.querySelector(s);
  let token = sessionStorage.getItem("crmhub.supervisor.token");
  let chart = null;
  let socket = null;
  let latest = null;
  let peeking = null;

  function cell(row, value, cls) {
    const td = document.createElement("td");
    td.textContent = value == null ? "–" : String(value);
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }
  function secs(s) { return s == null ? "–" : s < 60 ? Math.round(s) + " s" : Math.round(s / 60) + " min"; }
  function pct(x) { return x == null ? "–" : Math.round(x * 100) + " %"; }

  async function login(e) {
    e.preventDefault();
    const res = await fetch("/api/auth/login", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: $("#username").value, password: $("#password").value }) });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) { $("#login-error").textContent = data.message || "Login failed"; return; }
    if (data.role === "agent") { $("#login-error").textContent = "The board is for supervisors."; return; }
    token = data.token;
    sessionStorage.setItem("crmhub.supervisor.token", token);
    connect();
  }

  function notice(msg) { $("#notice").textContent = msg || ""; }

  function ask(event, payload) {
    return new Promise((resolve) => {
      socket.timeout(10000).emit(event, payload, (err, ack) => {
        const r = err ? { ok: false, message: "no answer from the hub" } : ack;
        notice(r.ok ? "" : r.message || r.error);
        resolve(r);
      });
    });
  }

  // Where the supervisor chose to move each interaction: kept when the board is rebuilt (it is
  // rebuilt on every change, and used to reset a choice made just before clicking Move).
  const choices = new Map();

  // A select of agents and queues and a Move button: reassign this interaction.
  function actions(td, interactionId, currentAgent) {
    const peek = document.createElement("button");
    peek.type = "button"; peek.textContent = "Peek"; peek.className = "peek";
    peek.addEventListener("click", () => openPeek(interactionId));
    const select = document.createElement("select");
    select.className = "move-to";
    const none = document.createElement("option"); none.value = ""; none.textContent = "move to…";
    select.appendChild(none);
    for (const a of (latest ? latest.agents : [])) {
      if (a.id === currentAgent || a.status === "offline") continue;
      const o = document.createElement("option");
      o.value = "agent:" + a.id; o.textContent = a.name + " (" + a.status + ")";
      select.appendChild(o);
    }
    for (const q of (latest ? latest.queues : [])) {
      const o = document.createElement("option");
      o.value = "queue:" + q.id; o.textContent = "queue " + q.name;
      select.appendChild(o);
    }
    if (choices.has(interactionId)) {
      select.value = choices.get(interactionId);
      if (select.value !== choices.get(interactionId)) choices.delete(interactionId);  // gone
    }
    select.addEventListener("change", () => choices.set(interactionId, select.value));
    const move = document.createElement("button");
    move.type = "button"; move.textContent = "Move"; move.className = "move";
    move.addEventListener("click", () => {
      const [kind, id] = select.value.split(/:(.*)/s);
      move.blur();  // the board waits while a Move button has focus (see render)
      if (!id) return;
      choices.delete(interactionId);
      ask("reassign", kind === "agent" ? { interaction_id: interactionId, agent_id: id }
        : { interaction_id: interactionId, queue_id: id });
    });
    td.append(peek, select, move);
  }

  async function openPeek(interactionId) {
    const r = await ask("peek", { interaction_id: interactionId });
    if (!r.ok) return;
    peeking = { id: interactionId, messages: r.messages };
    $("#peek-customer").textContent = r.customer.name || r.interaction.customer_address;
    showPeekState(r.interaction);
    renderPeek();
    $("#peek").hidden = false;
  }
  function showPeekState(it) {
    $("#peek-channel").textContent = it.channel;
    $("#peek-state").textContent = it.state;
  }
  function renderPeek() {
    const list = $("#peek-messages");
    list.replaceChildren();
    for (const m of peeking.messages) {
      const li = document.createElement("li");
      li.className = m.direction;
      li.textContent = (m.subject ? m.subject + " — " : "") + m.body;
      list.appendChild(li);
    }
  }
  function closePeek() {
    if (socket) socket.emit("unpeek", {}, () => {});
    peeking = null;
    $("#peek").hidden = true;
  }

  // ---- Reports ----
  function isoDay(d) { return d.toISOString().slice(0, 10); }
  function reportQuery() {
    return "from=" + encodeURIComponent($("#report-from").value) + "&to=" +
      encodeURIComponent($("#report-to").value) + "&by=" + encodeURIComponent($("#report-by").value);
  }
  async function showReport(e) {
    if (e) e.preventDefault();
    const res = await fetch("/api/reports?" + reportQuery(), { headers: { Authorization: "Bearer " + token } });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) { notice(data.message || "report failed"); return; }
    notice("");
    const body = $("#report tbody"); body.replaceChildren();
    for (const r of data.rows) {
      const tr = document.createElement("tr");
      cell(tr, r.label); cell(tr, r.offered); cell(tr, r.handled); cell(tr, r.abandoned);
      cell(tr, pct(r.service_level)); cell(tr, secs(r.asa_s)); cell(tr, secs(r.aht_s));
      cell(tr, r.csat_avg == null ? null : r.csat_avg + " (" + r.csat_count + ")");
      body.appendChild(tr);
    }
  }
  async function downloadCsv() {
    const res = await fetch("/api/reports?format=csv&" + reportQuery(), { headers: { Authorization: "Bearer " + token } });
    if (!res.ok) { notice("export failed"); return; }
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = "crmhub-" + $("#report-by").value + "-" + $("#report-from").value + "-" + $("#report-to").value + ".csv";
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
  function showView(which) {
    $("#board-view").hidden = which !== "board";
    $("#report-view").hidden = which !== "report";
    $("#show-board").classList.toggle("active", which === "board");
    $("#show-report").classList.toggle("active", which === "report");
    if (which === "report") showReport();
  }

  async function setStatus(agentId, status) {
    await fetch("/api/agents/" + encodeURIComponent(agentId), { method: "PATCH",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
      body: JSON.stringify({ status: status }) });
  }

  const UNANSWERED_ALERT_S = 120;
  let deferred = null;
  function render(b) {
    // Never rebuild the tables under a supervisor choosing where to move something, nor between
    // the press and the release of a Move button (a replaced button gets no click).
    const active = document.activeElement;
    const busy = active && active.classList &&
      (active.classList.contains("move-to") || active.classList.contains("move"));
    if (busy) { deferred = b; return; }
    deferred = null;
    latest = b;
    $("#updated").textContent = " updated " + new Date(b.at).toLocaleTimeString();
    const qs = $("#queues tbody"); qs.replaceChildren();
    for (const q of b.queues) {
      const tr = document.createElement("tr");
      cell(tr, q.name); cell(tr, q.waiting); cell(tr, secs(q.longest_wait_s));
      cell(tr, pct(q.service_level)); cell(tr, q.target); cell(tr, secs(q.asa_s));
      cell(tr, q.handled); cell(tr, q.abandoned); cell(tr, q.agents_available);
      cell(tr, q.agents_needed, q.agents_needed > q.agents_available ? "bad" : "");
      qs.appendChild(tr);
    }
    const ts = $("#traffic tbody"); ts.replaceChildren();
    for (const t of b.traffic || []) {
      const tr = document.createElement("tr");
      cell(tr, t.channel); cell(tr, t.in_today); cell(tr, t.out_today);
      cell(tr, t.in_recent); cell(tr, t.out_recent);
      ts.appendChild(tr);
    }
    const ws = $("#waiting tbody"); ws.replaceChildren();
    for (const w of b.waiting) {
      const tr = document.createElement("tr");
      cell(tr, w.queue_id); cell(tr, w.channel); cell(tr, w.state); cell(tr, secs(w.waited_s));
      cell(tr, w.priority); cell(tr, w.why);
      actions(cell(tr, ""), w.id, null);
      ws.appendChild(tr);
    }
    const as = $("#agents tbody"); as.replaceChildren();
    for (const a of b.agents) {
      const tr = document.createElement("tr");
      tr.dataset.agent = a.id;
      cell(tr, a.name); cell(tr, a.status + (a.reason ? " (" + a.reason + ")" : ""));
      cell(tr, secs(a.in_state_s));
      const work = cell(tr, "");
      for (const w of a.work) {
        const item = document.createElement("div");
        item.className = "work-item";
        item.dataset.interaction = w.id;
        const label = document.createElement("span");
        label.textContent = w.channel + " ";
        item.appendChild(label);
        actions(item, w.id, a.id);
        work.appendChild(item);
      }
      // Customers waiting for this agent's reply, and for how long the oldest has waited.
      cell(tr, a.awaiting_reply ? a.awaiting_reply + " (oldest " + secs(a.unanswered_s) + ")" : 0,
        a.unanswered_s >= UNANSWERED_ALERT_S ? "bad" : "");
      cell(tr, a.handled_today);
      const td = cell(tr, "");
      for (const s of ["available", "away", "offline"]) {
        const btn = document.createElement("button");
        btn.type = "button"; btn.textContent = s; btn.className = "set-" + s;
        btn.addEventListener("click", () => setStatus(a.id, s));
        td.appendChild(btn);
      }
      as.appendChild(tr);
    }
    drawChart(b.hourly);
  }

  function drawChart(hourly) {
    if (!window.Chart) return;
    const labels = hourly.map((h) => h.hour + ":00");
    const arrivals = hourly.map((h) => h.arrivals);
    const sl = hourly.map((h) => (h.service_level == null ? null : Math.round(h.service_level * 100)));
    const depth = hourly.map((h) => h.depth);
    if (!chart) {
      chart = new window.Chart($("#hourly"), {
        data: { labels: labels, datasets: [
          { type: "bar", label: "Arrivals", data: arrivals, yAxisID: "y" },
          { type: "line", label: "Service level %", data: sl, yAxisID: "y1", spanGaps: true },
          { type: "line", label: "Queue depth", data: depth, yAxisID: "y", stepped: true }] },
        options: { animation: false, maintainAspectRatio: false,
          scales: { y: { beginAtZero: true }, y1: { position: "right", min: 0, max: 100 } } } });
    } else {
      chart.data.datasets[0].data = arrivals; chart.data.datasets[1].data = sl;
      chart.data.datasets[2].data = depth; chart.update();
    }
  }

  function connect() {
    socket = io("/supervisor", { auth: { token: token }, transports: ["websocket", "polling"] });
    socket.on("connect", () => {
      $("#connection").textContent = "live"; $("#login-view").hidden = true;
      $("#views").hidden = false;
      if ($("#report-view").hidden) $("#board-view").hidden = false;
      if (peeking) openPeek(peeking.id);  // re-join the peek after a reconnect
    });
    socket.on("peek.message", (m) => {
      if (!peeking || m.interaction_id !== peeking.id) return;
      const i = peeking.messages.findIndex((x) => x.id === m.id);
      if (i >= 0) peeking.messages[i] = m; else peeking.messages.push(m);
      renderPeek();
    });
    socket.on("peek.updated", (it) => { if (peeking && it.id === peeking.id) showPeekState(it); });
    socket.on("disconnect", () => { $("#connection").textContent = "reconnecting"; });
    socket.on("connect_error", (err) => {
      $("#connection").textContent = "offline";
      if (err && err.data) { $("#login-error").textContent = err.data.message || "refused"; sessionStorage.removeItem("crmhub.supervisor.token"); }
    });
    socket.on("board", render);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("#login-form").addEventListener("submit", login);
    $("#peek-close").addEventListener("click", closePeek);
    document.addEventListener("focusout", () => setTimeout(() => { if (deferred) render(deferred); }, 0));
    $("#show-board").addEventListener("click", () => showView("board"));
    $("#show-report").addEventListener("click", () => showView("report"));
    $("#report-form").addEventListener("submit", showReport);
    $("#report-csv").addEventListener("click", downloadCsv);
    const today = new Date();
    $("#report-to").value = isoDay(today);
    $("#report-from").value = isoDay(new Date(today.getTime() - 6 * 86400000));
    if (token) connect();
  });
})();
