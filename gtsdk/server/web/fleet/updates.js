// The fleet page's update panel (docs/updates.md): rollouts with their state and stage, updated / failed counts,
// the newest rollout's stages as a chart, and pause / resume.  Loaded by app.js with its api() helper.
import * as charts from "./charts.js";

const STATES = { running: "进行中 running", paused: "已暂停 paused", halted: "已熔断 halted", done: "完成 done" };

export async function loadUpdates(api, refresh) {
  const list = await api("/rollouts");
  const tb = document.querySelector("#rollouts tbody");
  tb.replaceChildren(...list.map((r) => {
    const tr = document.createElement("tr");
    const stage = r.stages[r.stage] ? r.stages[r.stage].name : "—";
    const cells = [r.version, STATES[r.state] || r.state, stage, `${r.updated} / ${r.total}`, String(r.failed)];
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.append(td); }
    const td = document.createElement("td");
    const to = r.state === "running" ? "pause" : (r.state === "paused" || r.state === "halted") ? "resume" : null;
    if (to) {
      const b = document.createElement("button");
      b.type = "button"; b.textContent = to === "pause" ? "暂停 Pause" : "继续 Resume"; b.dataset.rollout = r.id;
      b.addEventListener("click", async () => { await api(`/rollouts/${r.id}/${to}`, { method: "POST" }); await refresh(); });
      td.append(b);
    }
    if (r.reason) { const s = document.createElement("small"); s.textContent = ` ${r.reason}`; td.append(s); }
    tr.append(td);
    return tr;
  }));
  const newest = list[0];
  const el = document.querySelector("#chart-rollout");
  if (!newest) { charts.notice(el, "暂无更新 no rollouts"); return; }
  charts.bar(el, { labels: newest.stages.map((s) => s.name),
    values: newest.stages.map((s) => (s.size ? s.counts.updated / s.size : 0)), percent: true,
    name: `${newest.version} 已更新 updated` });
}
