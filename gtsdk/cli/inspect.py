"""``gtsdk inspect``: run an inspection (巡检, clause 10.2.2 a) on the running service now and print its report.

Every module's internal health check (no media consumed, no user disturbed); the service waits for open
transactions to end first.  Exit status: 0 all modules fine, 1 findings, 2 the inspection could not run.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from gtsdk.cli.serve import HOME_HELP

TOKEN_LABEL = "gtsdk inspect (short-lived)"


@click.command()
@click.option("--url", default="https://127.0.0.1:8801", show_default=True, help="the service")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), help=HOME_HELP)
@click.option("--token", envvar="GTSDK_MAINTENANCE_TOKEN",
              help="maintenance token (default: a five-minute one made from the home's token store)")
@click.option("--wait", type=click.FloatRange(0, 3600), default=None,
              help="seconds to wait for open transactions (default: [records] inspection_wait)")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def command(url: str, home: Path | None, token: str | None, wait: float | None, as_json: bool) -> None:
    """Inspect every module now (10.2.2 a) and print the findings."""
    import httpx

    from gtsdk.client import ServiceError, ssl_context
    from gtsdk.home import home_dir
    from gtsdk.server.tokens import PREFIX, TokenStore

    h = home_dir(home)
    made: str | None = None
    store = TokenStore(h)
    if not token:
        token = store.create(["maintenance"], app="maintenance", label=TOKEN_LABEL,
                             expires=datetime.now(UTC) + timedelta(minutes=5))
        made = token[len(PREFIX):].partition("_")[0]
    body = {} if wait is None else {"wait": wait}
    try:
        with httpx.Client(base_url=url, verify=ssl_context(h / "ca.pem"), timeout=(wait or 900) + 120,
                          headers={"Authorization": f"Bearer {token}"}) as c:
            deadline = time.monotonic() + 10  # the service reloads its token store every few seconds
            while True:
                try:
                    resp = c.post("/v1/ops/inspections", json=body)
                except httpx.HTTPError as e:
                    raise click.ClickException(f"service not reachable at {url}: {type(e).__name__}") from None
                env = resp.json()
                if env.get("code") != "unauthorized" or made is None or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
    finally:
        if made is not None:
            store.revoke(made)
    if env.get("code") != "success":
        err = ServiceError(env.get("code", "internalError"), env.get("message", ""), data=env.get("data"))
        click.echo(f"inspection not run: {err}", err=True)
        raise SystemExit(2)
    report = env["data"]
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        click.echo(f"inspection {report['id']} ({report['trigger']}) {report['started']} — "
                   f"{'all fine' if report['ok'] else 'findings'}")
        for f in report["findings"]:
            mark = "ok " if f["ok"] else f"L{f.get('level') or '?'}"
            click.echo(f"  {mark}  {f['module']:<16} {f.get('code') or '':<20} {f.get('text', '')}")
    raise SystemExit(0 if report["ok"] else 1)
