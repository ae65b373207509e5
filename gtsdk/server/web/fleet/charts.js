// Chart helpers for the fleet pages on Apache ECharts (loaded as a classic script from /fleet/vendor/echarts.min.js,
// fetched from the npm registry at set-up by scripts/fetch-echarts.sh — never from a CDN).  Same functions and
// arguments as the shared helper web/common/charts.js of the operations page, plus scatterMap(); each chart element
// carries what it plots in data-values (JSON) for tests and assistive tools.
const PALETTE = ["#0b5cad", "#c8102e", "#1b7a3a", "#e08e0b", "#6a3d9a", "#00838f", "#8d6e63", "#d81b60"];
const charts = new Map();

export function engine() { return globalThis.echarts || null; }

export function notice(el, text) {
  const c = charts.get(el);
  if (c) { c.dispose(); charts.delete(el); }
  el.replaceChildren(Object.assign(document.createElement("p"), { className: "chart-notice", textContent: text }));
}

function mount(el, option, values, theme) {
  const ec = engine();
  if (!ec) { notice(el, "图表库未安装 charts unavailable: run scripts/fetch-echarts.sh"); return null; }
  let c = charts.get(el);
  if (!c) { el.replaceChildren(); c = ec.init(el, theme || null, { renderer: "canvas" }); charts.set(el, c); }
  c.setOption({ color: PALETTE, animation: false, backgroundColor: "transparent", ...option }, true);
  el.dataset.values = JSON.stringify(values);
  el.setAttribute("role", "img");
  return c;
}

export function bar(el, { labels, values, name = "", target = null, percent = false, horizontal = false } = {}) {
  const fmt = (v) => (percent ? `${(100 * v).toFixed(2)} %` : String(v));
  const cat = { type: "category", data: labels, axisLabel: { interval: horizontal ? 0 : "auto", rotate: horizontal ? 0 : 30 } };
  const val = { type: "value", min: 0, max: percent ? 1 : null,
    axisLabel: { formatter: percent ? (v) => `${(100 * v).toFixed(0)}%` : null } };
  return mount(el, {
    tooltip: { trigger: "axis", valueFormatter: fmt },
    grid: { left: horizontal ? 130 : 48, right: 40, top: 24, bottom: horizontal ? 24 : 64 },
    xAxis: horizontal ? val : cat, yAxis: horizontal ? { ...cat, inverse: true } : val,
    series: [{ type: "bar", name, data: values, label: { show: horizontal, position: "right", formatter: (p) => fmt(p.value) },
      markLine: target === null ? undefined : { symbol: "none", lineStyle: { type: "dashed", color: "#c8102e" },
        label: { formatter: `目标 ${fmt(target)}` }, data: [horizontal ? { xAxis: target } : { yAxis: target }] } }],
  }, values);
}

export function line(el, { labels, values, name = "" } = {}) {
  return mount(el, {
    tooltip: { trigger: "axis" }, grid: { left: 48, right: 24, top: 24, bottom: 32 },
    xAxis: { type: "category", data: labels, boundaryGap: false }, yAxis: { type: "value", minInterval: 1 },
    series: [{ type: "line", name, data: values, smooth: true, areaStyle: { opacity: 0.15 },
      markPoint: { data: [{ type: "max", name: "峰值 peak" }] } }],
  }, values);
}

export function pie(el, items, { name = "" } = {}) {
  let list = items.slice(0, 7);
  const rest = items.slice(7).reduce((a, i) => a + i.value, 0);
  if (rest) list = list.concat([{ name: "其他 other", value: rest }]);
  return mount(el, { tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
    series: [{ type: "pie", name, radius: ["35%", "70%"], data: list, label: { formatter: "{b} {d}%" } }] },
  list.map((i) => i.value));
}

export function gauge(el, { value, target, name = "" } = {}) {
  const v = value === null || value === undefined ? 0 : value;
  return mount(el, { series: [{ type: "gauge", min: 0, max: 100, name, progress: { show: true, width: 10 },
    axisLine: { lineStyle: { width: 10, color: [[target, "#c8102e"], [1, "#1b7a3a"]] } },
    detail: { formatter: value === null || value === undefined ? "—" : "{value} %", fontSize: 18, offsetCenter: [0, "60%"] },
    title: { offsetCenter: [0, "88%"] }, data: [{ value: +(100 * v).toFixed(2), name }] }] }, [v]);
}

/** Terminals on a plain longitude/latitude grid — no map tiles, no boundaries (docs/fleet.md says why).
 *  points: [{id, name, lon, lat, status}] with status ok | offline | fault; onClick(id). */
export function scatterMap(el, points, { onClick = null } = {}) {
  const colours = { ok: "#1b7a3a", offline: "#8a8f98", fault: "#c8102e" };
  const labels = { ok: "在线 online", offline: "离线 offline", fault: "故障 fault" };
  const series = Object.keys(colours).map((k) => ({
    type: "scatter", name: labels[k], symbolSize: 11, itemStyle: { color: colours[k] },
    data: points.filter((p) => p.status === k).map((p) => ({ value: [p.lon, p.lat], id: p.id, name: p.name })),
  }));
  const lons = points.map((p) => p.lon), lats = points.map((p) => p.lat);
  const pad = 0.05;
  const axis = (vals, name) => ({ type: "value", name, scale: true,
    min: vals.length ? Math.floor((Math.min(...vals) - pad) * 100) / 100 : null,
    max: vals.length ? Math.ceil((Math.max(...vals) + pad) * 100) / 100 : null, splitLine: { lineStyle: { opacity: 0.3 } } });
  const c = mount(el, {
    tooltip: { trigger: "item", formatter: (p) => `${p.data.name || p.data.id}<br>${p.data.id}<br>${p.value[0].toFixed(4)}, ${p.value[1].toFixed(4)}` },
    legend: { top: 0 }, grid: { left: 56, right: 24, top: 32, bottom: 40 },
    xAxis: axis(lons, "经度 lon"), yAxis: axis(lats, "纬度 lat"), series,
  }, points.map((p) => p.id));
  if (c && onClick) { c.off("click"); c.on("click", (p) => onClick(p.data.id)); }
  return c;
}

export function resizeAll() { for (const c of charts.values()) c.resize(); }
globalThis.addEventListener?.("resize", resizeAll);
