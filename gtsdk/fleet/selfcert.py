"""Self-certification, the terminal's side of the ``conformance`` command (7.4.4; docs/fleet.md).

The terminal runs the terminal tier of the conformance suite — ``gtsdk certify``, docs/conformance.md — against its
own service, signs the report with its SM2 key and uploads it to the platform:

* the suite runs in a **child process** (``gtsdk certify``) with a budget, and is killed when it overruns the
  budget by :data:`SLACK` seconds, so the command channel is never held longer;
* it runs with two tokens made for the run — app and maintenance scope, expiring with the run's deadline — which are
  **revoked afterwards**, whatever happened; they reach the child through its environment, never its command line
  (``/proc/<pid>/cmdline`` is readable by every local user, ``environ`` only by the owner);
* the child signs the report (``--sign-key``) with ``<home>/terminal-sm2-key.pem``, the key the terminal registered
  at enrolment (:func:`gtsdk.fleet.provision.sm2_proof`);
* the report — JSON, tens to hundreds of kilobytes — is compressed with zlib and published on ``…/res`` in parts
  of at most :data:`PART_BYTES` (:func:`parts`) under a fresh upload id, each acknowledged by the broker, *before*
  the command's result, which carries the summary (tier, counts, time) and the upload's id, parts, size and
  SHA-256.  The platform reassembles the parts in its database, whichever ingest worker receives which
  (gtsdk.fleet.certifications).

A certification does not start while a citizen's business transaction is open (it would take the devices from
them): it waits up to ``wait`` seconds and answers ``deviceBusy`` otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gtsdk.errors import ErrorCode, GtsdkError

#: bytes of compressed report per message (well under the broker's 1 MiB packet limit once in base64)
PART_BYTES = 192 * 1024
#: the largest compressed report uploaded (the platform accepts as many parts as this needs)
MAX_REPORT_BYTES = 8 * 1024 * 1024
MAX_PARTS = -(-MAX_REPORT_BYTES // PART_BYTES)
DEFAULT_BUDGET, MIN_BUDGET, MAX_BUDGET = 120.0, 10.0, 900.0
#: seconds the child may overrun its budget (start-up, discovery, writing the report) before it is killed
SLACK = 60.0
TOKEN_LABEL = "fleet self-certification (short-lived)"


@dataclass(frozen=True)
class Request:
    budget: float = DEFAULT_BUDGET
    modules: list[str] | None = None
    only: list[str] | None = None
    wait: float = 60.0

    @classmethod
    def from_params(cls, p: dict[str, Any]) -> Request:
        unknown = set(p) - {"budget", "modules", "only", "wait"}
        if unknown:
            raise GtsdkError(ErrorCode.INVALID_DATA, "unknown parameter", field=sorted(unknown)[0])
        budget = p.get("budget", DEFAULT_BUDGET)
        if isinstance(budget, bool) or not isinstance(budget, int | float) or not MIN_BUDGET <= budget <= MAX_BUDGET:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"budget must be {MIN_BUDGET:.0f}..{MAX_BUDGET:.0f} s",
                             field="budget")
        wait = p.get("wait", 60.0)
        if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait <= 600:
            raise GtsdkError(ErrorCode.INVALID_DATA, "wait must be 0..600 s", field="wait")

        def names(key: str) -> list[str] | None:
            v = p.get(key)
            if v is None:
                return None
            if not isinstance(v, list) or not v or len(v) > 64 or not all(
                    isinstance(x, str) and 0 < len(x) <= 64 and x.replace(".", "").replace("_", "").isalnum()
                    for x in v):
                raise GtsdkError(ErrorCode.INVALID_DATA, f"{key} must be a list of identifiers", field=key)
            return list(v)
        return cls(float(budget), names("modules"), names("only"), float(wait))


def run_suite(url: str, home: Path, req: Request, *, python: str = sys.executable) -> bytes:
    """Run ``gtsdk certify`` against *url* with short-lived tokens of *home*; the signed report.json's bytes."""
    from gtsdk.audit import Signer
    from gtsdk.server.tokens import PREFIX, TokenStore

    key_file = home / "terminal-sm2-key.pem"
    if Signer(home).key is None or not key_file.exists():
        raise GtsdkError(ErrorCode.CONFIG_ERROR, "no terminal SM2 key to sign the report (gtsdk.crypto)",
                         field="terminal-sm2-key.pem")
    store = TokenStore(home)
    deadline = datetime.now(UTC) + timedelta(seconds=req.budget + SLACK + 60)
    app_token = store.create(["app"], app="selfcert", label=TOKEN_LABEL, expires=deadline)
    maint_token = store.create(["maintenance"], app="selfcert", label=TOKEN_LABEL, expires=deadline)
    made = [t[len(PREFIX):].partition("_")[0] for t in (app_token, maint_token)]
    try:
        with tempfile.TemporaryDirectory(prefix="gtsdk-selfcert-") as out:
            args = [python, "-c", "import sys; from gtsdk.cli import main; sys.exit(main())", "certify",
                    "--target", url, "--ca", str(home / "ca.pem"), "--budget", str(req.budget), "--out", out,
                    "--sign-key", str(key_file)]
            if req.modules:
                args += ["--modules", ",".join(req.modules)]
            if req.only:
                args += ["--only", ",".join(req.only)]
            env = {**os.environ, "GTSDK_TOKEN": app_token, "GTSDK_MAINTENANCE_TOKEN": maint_token}
            proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                proc.wait(req.budget + SLACK)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
                raise GtsdkError(ErrorCode.TIME_OUT, f"the suite ran over {req.budget + SLACK:.0f} s") from None
            report = Path(out) / "report.json"
            if proc.returncode not in (0, 1, 2) or not report.exists():
                raise GtsdkError(ErrorCode.INTERNAL_ERROR, f"the suite ended with status {proc.returncode}")
            return report.read_bytes()
    finally:
        for tid in made:
            store.revoke(tid)


def summary(report: bytes) -> dict[str, Any]:
    """What the command's result says about the report (the platform stores and shows it)."""
    d = json.loads(report)
    s = d.get("summary") or {}
    return {"tier": d.get("tier_reached"), "passed": not (s.get("counts", {}).get("fail") or
                                                           s.get("counts", {}).get("error")),
            "generated": d.get("finished") or d.get("started"), "counts": s.get("counts", {}),
            "seconds": s.get("seconds"), "tool": d.get("tool", ""), "tiers": d.get("tiers", {}),
            "notRun": len(d.get("incomplete") or [])}


def parts(upload_id: str, report: bytes) -> tuple[list[bytes], dict[str, Any]]:
    """The ``…/res`` messages carrying *report* (compressed, in parts), and the upload's description for the
    command's result."""
    packed = zlib.compress(report, 9)
    if len(packed) > MAX_REPORT_BYTES:
        raise GtsdkError(ErrorCode.PAYLOAD_TOO_LARGE, f"report of {len(packed)} bytes compressed "
                         f"(limit {MAX_REPORT_BYTES})")
    digest = hashlib.sha256(packed).hexdigest()
    chunks = [packed[i:i + PART_BYTES] for i in range(0, len(packed), PART_BYTES)] or [b""]
    msgs = [json.dumps({"reportPart": {"upload": upload_id, "index": i, "count": len(chunks), "sha256": digest,
                                       "data": base64.b64encode(c).decode()}}, separators=(",", ":")).encode()
            for i, c in enumerate(chunks)]
    return msgs, {"upload": upload_id, "encoding": "zlib", "parts": len(chunks), "bytes": len(packed),
                  "size": len(report), "sha256": digest}


def certify(url: str, home: Path, params: dict[str, Any], *,
            publish: Callable[[bytes, float], None], busy: Callable[[], int] | None = None) -> dict[str, Any]:
    """The ``conformance`` command: run, sign, upload (each part through *publish*, which waits for the broker's
    acknowledgement), and the result's data."""
    req = Request.from_params(params)
    if busy is not None:
        end = time.monotonic() + req.wait
        while busy():
            if time.monotonic() >= end:
                raise GtsdkError(ErrorCode.DEVICE_BUSY, "a business transaction is open; certify later")
            time.sleep(0.5)
    report = run_suite(url, home, req)
    msgs, upload = parts(uuid.uuid4().hex, report)
    for m in msgs:
        publish(m, 30.0)
    return {**summary(report), "report": upload}
