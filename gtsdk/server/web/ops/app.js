// Operations dashboard (clauses 10.1.2, 10.2.2) on the terminal's records (GET /v1/ops/summary): service ranking
// with share, 0–24 h peaks, usage by day and month, 好差评 satisfaction against 90 %, availability since
// installation against 99.5 %, the fault database with its response targets, host health, consumables and
// inspections.  Charts: Apache ECharts through /common/charts.js (shared with the fleet pages).  Needs a
// maintenance-scope token, typed into the form (kept in sessionStorage for this tab) or given as #token=….
import { Gtsdk } from "/sdk/gtsdk.js";
import * as charts from "/common/charts.js";

const $ = (s) => document.querySelector(s);
const STATE_ZH = { online: "在线", offline: "离线", noDevice: "无设备", hardwareError: "硬件故障", userError: "需处理",
  deviceBusy: "忙", powerOff: "断电", starting: "启动中", fraudAttempt: "欺诈尝试", potentialFraud: "疑似欺诈" };
const CONS_ZH = { receiptPaper: "凭条纸 receipt paper", a4Paper: "A4 纸 A4 paper", toner: "墨粉 toner" };
const STATE_CONS = { ok: "充足 ok", low: "将尽 low", empty: "用尽 empty", unknown: "未知 unknown" };
const FAULT_STATE = { open: "未处理 open", acknowledged: "已受理 acknowledged", onSite: "现场 on site", resolved: "已解决 resolved" };
const LEVEL_NAME = { 5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意" };

let sdk = null;
let last = null;
let sub = null;
let timer = null;

function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  el.append(...kids.filter((k) => k !== null && k !== undefined));
  return el;
}
const pct = (v) => (v === null || v === undefined ? "—" : `${(100 * v).toFixed(2)} %`);
function dur(sec) {
  if (sec === null || sec === undefined) return "—";
  if (sec < 60) return `${sec.toFixed(1)} s`;
  if (sec < 3600) return `${(sec / 60).toFixed(1)} min`;
  return `${(sec / 3600).toFixed(1)} h`;
}
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const na = (v, unit = "") => (v === null || v === undefined ? "不可用 not available" : `${v}${unit}`);

function renderKpis(d) {
  const av = d.availability;
  charts.gauge($("#chart-availability-gauge"), { value: av.overall, target: av.target, name: av.met ? "达标 met" : "未达标 below" });
  $("#installed").textContent = `${when(av.since)} · 停机 down ${dur(av.downtime)} (服务未运行 service ${dur(av.serviceDowntime)}, 重启 restarts ${av.restarts})`;
  const sat = d.satisfaction;
  charts.gauge($("#chart-satisfaction-gauge"), { value: sat.rate, target: sat.target,
    name: sat.met === null ? "无评价 no ratings" : sat.met ? "达标 met" : "未达标 below" });
  $("#ratings-count").textContent = `${sat.ratings} 条评价 ratings`;
  const tx = d.transactions;
  $("#tx-total").textContent = String(tx.total);
  $("#tx-detail").textContent = `完成 ${tx.completed} · 失败 ${tx.failed} · 放弃 ${tx.abandoned} · 超时 ${tx.timedOut} · 办理中 open ${tx.open}` +
    ` · 成功率 ${pct(tx.successRate)} · 平均 ${dur(tx.averageDuration)}`;
  const u = d.utilisation;
  const low = $("#low-use");
  low.textContent = `日均 ${u.perDay} / 近 7 天 ${u.lastWeek}${u.lowUse ? " — 使用频次极低 low use (10.2.2 g)" : ""}`;
  low.className = u.lowUse ? "note bad" : "note";
  const open = d.faults.open;
  $("#faults-open").textContent = String(open.length);
  $("#faults-detail").textContent = ["1", "2", "3"].map((l) => `${l} 级 ${d.faults.byLevel[l].open}`).join(" · ") +
    ` · 超时 overdue ${["1", "2", "3"].reduce((a, l) => a + d.faults.byLevel[l].overdueOpen, 0)}`;
  const host = d.host;
  $("#host").replaceChildren(...[["CPU", na(host.cpuPercent, " %")], ["内存 memory", na(host.memoryPercent, " %")],
    ["磁盘 disk", na(host.diskPercent, " %")], ["温度 temperature", na(host.temperature, " °C")],
    ["网络延迟 latency", host.latency === null || host.latency === undefined ? (host.latencyHost ? "不可达 unreachable" : "未配置 not configured") : `${(1000 * host.latency).toFixed(1)} ms`],
    ["成功率 1 h / 24 h", `${pct(host.successRate1h)} / ${pct(host.successRate24h)}`],
    ["运行 uptime", `${dur(host.serviceUptime)} (主机 host ${dur(host.uptime)})`]].flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]));
}

function renderCharts(d) {
  const svc = d.services.filter((s) => s.count > 0);
  charts.bar($("#chart-services"), { labels: svc.map((s) => `${s.rank}. ${s.nameZh}`), values: svc.map((s) => s.count),
    name: "办件量", horizontal: true });
  charts.pie($("#chart-share"), svc.map((s) => ({ name: s.nameZh, value: s.count })), { name: "占比" });
  charts.line($("#chart-hourly"), { labels: d.hourly.map((_, i) => `${i}时`), values: d.hourly, name: "办件量" });
  const codes = [...new Set(d.usage.daily.flatMap((x) => Object.keys(x.services)))];
  const names = Object.fromEntries(d.services.map((s) => [s.code, s.nameZh]));
  const series = Object.fromEntries(codes.map((c) => [names[c] || c, d.usage.daily.map((x) => x.services[c] || 0)]));
  charts.stacked($("#chart-daily"), { labels: d.usage.daily.map((x) => x.day.slice(5)), series });
  charts.bar($("#chart-monthly"), { labels: d.usage.monthly.map((x) => x.month), values: d.usage.monthly.map((x) => x.count), name: "办件量" });
  const lv = d.satisfaction.levels;
  charts.bar($("#chart-ratings"), { labels: ["5", "4", "3", "2", "1"].map((k) => LEVEL_NAME[k]), values: ["5", "4", "3", "2", "1"].map((k) => lv[k]),
    name: "评价数", colors: ["#1b7a3a", "#7cb342", "#e08e0b", "#f4511e", "#c8102e"] });
  const mods = Object.entries(d.availability.modules);
  charts.bar($("#chart-availability"), { labels: ["终端 terminal", ...mods.map(([m]) => m)],
    values: [d.availability.overall, ...mods.map(([, a]) => a)], percent: true, target: d.availability.target,
    colors: [d.availability.overall, ...mods.map(([, a]) => a)].map((a) => (a >= d.availability.target ? "#1b7a3a" : "#c8102e")) });
  const bl = d.faults.byLevel;
  charts.bar($("#chart-faults"), { labels: ["1 级 宕机", "2 级 部分失效", "3 级 轻微"], values: ["1", "2", "3"].map((l) => bl[l].count),
    name: "故障数", colors: ["#c8102e", "#e08e0b", "#7cb342"] });
}

async function faultAction(id, action) {
  try {
    await sdk._fetch("POST", `/v1/ops/faults/${action}`, action === "resolve" ? { id, resolution: "maintenance" } : { id });
  } catch (e) {
    $("#status").textContent = `${e.code}: ${e.serverMessage || e.message}`;
  }
  refresh();
}

function renderTables(d) {
  $("#services tbody").replaceChildren(...(d.services.length ? d.services.map((s) => {
    const entry = d.catalogue.entries.find((e) => e.code === s.code);
    return h("tr", { "data-code": s.code }, h("td", { text: String(s.rank) }), h("th", { scope: "row", text: `${s.nameZh} ${s.code}` }),
      h("td", { text: String(s.count) }), h("td", { text: pct(s.share) }), h("td", { text: pct(s.successRate) }),
      h("td", { text: dur(s.averageDuration) }), h("td", { class: s.satisfaction !== null && s.satisfaction < d.satisfaction.target ? "bad" : "", text: pct(s.satisfaction) }),
      h("td", { text: entry ? (entry.available ? "是 yes" : `否 no (${entry.missingModules.join(", ")})`) : "—" }));
  }) : [h("tr", {}, h("td", { colspan: "8", text: "暂无办件 no transactions yet" }))]));
  $("#faults tbody").replaceChildren(...(d.faults.recent.length ? d.faults.recent.map((f) => h("tr",
    { class: `level-${f.level}${f.overdue ? " overdue" : ""}`, "data-id": f.id, "data-state": f.state },
    h("td", { text: String(f.level) }), h("td", { text: f.module || "终端 terminal" }), h("td", { text: f.kind }),
    h("td", { text: f.reason }), h("td", { text: when(f.opened) }), h("td", { text: FAULT_STATE[f.state] || f.state }),
    h("td", { text: `${dur(f.duration)} / ${dur(f.target)}${f.overdue ? " 超时 overdue" : ""}` }),
    h("td", {}, f.state === "open" ? h("button", { type: "button", class: "ack", onclick: () => faultAction(f.id, "acknowledge"), text: "受理 ack" }) : null,
      f.state !== "resolved" ? h("button", { type: "button", class: "resolve", onclick: () => faultAction(f.id, "resolve"), text: "解决 resolve" }) : null)))
    : [h("tr", {}, h("td", { colspan: "8", text: "无故障 no faults" }))]));
  $("#modules tbody").replaceChildren(...d.modules.map((m) => h("tr", { "data-module": m.module, class: m.state === "online" ? "" : "warn" },
    h("th", { scope: "row", text: `${m.titleZh} ${m.module}` }),
    h("td", { class: `state state-${m.state}`, text: `${STATE_ZH[m.state] || ""} ${m.state}` }),
    h("td", { text: m.reason || "" }), h("td", { text: m.lastError || "" }), h("td", { text: String(m.operations) }),
    h("td", { class: m.availability !== null && m.availability < d.availability.target ? "bad" : "", text: pct(m.availability) }))));
  $("#consumables tbody").replaceChildren(...(d.consumables.length ? d.consumables.map((c) => h("tr", { class: `cons-${c.state}` },
    h("td", { text: CONS_ZH[c.name] || c.name }), h("td", { text: c.module }), h("td", { text: STATE_CONS[c.state] || c.state })))
    : [h("tr", {}, h("td", { colspan: "3", text: "未知 unknown" }))]));
  const insp = d.inspections.last;
  $("#inspection").textContent = `计划 schedule ${d.inspections.schedule.join(", ") || "—"} · 最近 last: ` +
    (insp ? `${when(insp.started)} ${insp.ok ? "正常 ok" : `发现问题 ${insp.findings.filter((f) => !f.ok).map((f) => f.module).join(", ")}`}` : "—");
}

function render(d) {
  last = d;
  $("#terminal-id").textContent = d.terminalId || "";
  renderKpis(d);
  renderCharts(d);
  renderTables(d);
  $("#status").textContent = `更新于 updated ${when(d.generatedAt)} · 可用率 availability ${pct(d.availability.overall)} ` +
    `${d.availability.met ? "✓" : "✗"} (≥ 99.5 %) · 满意度 satisfaction ${pct(d.satisfaction.rate)}`;
  document.body.dataset.loaded = "1";
}

async function refresh() {
  if (!sdk) return;
  try {
    render(await sdk._fetch("GET", `/v1/ops/summary?days=${$("#days").value}`));
  } catch (e) {
    $("#status").textContent = `${e.code}: ${e.serverMessage || e.message}`;
  }
}

function download(name, type, body) {
  const a = h("a", { href: URL.createObjectURL(new Blob([body], { type })), download: name });
  document.body.append(a);
  a.click();
  a.remove();
}

async function exportCsv() {
  const r = await fetch(`/v1/ops/summary?format=csv&days=${$("#days").value}`,
    { headers: { Authorization: `Bearer ${sdk.token}` } });
  download("gtsdk-ops.csv", "text/csv", await r.blob());
}

async function inspect() {
  $("#status").textContent = "巡检中 inspecting…";
  try {
    const r = await sdk._fetch("POST", "/v1/ops/inspections", { wait: 5 });
    $("#status").textContent = r.ok ? "巡检正常 inspection ok" : "巡检发现问题 inspection found problems";
  } catch (e) {
    $("#status").textContent = `${e.code}: ${e.serverMessage || e.message}`;
  }
  refresh();
}

function connect(token) {
  sessionStorage.setItem("gtsdk-ops-token", token);
  sdk = new Gtsdk({ baseUrl: location.origin, token, lang: "zh" });
  if (sub) sub.close();
  let pending = null;
  sub = sdk.events({ onEvent: (e) => {
    if (e.event === "statusChanged" || e.event === "printerStatusChanged") {
      clearTimeout(pending);
      pending = setTimeout(refresh, 300);
    }
  } });
  clearInterval(timer);
  timer = setInterval(refresh, 15000);
  refresh();
}

if (!charts.engine()) $("#no-echarts").hidden = false;
$("#login").addEventListener("submit", (e) => { e.preventDefault(); connect($("#token").value.trim()); });
$("#btn-refresh").addEventListener("click", refresh);
$("#btn-inspect").addEventListener("click", inspect);
$("#days").addEventListener("change", refresh);
$("#btn-csv").addEventListener("click", exportCsv);
$("#btn-json").addEventListener("click", () => last && download("gtsdk-ops.json", "application/json", JSON.stringify(last, null, 2)));
const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromHash) history.replaceState(null, "", location.pathname);
const saved = fromHash || sessionStorage.getItem("gtsdk-ops-token");
if (saved) connect(saved);
