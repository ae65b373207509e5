"""``gtsdk certify`` (terminal tier, black box over HTTPS), ``gtsdk certify verify``
and ``gtsdk certify-driver`` (driver tier, in process).

Exit status: 0 when a tier was earned and nothing failed; 1 when a check failed or
erred; 2 when nothing failed but not even the lowest tier is complete (checks that
could not run here are listed with what they need).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


def _write(report: Any, out: Path, sign_key: Path | None) -> None:
    from gtsdk.conformance import html, signing

    if sign_key is not None:
        from gtsdk.crypto import load_private_pem

        signing.sign(report, load_private_pem(sign_key.read_bytes()))
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
    (out / "report.html").write_text(html.render(report), encoding="utf-8")


MARKS = {"pass": "ok  ", "fail": "FAIL", "notRun": "skip", "notApplicable": "n/a ", "error": "ERR "}


def _progress(res: Any) -> None:
    where = f"[{res.module}] " if res.module else ""
    needs = f" (needs {res.needs})" if res.needs else ""
    click.echo(f"{MARKS[res.outcome.value]} {res.duration_ms / 1000:6.1f}s {res.id} {where}{res.reason}{needs}")


def _summary(report: Any, out: Path) -> None:
    c = report.summary["counts"]
    tier = report.tier_reached.value if report.tier_reached else "none"
    click.echo(f"\n{c['pass']} passed, {c['fail']} failed, {c['error']} errors, {c['notRun']} not run, "
               f"{c['notApplicable']} not applicable, in {report.summary['seconds']:.1f} s of checks")
    for t, state in report.tiers.items():
        click.echo(f"  {t}: {state}")
    for m in report.incomplete:
        where = f" [{m.module}]" if m.module else ""
        click.echo(f"  {m.tier.value} incomplete: {m.check}{where} needs {m.needs}")
    slow = ", ".join(f"{s['check']}{'[' + s['module'] + ']' if s['module'] else ''} {s['seconds']:.1f}s"
                     for s in report.summary["slowest"][:5])
    click.echo(f"slowest checks: {slow}")
    click.echo(f"tier reached: {tier}; report: {out / 'report.html'}")


def _exit(report: Any) -> None:
    if not report.passed:
        raise SystemExit(1)
    if report.tier_reached is None:
        raise SystemExit(2)


@click.group(invoke_without_command=True)
@click.option("--target", help="service URL, e.g. https://127.0.0.1:8801")
@click.option("--token", envvar="GTSDK_TOKEN", help="app-scope bearer token")
@click.option("--maintenance-token", envvar="GTSDK_MAINTENANCE_TOKEN",
              help="maintenance-scope token: drives a simulated terminal's world and reads the audit export")
@click.option("--ca", type=click.Path(dir_okay=False, path_type=Path), help="CA certificate to trust")
@click.option("--origin", help="the kiosk page's origin, which CORS must allow (e.g. https://kiosk.example.gov.cn)")
@click.option("--modules", help="comma-separated module ids (default: all discovered)")
@click.option("--only", help="comma-separated check ids or prefixes")
@click.option("--interactive", is_flag=True, help="prompt an operator for checks that need a person")
@click.option("--budget", type=float, default=180.0, show_default=True, help="seconds for the whole run")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("conformance-report"),
              show_default=True)
@click.option("--sign-key", type=click.Path(dir_okay=False, path_type=Path), help="lab SM2 private key (PEM)")
@click.pass_context
def command(ctx: click.Context, target: str | None, token: str | None, maintenance_token: str | None,
            ca: Path | None, origin: str | None, modules: str | None, only: str | None, interactive: bool,
            budget: float, out: Path, sign_key: Path | None) -> None:
    """Certify a running terminal service (terminal tier; it need not be gtsdk)."""
    if ctx.invoked_subcommand is not None:
        return
    if not target or not token:
        raise click.UsageError("--target and --token are required")
    from gtsdk.conformance.terminal_tier import certify_terminal

    report = certify_terminal(target, token, maintenance_token=maintenance_token, ca=ca, origin=origin,
                              modules=modules.split(",") if modules else None,
                              only=only.split(",") if only else None, interactive=interactive, budget=budget,
                              progress=_progress)
    _write(report, out, sign_key)
    _summary(report, out)
    _exit(report)


@command.command("verify")
@click.argument("report", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--pub", type=click.Path(dir_okay=False, path_type=Path), help="the lab's SM2 public key (PEM)")
def verify(report: Path, pub: Path | None) -> None:
    """Check the SM2 signature of REPORT.json."""
    from gtsdk.conformance import signing
    from gtsdk.crypto import load_public_pem

    data = json.loads(report.read_text(encoding="utf-8"))
    ok, why = signing.verify(data, load_public_pem(pub.read_bytes()) if pub else None)
    click.echo(why)
    if not ok:
        raise SystemExit(1)


@click.command("certify-driver")
@click.argument("entry")
@click.option("--settings", default="{}", help="driver settings as JSON, or @file.json")
@click.option("--simulate", is_flag=True, help="run against gtsdk's simulator of the device")
@click.option("--interactive", is_flag=True, help="prompt an operator for what a person does (card, finger, unplug)")
@click.option("--only", help="comma-separated check ids or prefixes")
@click.option("--budget", type=float, default=600.0, show_default=True, help="seconds for the whole run")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("conformance-report"),
              show_default=True)
@click.option("--sign-key", type=click.Path(dir_okay=False, path_type=Path))
def certify_driver(entry: str, settings: str, simulate: bool, interactive: bool, only: str | None, budget: float,
                   out: Path, sign_key: Path | None) -> None:
    """Certify the driver plugin ENTRY (<module>.<driver>) against its module contract."""
    from gtsdk.conformance.driver_tier import certify_driver as run
    from gtsdk.errors import GtsdkError

    text = Path(settings[1:]).read_text(encoding="utf-8") if settings.startswith("@") else settings
    try:
        report = run(entry, json.loads(text), simulate=simulate, interactive=interactive, budget=budget,
                     only=only.split(",") if only else None, progress=_progress)
    except GtsdkError as e:
        raise click.ClickException(e.detail) from None
    _write(report, out, sign_key)
    _summary(report, out)
    _exit(report)
