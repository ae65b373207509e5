// Chart helpers on Apache ECharts, shared by the terminal's /ops/ page and the fleet platform's pages.
//
// ECharts itself is loaded by the page as a classic script from /vendor/echarts.min.js (fetched from the npm
// registry at set-up time by scripts/fetch-echarts.sh, never from a CDN).  Every chart gets a tooltip and the
// "save as image" tool; long category axes get a zoom slider.  Each chart element carries the plotted numbers in
// data-values (JSON), so tests and screen readers' companions can read what is drawn.
const PALETTE = ["#0b5cad", "#c8102e", "#1b7a3a", "#e08e0b", "#6a3d9a", "#00838f", "#8d6e63", "#d81b60", "#546e7a",
  "#7cb342", "#5e35b1", "#f4511e", "#3949ab", "#00897b"];
const instances = new Map();

/** The ECharts global, or null when /vendor/echarts.min.js was not fetched. */
export function engine() { return globalThis.echarts || null; }

/** Show a plain message in place of a chart (ECharts missing, no data). */
export function notice(el, text) {
  dispose(el);
  el.replaceChildren(Object.assign(document.createElement("p"), { className: "chart-notice", textContent: text }));
}

function dispose(el) {
  const c = instances.get(el);
  if (c) { c.dispose(); instances.delete(el); }
}

function mount(el, option, values) {
  const ec = engine();
  if (!ec) { notice(el, "图表库未安装 charts unavailable: run scripts/fetch-echarts.sh"); return null; }
  let chart = instances.get(el);
  if (!chart) {
    el.replaceChildren();
    chart = ec.init(el, null, { renderer: "canvas" });
    instances.set(el, chart);
  }
  chart.setOption({ color: PALETTE, animation: false, toolbox: { feature: { saveAsImage: { title: "保存图片 save" } } },
    ...option }, true);
  el.dataset.values = JSON.stringify(values);
  el.setAttribute("role", "img");
  return chart;
}

const zoomIf = (n) => (n > 16 ? [{ type: "slider", height: 18, bottom: 4 }, { type: "inside" }] : []);

/** Bar chart. labels: [..], values: [..]; target draws a dashed line; horizontal for rankings. */
export function bar(el, { labels, values, name = "", target = null, percent = false, horizontal = false,
                          colors = null } = {}) {
  const fmt = (v) => (percent ? `${(100 * v).toFixed(2)} %` : String(v));
  const cat = { type: "category", data: labels, axisLabel: { interval: horizontal ? 0 : "auto", rotate: horizontal ? 0 : 30 } };
  const val = { type: "value", max: percent ? 1 : null, min: percent ? (v) => Math.max(0, Math.min(v.min, target ?? 1) - 0.01) : 0,
    axisLabel: { formatter: percent ? (v) => `${(100 * v).toFixed(1)}%` : null } };
  const data = values.map((v, i) => (colors ? { value: v, itemStyle: { color: colors[i] } } : v));
  return mount(el, {
    tooltip: { trigger: "axis", valueFormatter: fmt },
    grid: { left: horizontal ? 110 : 48, right: 24, top: 28, bottom: labels.length > 16 ? 64 : 56 },
    xAxis: horizontal ? val : cat, yAxis: horizontal ? { ...cat, inverse: true } : val,
    dataZoom: horizontal ? [] : zoomIf(labels.length),
    series: [{ type: "bar", name, data, label: { show: horizontal, position: "right", formatter: (p) => fmt(p.value) },
      markLine: target === null ? undefined : { symbol: "none", lineStyle: { type: "dashed", color: "#c8102e" },
        label: { formatter: `目标 target ${fmt(target)}` }, data: [horizontal ? { xAxis: target } : { yAxis: target }] } }],
  }, values);
}

/** Line chart (e.g. 0–24 h peaks). */
export function line(el, { labels, values, name = "" } = {}) {
  return mount(el, {
    tooltip: { trigger: "axis" }, grid: { left: 48, right: 24, top: 28, bottom: 40 },
    xAxis: { type: "category", data: labels, boundaryGap: false }, yAxis: { type: "value", minInterval: 1 },
    series: [{ type: "line", name, data: values, smooth: true, areaStyle: { opacity: 0.15 },
      markPoint: { data: [{ type: "max", name: "峰值 peak" }] } }],
  }, values);
}

/** Pie chart of [{name, value}] (the top 7 and the rest as 其他 other). */
export function pie(el, items, { name = "" } = {}) {
  let list = items.slice(0, 7);
  const rest = items.slice(7).reduce((a, i) => a + i.value, 0);
  if (rest) list = list.concat([{ name: "其他 other", value: rest }]);
  return mount(el, {
    tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" }, legend: { type: "scroll", orient: "vertical", right: 8, top: 20 },
    series: [{ type: "pie", name, radius: ["35%", "70%"], center: ["35%", "55%"], data: list,
      label: { formatter: "{d}%" } }],
  }, list.map((i) => i.value));
}

/** Stacked bars: labels on x, one series per key of series ({name: [values]}). */
export function stacked(el, { labels, series } = {}) {
  const names = Object.keys(series);
  return mount(el, {
    tooltip: { trigger: "axis" }, legend: { type: "scroll", top: 0 }, grid: { left: 48, right: 24, top: 36, bottom: labels.length > 16 ? 64 : 48 },
    xAxis: { type: "category", data: labels }, yAxis: { type: "value", minInterval: 1 }, dataZoom: zoomIf(labels.length),
    series: names.map((n) => ({ type: "bar", stack: "total", name: n, data: series[n] })),
  }, labels.map((_, i) => names.reduce((a, n) => a + (series[n][i] || 0), 0)));
}

/** Gauge for one ratio against a target (availability, satisfaction). */
export function gauge(el, { value, target, name = "" } = {}) {
  const v = value === null || value === undefined ? 0 : value;
  return mount(el, {
    series: [{ type: "gauge", min: 0, max: 100, name, progress: { show: true, width: 12 },
      axisLine: { lineStyle: { width: 12, color: [[target, "#c8102e"], [1, "#1b7a3a"]] } },
      detail: { formatter: value === null || value === undefined ? "—" : "{value} %", fontSize: 20, offsetCenter: [0, "60%"] },
      title: { offsetCenter: [0, "85%"] }, data: [{ value: +(100 * v).toFixed(2), name }] }],
  }, [v]);
}

export function resizeAll() { for (const c of instances.values()) c.resize(); }
globalThis.addEventListener?.("resize", resizeAll);
