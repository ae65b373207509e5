"""A self-contained HTML page for a report: no scripts, no external files.

Per module and per clause, every check with its outcome and evidence, plus two
charts people would rather look at than read: pass rate per module and
latency per check.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict

from .model import CheckResult, Outcome, Report

COLOURS = {Outcome.PASS: "#2e7d32", Outcome.FAIL: "#c62828", Outcome.NOT_RUN: "#9e9e9e", Outcome.ERROR: "#ef6c00",
           Outcome.NOT_APPLICABLE: "#bdbdbd"}
LABELS = {Outcome.PASS: "通过 pass", Outcome.FAIL: "不通过 fail", Outcome.NOT_RUN: "未执行 not run",
          Outcome.ERROR: "错误 error", Outcome.NOT_APPLICABLE: "不适用 not applicable"}
TIER_STATES = {"complete": "完成 complete", "failed": "不通过 failed", "incomplete": "未完成 incomplete",
               "empty": "无检查 no checks"}


def _bar_chart(rows: list[tuple[str, dict[str, int]]]) -> str:
    """Stacked horizontal bars: one row per module, segments per outcome."""
    width, row_h, label_w = 640, 22, 150
    h = row_h * len(rows) + 30
    parts = [f'<svg role="img" aria-label="pass rate per module" width="{width + label_w}" height="{h}" '
             f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="12">']
    for i, (name, counts) in enumerate(rows):
        y = i * row_h + 4
        total = sum(counts.values()) or 1
        parts.append(f'<text x="0" y="{y + 14}">{html.escape(name)}</text>')
        x = float(label_w)
        for o in Outcome:
            n = counts.get(o.value, 0)
            if not n:
                continue
            w = width * n / total
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 6}" fill="{COLOURS[o]}">'
                         f"<title>{html.escape(name)}: {n} {o.value}</title></rect>")
            if w > 18:
                parts.append(f'<text x="{x + 4:.1f}" y="{y + 12}" fill="#fff">{n}</text>')
            x += w
    parts.append("</svg>")
    return "".join(parts)


def _latency_chart(results: list[CheckResult]) -> str:
    rows = sorted(((r.id + (f" [{r.module}]" if r.module else ""), r.duration_ms) for r in results),
                  key=lambda t: -t[1])[:25]
    if not rows:
        return ""
    top = max(v for _, v in rows) or 1.0
    width, row_h, label_w = 520, 18, 300
    parts = [f'<svg role="img" aria-label="duration per check" width="{width + label_w + 80}" '
             f'height="{row_h * len(rows) + 10}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" '
             f'font-size="11">']
    for i, (name, ms) in enumerate(rows):
        y = i * row_h + 2
        w = width * ms / top
        parts.append(f'<text x="0" y="{y + 12}">{html.escape(name[:48])}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{row_h - 5}" fill="#1565c0"/>'
                     f'<text x="{label_w + w + 4:.1f}" y="{y + 12}">{ms:.0f} ms</text>')
    parts.append("</svg>")
    return "".join(parts)


def _incomplete(report: Report) -> str:
    if not report.incomplete:
        return ""
    items = "".join(f"<li>{html.escape(m.tier.value)}: <code>{html.escape(m.check)}</code>"
                    + (f" [{html.escape(m.module)}]" if m.module else "")
                    + f" — needs {html.escape(m.needs)}</li>" for m in report.incomplete)
    return f"<h2>Checks that could not run here</h2><ul>{items}</ul>"


def render(report: Report) -> str:
    by_module: dict[str, dict[str, int]] = defaultdict(lambda: {o.value: 0 for o in Outcome})
    for r in report.results:
        by_module[r.module or "service"][r.outcome.value] += 1
    by_clause: dict[str, list[CheckResult]] = defaultdict(list)
    for r in report.results:
        by_clause[r.clause].append(r)
    counts = report.summary.get("counts", {})
    sig = "signed (SM2-with-SM3)" if report.signature else "not signed"
    rows = []
    for r in report.results:
        ev = html.escape(json.dumps(r.evidence, ensure_ascii=False, indent=1)[:4000]) if r.evidence else ""
        rows.append(
            f'<tr class="{r.outcome.value}"><td>{html.escape(r.module or "service")}</td>'
            f"<td><code>{html.escape(r.id)}</code><br>{html.escape(r.title)}</td>"
            f"<td title=\"{html.escape(' / '.join(r.clause_text.values()))}\">{html.escape(r.clause)}</td>"
            f"<td>{r.tier.value}</td><td style=\"color:{COLOURS[r.outcome]};font-weight:bold\">"
            f"{LABELS[r.outcome]}</td><td>{html.escape(r.reason)}"
            + (f"<br><i>needs: {html.escape(r.needs)}</i>" if r.needs else "")
            + (f"<details><summary>evidence</summary><pre>{ev}</pre></details>" if ev else "")
            + f"</td><td>{r.duration_ms / 1000:.1f} / {r.budget_s:g}</td></tr>")
    clause_rows = "".join(
        f"<tr><td>{html.escape(c)}</td><td>{sum(r.outcome == Outcome.PASS for r in rs)}</td>"
        f"<td>{sum(r.outcome in (Outcome.FAIL, Outcome.ERROR) for r in rs)}</td>"
        f"<td>{sum(r.outcome == Outcome.NOT_RUN for r in rs)}</td></tr>"
        for c, rs in sorted(by_clause.items()))
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>gtsdk 一致性测试报告 — {html.escape(report.target)}</title>
<style>
body{{font-family:"Noto Sans CJK SC","Noto Sans",sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;width:100%;margin:1em 0}} td,th{{border:1px solid #ccc;padding:4px 6px;
vertical-align:top;font-size:13px}} th{{background:#f0f0f0}} tr.fail td,tr.error td{{background:#fff3f3}}
pre{{white-space:pre-wrap;max-width:60em}} .tier{{font-size:1.4em;font-weight:bold}}
</style></head><body>
<h1>政务服务自助终端一致性测试报告<br><small>gtsdk conformance report</small></h1>
<p>Target: <code>{html.escape(report.target)}</code> · kind: {html.escape(report.kind)} ·
schema {html.escape(report.schema_version)} · {html.escape(report.tool)}<br>
Started {report.started.isoformat()} · finished {report.finished.isoformat() if report.finished else "-"} ·
{sig}</p>
<p class="tier">Tier reached: {report.tier_reached.value if report.tier_reached else "none"}</p>
<p>{" · ".join(f"{html.escape(t)}: {TIER_STATES.get(st, st)}" for t, st in report.tiers.items())}</p>
{_incomplete(report)}
<p>Checks: {counts.get("pass", 0)} pass · {counts.get("fail", 0)} fail · {counts.get("error", 0)} error ·
{counts.get("notRun", 0)} not run · {counts.get("notApplicable", 0)} not applicable (a check that did not run
is never counted as passed: its tier stays incomplete)</p>
<h2>Pass rate per module</h2>
{_bar_chart(sorted(by_module.items()))}
<h2>Per clause</h2>
<table><tr><th>clause</th><th>pass</th><th>fail</th><th>not run</th></tr>{clause_rows}</table>
<h2>Duration per check</h2>
{_latency_chart(report.results)}
<h2>All checks</h2>
<table><tr><th>module</th><th>check</th><th>clause</th><th>tier</th><th>outcome</th><th>reason / evidence</th>
<th>s / budget</th></tr>
{"".join(rows)}
</table>
</body></html>
"""
