// Charts of the fleet pages: the shared helpers of web/common/charts.js (Apache ECharts, also used by /ops/), plus
// the distribution map, which only the fleet draws.  ECharts is loaded as a classic script from
// /fleet/vendor/echarts.min.js (fetched from the npm registry at set-up by scripts/fetch-echarts.sh).
import { engine, notice } from "/common/charts.js";

export { bar, engine, gauge, line, notice, pie, resizeAll } from "/common/charts.js";

const maps = new Map();

/** Terminals on a plain longitude/latitude grid — no map tiles, no boundaries (docs/fleet.md says why).
 *  points: [{id, name, lon, lat, status}] with status ok | offline | fault; onClick(id).  The element carries the
 *  plotted terminal ids in data-values. */
export function scatterMap(el, points, { onClick = null } = {}) {
  const ec = engine();
  if (!ec) { notice(el, "图表库未安装 charts unavailable: run scripts/fetch-echarts.sh"); return null; }
  const colours = { ok: "#1b7a3a", offline: "#8a8f98", fault: "#c8102e" };
  const labels = { ok: "在线 online", offline: "离线 offline", fault: "故障 fault" };
  const series = Object.keys(colours).map((k) => ({
    type: "scatter", name: labels[k], symbolSize: 11, itemStyle: { color: colours[k] },
    data: points.filter((p) => p.status === k).map((p) => ({ value: [p.lon, p.lat], id: p.id, name: p.name })),
  }));
  const axis = (vals, name) => ({ type: "value", name, scale: true,
    min: vals.length ? Math.floor((Math.min(...vals) - 0.05) * 100) / 100 : null,
    max: vals.length ? Math.ceil((Math.max(...vals) + 0.05) * 100) / 100 : null, splitLine: { lineStyle: { opacity: 0.3 } } });
  let c = maps.get(el);
  if (!c) { el.replaceChildren(); c = ec.init(el, null, { renderer: "canvas" }); maps.set(el, c); }
  c.setOption({
    animation: false, backgroundColor: "transparent",
    tooltip: { trigger: "item", formatter: (p) => `${p.data.name || p.data.id}<br>${p.data.id}<br>${p.value[0].toFixed(4)}, ${p.value[1].toFixed(4)}` },
    legend: { top: 0 }, grid: { left: 56, right: 24, top: 32, bottom: 40 },
    xAxis: axis(points.map((p) => p.lon), "经度 lon"), yAxis: axis(points.map((p) => p.lat), "纬度 lat"), series,
  }, true);
  el.dataset.values = JSON.stringify(points.map((p) => p.id));
  el.setAttribute("role", "img");
  if (onClick) { c.off("click"); c.on("click", (p) => onClick(p.data.id)); }
  return c;
}

globalThis.addEventListener?.("resize", () => { for (const c of maps.values()) c.resize(); });
