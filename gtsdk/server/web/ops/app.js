// Operations dashboard (clauses 10.1.2, 10.2.2): live module status, fault records, consumables and the charts
// of 10.1.2 (bar, line, pie) drawn as inline SVG — no chart library.  Needs a maintenance-scope token, typed
// into the form (kept in sessionStorage for this tab) or given as #token=… in the address.
import { Gtsdk } from "/sdk/gtsdk.js";

const $ = (s) => document.querySelector(s);
const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#0b5cad", "#c8102e", "#1b7a3a", "#e08e0b", "#6a3d9a", "#00838f", "#8d6e63", "#d81b60", "#546e7a",
  "#7cb342", "#5e35b1", "#f4511e", "#3949ab", "#00897b"];
const STATE_ZH = { online: "在线", offline: "离线", noDevice: "无设备", hardwareError: "硬件故障", userError: "需处理",
  deviceBusy: "忙", powerOff: "断电", starting: "启动中", fraudAttempt: "欺诈尝试", potentialFraud: "疑似欺诈" };
const CONS_ZH = { receiptPaper: "凭条纸 receipt paper", a4Paper: "A4 纸 A4 paper", toner: "墨粉 toner" };
const STATE_CONS = { ok: "充足 ok", low: "将尽 low", empty: "用尽 empty" };

let sdk = null;
let last = null;
let sub = null;
let timer = null;

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}
function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) { if (k === "text") el.textContent = v; else el.setAttribute(k, v); }
  el.append(...kids.filter((k) => k !== null && k !== undefined));
  return el;
}
function svgBox(label, w = 520, hgt = 260) {
  return s("svg", { viewBox: `0 0 ${w} ${hgt}`, role: "img", "aria-label": label, width: "100%" });
}

/** Bar chart: items = [{label, value}] */
function bar(el, items, label, { target = null, fmt = (v) => String(v), max = null, color = null } = {}) {
  const W = 520, H = 260, L = 44, B = 70, T = 14;
  const svg = svgBox(label, W, H);
  const top = max ?? Math.max(1, ...items.map((i) => i.value));
  const bw = (W - L - 10) / Math.max(1, items.length);
  svg.append(s("line", { x1: L, y1: H - B, x2: W - 6, y2: H - B, stroke: "#889" }));
  svg.append(s("text", { x: L - 6, y: T + 4, "text-anchor": "end", class: "axis" }, fmt(top)));
  svg.append(s("text", { x: L - 6, y: H - B, "text-anchor": "end", class: "axis" }, max !== null ? fmt(0) : "0"));
  items.forEach((it, i) => {
    const hh = ((H - B - T) * it.value) / top;
    const x = L + i * bw + bw * 0.15;
    const r = s("rect", { x, y: H - B - hh, width: bw * 0.7, height: Math.max(0, hh), fill: it.color || color || COLORS[i % COLORS.length],
      class: "bar", "data-value": it.value });
    r.append(s("title", {}, `${it.label}: ${fmt(it.value)}`));
    svg.append(r);
    const every = Math.ceil(items.length / 16);
    if (i % every && i !== items.length - 1) return;
    svg.append(s("text", { x: x + bw * 0.35, y: H - B + 12, transform: `rotate(45 ${x + bw * 0.35} ${H - B + 12})`, class: "tick" },
      it.label));
  });
  if (target !== null) {
    const y = H - B - ((H - B - T) * target) / top;
    svg.append(s("line", { x1: L, y1: y, x2: W - 6, y2: y, stroke: "#c8102e", "stroke-dasharray": "6 4", class: "target" }));
    svg.append(s("text", { x: W - 8, y: y - 4, "text-anchor": "end", class: "axis target-label" }, `target ${fmt(target)}`));
  }
  el.replaceChildren(svg);
}

/** Line chart over 0..23 h */
function line(el, values, label) {
  const W = 520, H = 240, L = 40, B = 30, T = 14;
  const svg = svgBox(label, W, H);
  const top = Math.max(1, ...values);
  const x = (i) => L + (i * (W - L - 12)) / 23;
  const y = (v) => H - B - ((H - B - T) * v) / top;
  svg.append(s("line", { x1: L, y1: H - B, x2: W - 6, y2: H - B, stroke: "#889" }));
  svg.append(s("text", { x: L - 6, y: T + 4, "text-anchor": "end", class: "axis" }, String(top)));
  for (let i = 0; i < 24; i += 3) svg.append(s("text", { x: x(i), y: H - B + 16, "text-anchor": "middle", class: "tick" }, `${i}h`));
  svg.append(s("polyline", { points: values.map((v, i) => `${x(i)},${y(v)}`).join(" "), fill: "none", stroke: "#0b5cad",
    "stroke-width": 3, class: "series" }));
  values.forEach((v, i) => {
    const c = s("circle", { cx: x(i), cy: y(v), r: 4, fill: "#0b5cad", class: "point", "data-value": v });
    c.append(s("title", {}, `${i}:00 — ${v}`));
    svg.append(c);
  });
  el.replaceChildren(svg);
}

/** Pie chart: items = [{label, value}] (top 7, the rest as "other") */
function pie(el, items, label) {
  const W = 520, H = 260, R = 110, CX = 130, CY = 130;
  const svg = svgBox(label, W, H);
  let list = items.slice(0, 7);
  const rest = items.slice(7).reduce((a, i) => a + i.value, 0);
  if (rest) list = list.concat([{ label: "其他 other", value: rest }]);
  const total = list.reduce((a, i) => a + i.value, 0) || 1;
  let a0 = -Math.PI / 2;
  list.forEach((it, i) => {
    const a1 = a0 + (2 * Math.PI * it.value) / total;
    const large = a1 - a0 > Math.PI ? 1 : 0;
    const p = (a) => `${CX + R * Math.cos(a)},${CY + R * Math.sin(a)}`;
    const d = list.length === 1 ? `M ${CX - R},${CY} a ${R},${R} 0 1,0 ${2 * R},0 a ${R},${R} 0 1,0 ${-2 * R},0`
      : `M ${CX},${CY} L ${p(a0)} A ${R},${R} 0 ${large} 1 ${p(a1)} Z`;
    const path = s("path", { d, fill: COLORS[i % COLORS.length], class: "slice", "data-value": it.value });
    path.append(s("title", {}, `${it.label}: ${it.value} (${((100 * it.value) / total).toFixed(1)} %)`));
    svg.append(path);
    svg.append(s("rect", { x: 270, y: 20 + i * 28, width: 16, height: 16, fill: COLORS[i % COLORS.length] }));
    svg.append(s("text", { x: 292, y: 33 + i * 28, class: "legend" },
      `${it.label} ${((100 * it.value) / total).toFixed(1)}%`));
    a0 = a1;
  });
  el.replaceChildren(svg);
}

function fmtDur(sec) {
  if (sec === null || sec === undefined) return "未恢复 open";
  if (sec < 60) return `${sec.toFixed(1)} s`;
  if (sec < 3600) return `${(sec / 60).toFixed(1)} min`;
  return `${(sec / 3600).toFixed(1)} h`;
}
const pct = (v) => (v === null || v === undefined ? "—" : `${(100 * v).toFixed(2)} %`);

function render(d) {
  last = d;
  const tb = $("#modules tbody");
  tb.replaceChildren(...d.modules.map((m) => h("tr", { "data-module": m.module, class: m.state === "online" ? "" : "warn" },
    h("th", { scope: "row", text: `${m.titleZh} ${m.module}` }),
    h("td", { class: `state state-${m.state}`, text: `${STATE_ZH[m.state] || ""} ${m.state}` }),
    h("td", { text: m.reason || "" }), h("td", { text: m.lastError || "" }), h("td", { text: String(m.operations) }),
    h("td", { class: m.availability !== null && m.availability < d.availability.target ? "bad" : "", text: pct(m.availability) }))));
  const ops = d.modules.filter((m) => m.operations > 0).map((m) => ({ label: m.module, value: m.operations }));
  bar($("#chart-modules"), ops, "operations per module");
  line($("#chart-hourly"), d.hourly, "operations by hour of day");
  pie($("#chart-share"), d.share.map((x) => ({ label: x.service, value: x.count })), "share per service");
  const av = Object.entries(d.availability.modules).map(([m, a]) => ({ label: m, value: a,
    color: a >= d.availability.target ? "#1b7a3a" : "#c8102e" }));
  bar($("#chart-availability"), av, `availability, overall ${pct(d.availability.overall)}`,
    { target: d.availability.target, fmt: (v) => `${(100 * v).toFixed(1)}%`, max: 1 });
  bar($("#chart-daily"), d.daily.map((x) => ({ label: x.day.slice(5), value: x.count })), "daily usage", { color: "#0b5cad" });
  bar($("#chart-monthly"), d.monthly.map((x) => ({ label: x.month, value: x.count })), "monthly usage", { color: "#00838f" });
  $("#faults tbody").replaceChildren(...(d.faults.length ? d.faults.map((f) => h("tr", { class: `level-${f.level}` },
    h("td", { text: String(f.level) }), h("td", { text: f.module }), h("td", { text: f.kind }), h("td", { text: f.reason }),
    h("td", { text: new Date(f.start).toLocaleString() }), h("td", { text: fmtDur(f.recoverySeconds) })))
    : [h("tr", {}, h("td", { colspan: "6", text: "无故障 no faults" }))]));
  $("#consumables tbody").replaceChildren(...(d.consumables.length ? d.consumables.map((c) => h("tr", { class: `cons-${c.state}` },
    h("td", { text: CONS_ZH[c.name] || c.name }), h("td", { text: c.module }), h("td", { text: STATE_CONS[c.state] || c.state })))
    : [h("tr", {}, h("td", { colspan: "3", text: "未知 unknown" }))]));
  $("#status").textContent = `更新于 updated ${new Date(d.generatedAt).toLocaleString()} · ` +
    `可用率 availability ${pct(d.availability.overall)} ${d.availability.met ? "✓" : "✗"} (≥ 99.5 %)`;
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

$("#login").addEventListener("submit", (e) => { e.preventDefault(); connect($("#token").value.trim()); });
$("#btn-refresh").addEventListener("click", refresh);
$("#days").addEventListener("change", refresh);
$("#btn-csv").addEventListener("click", exportCsv);
$("#btn-json").addEventListener("click", () => last && download("gtsdk-ops.json", "application/json", JSON.stringify(last, null, 2)));
const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromHash) history.replaceState(null, "", location.pathname);
const saved = fromHash || sessionStorage.getItem("gtsdk-ops-token");
if (saved) connect(saved);
