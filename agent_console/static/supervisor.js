// crmhub supervisor board: the server pushes aggregates on /supervisor; text via textContent only.
"use strict";
(function () {
  const $ = (s) => document.querySelector(s);
  let token = sessionStorage.getItem("crmhub.supervisor.token");
  let chart = null;

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

  async function setStatus(agentId, status) {
    await fetch("/api/agents/" + encodeURIComponent(agentId), { method: "PATCH",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
      body: JSON.stringify({ status: status }) });
  }

  function render(b) {
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
    const ws = $("#waiting tbody"); ws.replaceChildren();
    for (const w of b.waiting) {
      const tr = document.createElement("tr");
      cell(tr, w.queue_id); cell(tr, w.channel); cell(tr, w.state); cell(tr, secs(w.waited_s));
      cell(tr, w.priority); cell(tr, w.why);
      ws.appendChild(tr);
    }
    const as = $("#agents tbody"); as.replaceChildren();
    for (const a of b.agents) {
      const tr = document.createElement("tr");
      tr.dataset.agent = a.id;
      cell(tr, a.name); cell(tr, a.status + (a.reason ? " (" + a.reason + ")" : ""));
      cell(tr, secs(a.in_state_s)); cell(tr, a.work.map((w) => w.channel).join(", "));
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
    if (!chart) {
      chart = new window.Chart($("#hourly"), {
        data: { labels: labels, datasets: [
          { type: "bar", label: "Arrivals", data: arrivals, yAxisID: "y" },
          { type: "line", label: "Service level %", data: sl, yAxisID: "y1", spanGaps: true }] },
        options: { animation: false, maintainAspectRatio: false,
          scales: { y: { beginAtZero: true }, y1: { position: "right", min: 0, max: 100 } } } });
    } else {
      chart.data.datasets[0].data = arrivals; chart.data.datasets[1].data = sl; chart.update();
    }
  }

  function connect() {
    const socket = io("/supervisor", { auth: { token: token }, transports: ["websocket", "polling"] });
    socket.on("connect", () => { $("#connection").textContent = "live"; $("#login-view").hidden = true; $("#board-view").hidden = false; });
    socket.on("disconnect", () => { $("#connection").textContent = "reconnecting"; });
    socket.on("connect_error", (err) => {
      $("#connection").textContent = "offline";
      if (err && err.data) { $("#login-error").textContent = err.data.message || "refused"; sessionStorage.removeItem("crmhub.supervisor.token"); }
    });
    socket.on("board", render);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("#login-form").addEventListener("submit", login);
    if (token) connect();
  });
})();
