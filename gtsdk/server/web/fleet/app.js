// The fleet platform's page: overview, distribution map, heat rankings, 0–24 h peaks, usage, fault board with
// SLA timers, availability and satisfaction KPIs, low use, consumables, costs, and a drill-down per terminal with
// remote diagnosis and the command console.  ?screen=big is the 大数据展示屏 mode (10.1.2.1); ?panel=<name> shows
// one panel for embedding in another system's page.  The token lives in sessionStorage (or #token=… for panels).
import * as charts from "./charts.js";
import { loadUpdates } from "./updates.js";

const $ = (sel) => document.querySelector(sel);
const params = new URLSearchParams(location.search);
const frag = new URLSearchParams(location.hash.startsWith("#token=") ? location.hash.slice(1) : "");
let token = frag.get("token") || sessionStorage.getItem("gtsdk-fleet-token") || "";
if (frag.get("token")) { sessionStorage.setItem("gtsdk-fleet-token", token); history.replaceState(null, "", location.pathname + location.search); }
const state = { terminals: [], timer: null, push: null, pushTimer: null, pushFollow: 0 };
const pct = (v) => (v === null || v === undefined ? "—" : `${(100 * v).toFixed(2)} %`);
const when = (iso) => (iso ? new Date(iso).toLocaleString("zh-CN", { hour12: false }) : "—");

function status(text, bad = false) { const el = $("#status"); el.textContent = text; el.style.color = bad ? "#c8102e" : ""; }

async function api(path, opts = {}) {
  const r = await fetch(`/api/v1${path}`, { ...opts, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", ...(opts.headers || {}) } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok || body.code !== "success") throw new Error(`${body.code || r.status}: ${body.message || ""} ${body.detail || ""}${body.field ? ` [${body.field}]` : ""}`);
  return body.data;
}

function query() {
  const q = new URLSearchParams({ days: $("#days").value });
  return q.toString();
}

function rows(table, list, cells) {
  const tb = $(table).querySelector("tbody");
  tb.replaceChildren(...list.map((item) => {
    const tr = document.createElement("tr");
    for (const c of cells(item)) {
      const td = document.createElement("td");
      if (c instanceof Node) td.append(c); else td.textContent = c;
      tr.append(td);
    }
    return tr;
  }));
}

function link(id) {
  const a = document.createElement("a");
  a.href = `#/terminal/${encodeURIComponent(id)}`; a.textContent = id; a.className = "terminal-link";
  return a;
}

function slaCell(f) {
  const span = document.createElement("span");
  span.className = "sla";
  if (f.remaining === null) { span.textContent = f.slaMet === false ? "超时 late" : "达标 met"; span.className += f.slaMet === false ? " late" : " ok"; }
  else { span.dataset.deadline = f.deadline; span.dataset.target = f.target; }
  return span;
}

function tickSla() {
  for (const el of document.querySelectorAll(".sla[data-deadline]")) {
    const left = (new Date(el.dataset.deadline) - Date.now()) / 1000;
    const abs = Math.abs(left), h = Math.floor(abs / 3600), m = Math.floor((abs % 3600) / 60), s = Math.floor(abs % 60);
    const txt = `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
    el.textContent = left >= 0 ? `剩余 ${txt} (${el.dataset.target})` : `超时 ${txt} (${el.dataset.target})`;
    el.classList.toggle("late", left < 0);
  }
}

function dispatchButtons(f) {
  const box = document.createElement("span");
  const next = { open: ["acknowledged", "onSite", "resolved"], acknowledged: ["onSite", "resolved"], onSite: ["resolved"] }[f.state] || [];
  for (const to of next) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = { acknowledged: "受理", onSite: "到场", resolved: "解决" }[to]; b.dataset.to = to;
    b.addEventListener("click", async () => {
      try { await api(`/faults/${encodeURIComponent(f.id)}/transition`, { method: "POST", body: JSON.stringify({ to }) }); await refresh(); }
      catch (e) { status(String(e), true); }
    });
    box.append(b);
  }
  return box;
}

function terminalStatus(t) {
  if (t.worst_open_fault !== null && t.worst_open_fault !== undefined && t.worst_open_fault <= 2) return "fault";
  return t.online ? "ok" : "offline";
}

async function loadOverview() {
  const o = await api(`/overview?${query()}`);
  $("#k-terminals").textContent = o.terminals; $("#k-online").textContent = o.online;
  $("#k-volume").textContent = o.transactions;
  $("#k-faults").textContent = `${o.openFaults["1"]}/${o.openFaults["2"]}/${o.openFaults["3"]}`;
  $("#k-sla").textContent = pct(o.faultKpis["1"].metShare);
  charts.gauge($("#g-availability"), { value: o.availability, target: o.availabilityTarget, name: "可用率" });
  charts.gauge($("#g-satisfaction"), { value: o.satisfaction, target: o.satisfactionTarget, name: "满意度" });
}

async function loadTerminals() {
  const region = $("#region").value.trim();
  const list = await api(`/terminals${region ? `?region=${encodeURIComponent(region)}` : ""}`);
  state.terminals = list;
  const pts = list.filter((t) => t.latitude !== null && t.longitude !== null)
    .map((t) => ({ id: t.id, name: t.name, lon: t.longitude, lat: t.latitude, status: terminalStatus(t) }));
  charts.scatterMap($("#chart-map"), pts, { onClick: (id) => { location.hash = `#/terminal/${encodeURIComponent(id)}`; } });
  rows("#terminals", list, (t) => [t.region, link(t.id), t.name, t.online ? "在线" : "离线", t.worst_open_fault ? `L${t.worst_open_fault}` : "",
    t.catalogue_version || "—", certCell(t.certification)]);
}

// 7.4.4: the newest self-certification — its tier, its date, and whether the signature is the enrolled key's
function certCell(c) {
  const span = document.createElement("span");
  if (!c) { span.textContent = "—"; return span; }
  span.className = c.tier ? `tier-${c.tier}` : "late";
  span.textContent = `${c.tier || "未达标 none"} ${when(c.generated).split(" ")[0]}${c.verified ? "" : " ⚠ 签名未验证 unverified"}`;
  span.title = c.verified ? "SM2 签名已验证 signature verified" : "签名与注册密钥不符 not signed by the enrolled key";
  return span;
}

// ---- 事项目录下发: push a catalogue to terminals, a region or all; results per terminal ----------------------------
async function loadPushes() {
  const list = await api("/catalogue-pushes?limit=20");
  const tb = $("#pushes tbody");
  tb.replaceChildren(...list.map((p) => {
    const tr = document.createElement("tr");
    for (const v of [when(p.issued), p.version, p.target, p.targets, p.issuedBy]) tr.append(Object.assign(document.createElement("td"), { textContent: v }));
    tr.dataset.push = p.id;
    tr.addEventListener("click", () => showPush(p.id));
    return tr;
  }));
  if (state.push) await showPush(state.push, false);
}

async function showPush(id, follow = true) {
  state.push = id;
  const d = await api(`/catalogue-pushes/${encodeURIComponent(id)}`);
  const counts = Object.entries(d.counts).map(([k, n]) => `${k} ${n}`).join(" · ");
  $("#push-title").textContent = `${d.version} → ${d.target} (${d.targets}): ${counts}`;
  rows("#push-results", d.results, (r) => [link(r.terminalId), r.state, r.code || "", (r.result && r.result.detail) || r.message || "",
    r.catalogueVersion || "—"]);
  clearTimeout(state.pushTimer);
  // follow the answers while some are outstanding (at most a few minutes: commands expire)
  const open = d.results.some((r) => ["pending", "sent"].includes(r.state));
  if (follow && open && (state.pushFollow = (state.pushFollow || 0) + 1) < 120) state.pushTimer = setTimeout(() => showPush(id), 2000);
}

function pushBody() {
  const text = $("#push-text").value.trim();
  const scope = $("#push-scope").value, value = $("#push-value").value.trim();
  const body = text.startsWith("{") ? { catalogue: JSON.parse(text) } : { toml: text };
  if (scope === "all") body.all = true;
  else if (scope === "region") body.region = value;
  else body.terminals = value.split(/[\s,]+/).filter(Boolean);
  return body;
}

async function loadRankings() {
  const [svc, trm, hourly] = await Promise.all([api(`/stats/services?${query()}`), api(`/stats/terminals?${query()}&limit=20`), api(`/stats/hourly?${query()}`)]);
  charts.bar($("#chart-services"), { labels: svc.slice(0, 12).map((s) => s.name), values: svc.slice(0, 12).map((s) => s.count), horizontal: true, name: "访问量" });
  rows("#services", svc, (s) => [s.rank, s.name, s.count, pct(s.share)]);
  charts.bar($("#chart-terminals"), { labels: trm.slice(0, 12).map((t) => t.name), values: trm.slice(0, 12).map((t) => t.count), horizontal: true, name: "访问量" });
  rows("#terminal-ranking", trm, (t) => [t.rank, link(t.terminalId), t.count, pct(t.share)]);
  charts.line($("#chart-hourly"), { labels: hourly.map((_, h) => `${h}时`), values: hourly, name: "访问量" });
}

async function loadUsage() {
  const u = await api(`/stats/usage?${query()}&period=${$("#period").value}`);
  charts.bar($("#chart-usage"), { labels: u.map((x) => x.period), values: u.map((x) => x.count), name: "办理量" });
}

async function loadFaults() {
  const list = await api("/faults?state=active");
  rows("#faults", list, (f) => {
    const lvl = Object.assign(document.createElement("span"), { className: `lvl${f.level}`, textContent: `${f.level} 级` });
    return [lvl, link(f.terminalId), f.module || "—", f.kind, f.state, when(f.opened), slaCell(f), dispatchButtons(f)];
  });
  tickSla();
}

async function loadKpis() {
  const [av, sat] = await Promise.all([api(`/stats/availability?${query()}&by=region`), api(`/stats/satisfaction?${query()}&by=region`)]);
  charts.bar($("#chart-availability"), { labels: av.map((x) => x.key), values: av.map((x) => x.availability ?? 0), percent: true, target: 0.995, name: "可用率" });
  charts.bar($("#chart-satisfaction"), { labels: sat.map((x) => x.key), values: sat.map((x) => x.satisfaction ?? 0), percent: true, target: 0.9, name: "满意度" });
}

async function loadLists() {
  const [low, cons, costs] = await Promise.all([api("/lowuse"), api("/consumables"), api(`/costs?days=${$("#days").value}`)]);
  rows("#lowuse", low, (x) => [link(x.terminalId), x.region, x.perDay.toFixed(2), x.perWeek.toFixed(1), x.exempt ? "是" : ""]);
  rows("#consumables", cons, (x) => [link(x.terminalId), `${x.module}/${x.name}`, x.state, x.level === null ? "—" : pct(x.level), x.daysLeft === null ? "—" : x.daysLeft.toFixed(1)]);
  rows("#costs", costs, (x) => [link(x.terminalId), x.consumable.toFixed(2), x.repair.toFixed(2), x.hours.toFixed(1), x.total.toFixed(2), x.faults]);
}

function exportLinks() {
  $("#lnk-json").onclick = (e) => { e.preventDefault(); download(`/export/national?${query()}`, "gtsdk-national.json"); };
  $("#lnk-csv").onclick = (e) => { e.preventDefault(); download(`/export/national?${query()}&format=csv&part=volume`, "gtsdk-volume.csv"); };
}

async function download(path, name) {
  const r = await fetch(`/api/v1${path}`, { headers: { Authorization: `Bearer ${token}` } });
  const blob = await r.blob();
  const a = Object.assign(document.createElement("a"), { href: URL.createObjectURL(blob), download: name });
  a.click(); URL.revokeObjectURL(a.href);
}

async function showTerminal(id) {
  $("#main").hidden = true; $("#detail").hidden = false;
  const d = await api(`/terminals/${encodeURIComponent(id)}?${query()}`);
  const t = d.terminal;
  $("#d-title").textContent = `${t.name || t.id} · ${t.id}`;
  const dl = (el, pairs) => el.replaceChildren(...pairs.flatMap(([k, v]) => [Object.assign(document.createElement("dt"), { textContent: k }), Object.assign(document.createElement("dd"), { textContent: v ?? "—" })]));
  dl($("#d-profile"), [["区划 Region", t.region], ["地址 Address", t.address], ["坐标 Coordinates", t.latitude === null ? "—" : `${t.latitude}, ${t.longitude}`],
    ["状态 State", t.online ? "在线 online" : "离线 offline"], ["最后联系 Last seen", when(t.last_seen)], ["厂商/型号", `${t.vendor} ${t.model}`],
    ["软件 Software", t.software_version], ["运维单位 Maintainer", t.maintainer], ["可用率 Availability", pct(d.availability?.availability)],
    ["满意度 Satisfaction", pct(d.satisfaction?.satisfaction)], ["事项目录 Catalogue", d.catalogue?.version]]);
  const h = d.host[0] || {}; const hb = t.heartbeat || {};
  dl($("#d-diag"), [["CPU", h.cpu_percent === undefined || h.cpu_percent === null ? "—" : `${h.cpu_percent.toFixed(0)} %`],
    ["网络延迟 Latency", h.latency === undefined || h.latency === null ? "—" : `${(1000 * h.latency).toFixed(0)} ms`],
    ["业务成功率 Success (1 h)", pct(h.success_rate_1h)], ["温度 Temperature", h.temperature === null || h.temperature === undefined ? "不可用 n/a" : `${h.temperature} °C`],
    ["待发记录 Outbox", hb.outbox ? `${hb.outbox.size}` : "—"]]);
  const host = d.host.slice().reverse();
  charts.line($("#d-chart-host"), { labels: host.map((x) => when(x.time).slice(-8)), values: host.map((x) => x.cpu_percent ?? 0), name: "CPU %" });
  charts.bar($("#d-chart-usage"), { labels: d.usage.map((x) => x.period), values: d.usage.map((x) => x.count), name: "办理量" });
  charts.line($("#d-chart-hourly"), { labels: d.hourly.map((_, i) => `${i}时`), values: d.hourly });
  rows("#d-faults", d.faults, (f) => [`${f.level} 级`, f.module || "—", f.kind, f.state, when(f.opened), slaCell(f)]);
  rows("#d-commands", d.commands, (c) => [when(c.issued), c.op, c.state, c.code || "", c.issued_by]);
  rows("#d-certs", d.certifications || [], (c) => {
    const a = Object.assign(document.createElement("a"), { href: "#", textContent: "JSON" });
    a.addEventListener("click", (e) => { e.preventDefault(); download(`/certifications/${encodeURIComponent(c.commandId)}`, `gtsdk-certification-${t.id}.json`); });
    return [when(c.generated), certCell(c), c.verified ? "✓ 已验证 verified" : `✗ ${c.problem || ""}`, c.passed ? "✓" : "✗",
      `${c.counts.pass ?? 0}/${Object.values(c.counts).reduce((x, y) => x + y, 0)}`, a];
  });
  $("#cmd-form").onsubmit = async (e) => {
    e.preventDefault();
    const op = $("#cmd-op").value, module = $("#cmd-module").value.trim();
    try {
      await api(`/terminals/${encodeURIComponent(id)}/commands`, { method: "POST", body: JSON.stringify({ op, params: module ? { module } : {} }) });
      status(`已发送 sent: ${op}`); setTimeout(() => showTerminal(id), 1500);
    } catch (err) { status(String(err), true); }
  };
  tickSla();
}

async function refresh() {
  if (!token) { status("请输入令牌 Enter a token"); return; }
  try {
    const me = await api("/me");
    $("#who").textContent = `${me.name} (${me.role}${me.scope ? ` ${me.scope}` : ""})`;
    const m = location.hash.match(/^#\/terminal\/(.+)$/);
    if (m) { await showTerminal(decodeURIComponent(m[1])); return; }
    $("#main").hidden = false; $("#detail").hidden = true;
    await Promise.all([loadOverview(), loadTerminals(), loadRankings(), loadUsage(), loadFaults(), loadKpis(), loadLists(),
      loadPushes(), loadUpdates(api, refresh)]);
    status(`更新于 updated ${new Date().toLocaleTimeString("zh-CN", { hour12: false })}`);
    document.body.dataset.loaded = "1";
  } catch (e) { status(String(e), true); }
}

function init() {
  const panel = params.get("panel");
  if (panel) {
    document.body.classList.add("panel");
    for (const s of document.querySelectorAll("main > section")) s.hidden = s.dataset.panel !== panel;
  }
  if (params.get("screen") === "big") document.body.classList.add("big");
  $("#token").value = token;
  $("#login").addEventListener("submit", (e) => { e.preventDefault(); token = $("#token").value.trim(); sessionStorage.setItem("gtsdk-fleet-token", token); refresh(); });
  for (const id of ["#days", "#period"]) $(id).addEventListener("change", refresh);
  $("#region").addEventListener("change", refresh);
  $("#btn-refresh").addEventListener("click", refresh);
  $("#push-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const p = await api("/catalogue-pushes", { method: "POST", body: JSON.stringify(pushBody()) });
      status(`已下发 pushed ${p.version} → ${p.targets}`);
      state.pushFollow = 0;
      await loadPushes(); await showPush(p.id);
    } catch (err) { status(String(err), true); }
  });
  $("#back").addEventListener("click", (e) => { e.preventDefault(); location.hash = ""; });
  $("#lnk-big").href = `?screen=big`;
  addEventListener("hashchange", refresh);
  exportLinks();
  setInterval(tickSla, 1000);
  if (document.body.classList.contains("big") || panel) state.timer = setInterval(refresh, 30_000);
  refresh();
}

init();
