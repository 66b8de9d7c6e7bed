// muster's dashboard: a page over the REST API (/api/v1). No framework and nothing from a CDN:
// the coordinator serves this file and uPlot (/uplot.js, from npm at build time, for the charts)
// from its own binary. The token lives in this tab's session
// storage and goes out only in the Authorization header.
"use strict";

const TOKEN_KEY = "muster.token";
const $ = (sel) => document.querySelector(sel);
let me = null;          // {name, role} of the signed-in token
let timer = null;       // the current page's refresh
let stopFollow = null;  // ends the job page's log stream
let generation = 0;     // of route(): a render or stream of an older route does nothing
let trendCache = { at: 0, trend: [] };  // the overview's balance trend, and when it was fetched

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) =>
    ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function rel(ms, now) {
  if (!ms) return "-";
  const d = Math.round((ms - (now || Date.now())) / 1000);
  const a = Math.abs(d);
  const t = a < 90 ? a + "s" : a < 5400 ? Math.round(a / 60) + "m" : Math.round(a / 3600) + "h";
  return d >= 0 ? "in " + t : t + " ago";
}

function bar(frac, cls) {
  const p = Math.max(0, Math.min(1, frac || 0)) * 100;
  return `<span class="bar ${cls || ""}"><span style="width:${p.toFixed(1)}%"></span></span>`;
}

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(path, opts = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = Object.assign({}, opts.headers || {});
  if (token) headers["Authorization"] = "Bearer " + token;
  const r = await fetch(path, Object.assign({}, opts, { headers }));
  if (r.status === 401) {
    let why = "the token was refused";
    try { why = (await r.json()).error.message; } catch (_) {}
    signOut("Signed out: " + why);
    throw new ApiError(401, "unauthenticated", why);
  }
  const text = await r.text();
  let body = text;
  if ((r.headers.get("Content-Type") || "").startsWith("application/json")) body = JSON.parse(text);
  if (!r.ok) throw new ApiError(r.status, body.error?.code, body.error?.message || text);
  return body;
}

function signOut(why) {
  sessionStorage.removeItem(TOKEN_KEY);
  me = null;
  showSignIn(why || "");
}

function showSignIn(why) {
  clearInterval(timer);
  if (stopFollow) stopFollow();
  $("#nav").hidden = true;
  $("#signout").hidden = true;
  $("#who").textContent = "";
  $("#page").hidden = true;
  $("#signin").hidden = false;
  $("#signin-why").textContent = why;
}

async function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  try {
    me = await api("/api/v1/whoami");
  } catch (e) {
    if (e.status !== 401) showSignIn("Cannot sign in: " + e.message);
    return;
  }
  $("#signin").hidden = true;
  $("#nav").hidden = false;
  $("#signout").hidden = false;
  $("#who").textContent = `${me.name} (${me.role})`;
  if (!location.hash || location.hash === "#/") {
    location.hash = "#/overview";  // its hashchange routes
    return;
  }
  route();
}

// ---- pages

const pages = {
  async overview() {
    // The whole trend (up to a day) at most every 15 s; the latest evaluation every second.
    const fresh = Date.now() - trendCache.at > 15000;
    const [nodes, jobs, balance] = await Promise.all([
      api("/api/v1/nodes"), api("/api/v1/jobs?limit=10000"),
      api(`/api/v1/balance?trend_points=${fresh ? 0 : 1}`)]);
    if (fresh) trendCache = { at: Date.now(), trend: balance.trend || [] };
    const running = jobs.jobs.filter((j) => j.state === "running").length;
    const pending = jobs.jobs.filter((j) => j.state === "pending").length;
    let rows = "";
    for (const n of nodes.nodes) {
      let gpus = "";
      for (const g of n.gpus) {
        const util = g.utilization == null ? (g.free ? 0 : 1) : g.utilization;
        const what = g.utilization == null ? (g.free ? "free" : "in use") :
          `${Math.round(g.utilization * 100)}%`;
        const mem = g.memory_used_mib == null ? "" :
          ` mem ${bar(g.memory_used_mib / g.memory_mib)} ${g.memory_used_mib}/${g.memory_mib} MiB`;
        const pw = g.power_w == null ? "" : ` ${Math.round(g.power_w)} W`;
        gpus += `<span class="gpu">GPU ${g.index} ${bar(util, g.utilization == null && g.free ? "free" : "")} ${what}${mem}${pw}</span>`;
      }
      rows += `<tr class="node" data-node="${esc(n.name)}"><td>${esc(n.name)}</td>
        <td class="state-${esc(n.state)}">${esc(n.state)}${n.drain ? " — " + esc(n.drain.reason) : ""}</td>
        <td>${bar(1 - n.cpus_free / Math.max(n.cpus, 1e-9))} ${(n.cpus - n.cpus_free).toFixed(1)}/${n.cpus}</td>
        <td>${n.running_tasks}</td><td>${gpus || "-"}</td></tr>`;
    }
    const trend = trendCache.trend;
    return `<h1>Overview</h1>
      <div class="cards"><div class="card">nodes<b id="n-nodes">${nodes.nodes.length}</b></div>
        <div class="card">running jobs<b id="n-running">${running}</b></div>
        <div class="card">pending jobs<b id="n-pending">${pending}</b></div>
        <div class="card">Jain's index<b>${num(balance.nodes?.jain)}</b></div>
        <div class="card">λ (imbalance)<b>${num(balance.nodes?.imbalance_factor)}</b></div></div>
      <table id="nodes"><tr><th>node</th><th>state</th><th>CPUs in use</th><th>tasks</th><th>GPUs</th></tr>${rows}</table>
      <h2>Balance over time</h2>
      <p class="hint">The last evaluations as they were, and before them up to a day of per-minute means.</p>
      ${lineChart([
        { name: "Jain's index", color: "#3b82f6", points: trend.map((p) => [p.time_ms, p.nodes?.jain ?? 0]) },
        { name: "λ", color: "#f59e0b", points: trend.map((p) => [p.time_ms, p.nodes?.imbalance_factor ?? 0]) }])}`;
  },

  async queue() {
    const list = await api("/api/v1/jobs?limit=10000");
    let rows = "";
    for (const j of list.jobs) {
      rows += `<tr class="job" data-job="${j.job_id}"><td><a href="#/job/${j.job_id}">${j.job_id}</a></td>
        <td>${esc(j.name)}</td><td>${esc(j.user)}</td><td class="state-${esc(j.state)}">${esc(j.state)}</td>
        <td>${j.task_count}</td><td>${j.start_ms ? "started " + rel(j.start_ms, list.now_ms) : rel(j.predicted_start_ms, list.now_ms)}</td>
        <td>${rel(j.predicted_finish_ms, list.now_ms)}</td><td>${esc(j.reason)}</td></tr>`;
    }
    return `<h1>Queue</h1><table id="queue"><tr><th>id</th><th>name</th><th>owner</th><th>state</th>
      <th>tasks</th><th>start (predicted)</th><th>finish (predicted)</th><th>reason</th></tr>${rows}</table>
      ${list.jobs.length ? "" : "<p>No pending or running jobs.</p>"}`;
  },

  async job(id) {
    const j = await api("/api/v1/jobs/" + encodeURIComponent(id));
    const mayCancel = me && (me.role === "admin" || (me.role === "user" && me.name === j.user)) &&
      (j.state === "pending" || j.state === "running");
    let rows = "";
    for (const t of j.tasks) {
      const p = t.progress;
      const frac = p && p.total > 0 ? p.done / p.total : 0;
      rows += `<tr class="task" data-task="${t.index}"><td>${t.index}</td><td class="state-${esc(t.state)}">${esc(t.state)}</td>
        <td>${esc(t.node) || "-"}</td><td>${t.attempt || "-"}</td>
        <td>${p ? bar(frac) + ` <span class="progress" data-done="${p.done}">${p.done}/${p.total}</span>` : "-"}</td>
        <td>${esc(t.message)}</td></tr>`;
    }
    const history = (j.history || []).map((h) => `<li>${esc(h)}</li>`).join("");
    return `<h1>Job ${j.job_id} <small>${esc(j.name)}</small></h1>
      <p>owner ${esc(j.user)} · state <b id="job-state" class="state-${esc(j.state)}">${esc(j.state)}</b>
        ${j.reason ? "· " + esc(j.reason) : ""}
        ${mayCancel ? `<button id="cancel" class="danger">Cancel job</button>` : ""}</p>
      <p id="cancel-result" class="why"></p>
      <table id="tasks"><tr><th>task</th><th>state</th><th>node</th><th>attempt</th><th>progress</th><th>message</th></tr>${rows}</table>
      <h2>Output (task ${j.tasks[0]?.index ?? 0}, following)</h2><pre id="log" class="log"></pre>
      <h2>History</h2><ul id="history">${history || "<li>nothing yet</li>"}</ul>`;
  },

  async schedule() {
    const t = await api("/api/v1/schedule?all=1");
    const rows = t.rows.filter((r) => r.predicted_start_ms || r.actual_start_ms);
    const lanes = [...new Set(rows.map((r) => `${r.node || "(unplaced)"} ${r.gpus.length ? "GPU " + r.gpus.join(",") : "CPU"}`))].sort();
    const times = rows.flatMap((r) => [r.predicted_start_ms, r.predicted_finish_ms, r.actual_start_ms, r.actual_finish_ms || t.now_ms]).filter((x) => x > 0);
    const t0 = Math.min(...times, t.now_ms), t1 = Math.max(...times, t.now_ms + 1);
    const W = 900, H = 24 * lanes.length + 40, L = 170;
    const x = (ms) => L + (W - L - 10) * (ms - t0) / (t1 - t0);
    let svg = `<svg id="gantt" width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg">`;
    lanes.forEach((lane, i) => { svg += `<text x="4" y="${30 + 24 * i}" font-size="11">${esc(lane)}</text>`; });
    for (const r of rows) {
      const lane = lanes.indexOf(`${r.node || "(unplaced)"} ${r.gpus.length ? "GPU " + r.gpus.join(",") : "CPU"}`);
      const y = 18 + 24 * lane;
      if (r.predicted_start_ms && r.predicted_finish_ms)
        svg += `<rect x="${x(r.predicted_start_ms)}" y="${y}" width="${Math.max(2, x(r.predicted_finish_ms) - x(r.predicted_start_ms))}" height="8" fill="#c7d2fe"><title>job ${r.job_id}.${r.task} predicted</title></rect>`;
      if (r.actual_start_ms)
        svg += `<rect x="${x(r.actual_start_ms)}" y="${y + 9}" width="${Math.max(2, x(r.actual_finish_ms || t.now_ms) - x(r.actual_start_ms))}" height="8" fill="#3b82f6"><title>job ${r.job_id}.${r.task} actual</title></rect>`;
    }
    svg += `<line x1="${x(t.now_ms)}" x2="${x(t.now_ms)}" y1="10" y2="${H - 10}" stroke="#b91c1c"/></svg>`;
    return `<h1>Schedule</h1><p class="hint">Per node and GPU: predicted (light) against actual
      (dark) run of each task; the red line is now.</p>${rows.length ? svg : "<p>Nothing scheduled.</p>"}`;
  },

  async balancer() {
    const b = await api("/api/v1/balance?trend_points=1");
    const loads = (b.node_loads || []).map((r) => `<tr><td>${esc(r.node)}</td><td>${bar(r.load)} ${num(r.load)}</td>
      <td>${num(r.predicted)}</td><td>${r.measured < 0 ? "-" : num(r.measured)}</td></tr>`).join("");
    const moves = (b.moves || []).map((m) => `<tr><td>${m.job_id}</td><td>${esc(m.kind)}</td>
      <td>${esc(m.from_node)} → ${esc(m.to_node)}</td><td>${num(m.gain_s)} s / ${num(m.cost_s)} s</td>
      <td>${esc(m.reason)}</td><td>${esc(m.outcome)}</td></tr>`).join("");
    const notes = (b.notes || []).map((n) => `<li>${esc(n)}</li>`).join("");
    return `<h1>Balancer</h1><p>mode <b>${esc(b.mode)}</b> · Jain's index ${num(b.nodes?.jain)} ·
      λ ${num(b.nodes?.imbalance_factor)} (threshold ${num(b.threshold)}) · ${b.armed ? "armed" : "not armed"}</p>
      <h2>Loads</h2><table id="loads"><tr><th>node</th><th>load</th><th>predicted</th><th>measured</th></tr>${loads}</table>
      <h2>Moves of the last evaluation</h2>${moves ? `<table><tr><th>job</th><th>kind</th><th>from → to</th>
        <th>gain / cost</th><th>why</th><th>outcome</th></tr>${moves}</table>` : "<p>None.</p>"}
      <h2>Why rules did not act</h2><ul>${notes || "<li>-</li>"}</ul>`;
  },

  async sim() {
    return `<h1>Simulator report</h1><p>Open the <code>report.json</code> of a
      <code>muster sim --report DIR</code> run (it stays in this page).</p>
      <input type="file" id="report-file" accept=".json,application/json"><div id="report"></div>`;
  },
};

function num(v) { return v == null || Number.isNaN(v) ? "-" : (+v).toFixed(3); }

// A chart of lines of [x, y] points, drawn by uPlot once the page's HTML is in place
// (drawCharts): x is epoch ms on a time axis, or with `hours`, ms from 0 shown in hours.
const pendingCharts = [];
function lineChart(series, opts = {}) {
  if (series.flatMap((s) => s.points).length < 2)
    return `<p class="hint">${esc(opts.empty || "No trend yet: the balancer evaluates every period.")}</p>`;
  pendingCharts.push({ series, opts });
  return `<div class="chart" data-chart="${pendingCharts.length - 1}"></div>`;
}

let liveCharts = [];  // uPlot instances; those whose element left the page are destroyed
function drawCharts(root) {
  liveCharts = liveCharts.filter((c) => c.root.isConnected || (c.destroy(), false));
  for (const el of root.querySelectorAll("div.chart[data-chart]")) {
    const { series, opts } = pendingCharts[+el.dataset.chart];
    const unit = opts.hours ? 3600000 : 1000;  // uPlot's time axis is in seconds
    const data = uPlot.join(series.map((s) => [s.points.map((p) => p[0] / unit), s.points.map((p) => p[1])]));
    liveCharts.push(new uPlot({
      width: Math.min(900, Math.max(300, el.clientWidth || 900)), height: 240,
      scales: { x: { time: !opts.hours } },
      axes: [{ label: opts.hours ? "hours" : undefined }, {}],
      series: [{ label: opts.hours ? "h" : "time" },
               ...series.map((s) => ({ label: s.name, stroke: s.color, width: 2, spanGaps: true }))],
    }, data, el));
  }
  pendingCharts.length = 0;
}

function showReport(r) {
  const runs = r.runs || [];
  let rows = "";
  for (const x of runs)
    rows += `<tr><td>${esc(x.policy)}${x.backfill ? " +backfill" : ""}</td><td>${esc(x.jobs)}</td>
      <td>${num(x.jct_s?.mean)}</td><td>${num(x.jct_s?.p95)}</td><td>${num(x.queue_delay_s?.mean)}</td>
      <td>${num(x.makespan_s)}</td><td>${num(x.utilization)}</td><td>${num(x.mean_jain)}</td><td>${esc(x.preemptions)}</td></tr>`;
  const colors = ["#3b82f6", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#6b7280"];
  const busy = lineChart(runs.map((x, i) => ({ name: x.policy + " busy GPUs", color: colors[i % colors.length],
    points: (x.series || []).map((p) => [p.t_s * 1000, p.busy_gpus]) })),
    { hours: true, empty: "The report has no series." });
  $("#report").innerHTML = `<h2>${esc(r.title || "")}</h2><p class="hint">${esc(r.command || "")}</p>
    <table id="runs"><tr><th>policy</th><th>jobs</th><th>JCT mean s</th><th>JCT p95 s</th><th>wait mean s</th>
    <th>makespan s</th><th>utilization</th><th>Jain</th><th>preemptions</th></tr>${rows}</table>
    <h2>Busy GPUs over time</h2>${busy}`;
  drawCharts($("#report"));
}

// ---- the job page's live parts

function followLog(id, task) {
  const ctl = new AbortController();
  stopFollow = () => ctl.abort();
  (async () => {
    try {
      const r = await fetch(`/api/v1/jobs/${encodeURIComponent(id)}/logs?follow=1&task=${task}`, {
        headers: { Authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY) }, signal: ctl.signal });
      if (!r.ok || !r.body) return;
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {  // one Server-Sent Event
          const ev = buf.slice(0, cut); buf = buf.slice(cut + 2);
          const lines = ev.split("\n");
          const kind = (lines.find((l) => l.startsWith("event: ")) || "").slice(7);
          const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.replace(/^data: ?/, ""));
          const out = $("#log");  // the page re-renders: the element of now
          if (kind === "log" && out) { out.textContent += data.join("\n") + "\n"; out.scrollTop = out.scrollHeight; }
        }
      }
    } catch (_) { /* aborted: the page changed */ }
  })();
}

// ---- routing

async function route() {
  if (!me) return;
  const mine = ++generation;
  clearInterval(timer);
  timer = null;
  if (stopFollow) { stopFollow(); stopFollow = null; }
  const [, name, arg] = (location.hash || "#/overview").split("/");
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("on", a.getAttribute("href") === "#/" + name);
  const page = pages[name] ? name : "overview";
  const render = async () => {
    try {
      const html = await pages[page](arg);
      if (!me || mine !== generation) return;  // signed out, or another page since
      const el = $("#page");
      const keepLog = page === "job" ? $("#log")?.textContent : null;
      el.innerHTML = html;
      el.hidden = false;
      drawCharts(el);
      if (page === "job") {
        if (keepLog != null) $("#log").textContent = keepLog;
        const c = $("#cancel");
        if (c) c.onclick = async () => {
          try { await api("/api/v1/jobs/" + encodeURIComponent(arg), { method: "DELETE" }); render(); }
          catch (e) { $("#cancel-result").textContent = e.message; }
        };
      }
      if (page === "sim") {
        $("#report-file").onchange = async (e) => {
          const f = e.target.files[0];
          if (f) { try { showReport(JSON.parse(await f.text())); } catch (err) { $("#report").textContent = "Not a report: " + err.message; } }
        };
      }
    } catch (e) {
      if (e.status !== 401) { $("#page").innerHTML = `<p class="why">${esc(e.message)}</p>`; $("#page").hidden = false; }
    }
  };
  await render();
  if (mine !== generation) return;
  if (page === "job") followLog(arg, 0);
  if (page !== "sim") timer = setInterval(render, 1000);
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  $("#signin-form").addEventListener("submit", (e) => { e.preventDefault(); signIn($("#token").value.trim()); });
  $("#signout").addEventListener("click", () => signOut("Signed out."));
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) signIn(token); else showSignIn("");
});
