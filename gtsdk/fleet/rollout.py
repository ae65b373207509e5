"""Staged rollouts of signed update bundles and remote configuration (issue #17; 9.1.1.2 d, 10.2.2 c).

A province or city user uploads a bundle (refused unless signed by a release key the platform trusts, in
``<platform home>/release-keys/``), then starts a rollout: the terminals in the caller's scope that the bundle
targets, narrowed by region prefixes and models, are ordered by a hash of (rollout, terminal) and cut into stages —
a canary group (terminal ids, or the first *n*), then cumulative percentages (e.g. 10, 50, 100).  Every terminal's
stage is fixed when the rollout is created.

:meth:`Rollouts.tick` (the platform's rollout thread, every few seconds) moves the rollout on:

* a target of a launched stage whose terminal is online gets an ``update`` command (signed like every command)
  naming the bundle's SM3 digest, size and download URL; an offline one stays pending and is sent when it
  returns, however late;
* what happened is read from the command's answer (refused or staged) and then from the terminal's heartbeats,
  where the terminal reports its current version, the version on probation and the versions that failed
  (:func:`gtsdk.updates.remote.status`) — state, not events, so a lost message costs one heartbeat;
* a stage is finished when every target in it that could be reached is done; if its failure rate is above the
  rollout's threshold the rollout halts (nothing further is sent), otherwise the next stage starts.

Pause stops sending (answers and heartbeats are still read); resume goes on.  Terminal states: ``pending`` →
``sent`` → ``staged`` → ``updated``, or ``failed`` (refused, certification, crash loop, health: the code says).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import tempfile
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import Field
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    and_,
    select,
    update,
)

from gtsdk.crypto import load_public_pem
from gtsdk.crypto.hashing import SM3
from gtsdk.driver import Model
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.fleet import commands as cmds
from gtsdk.fleet.provision import now_naive
from gtsdk.fleet.store import db
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.users import User
from gtsdk.updates import bundle as bundles
from gtsdk.updates import errors as ue
from gtsdk.updates.manifest import Manifest
from gtsdk.updates.trust import Identity, targeted

log = logging.getLogger("gtsdk.fleet.rollout")

MAX_UPLOAD = bundles.MAX_BUNDLE_BYTES
#: an update command may wait this long for an offline terminal's return (the broker keeps it meanwhile)
COMMAND_LIFETIME = 6 * 3600.0
#: a terminal that has not reported the outcome this long after the command is counted failed (timeOut)
OUTCOME_TIMEOUT = 3600.0
FINAL = ("updated", "failed")
RUNNING, PAUSED, HALTED, DONE = "running", "paused", "halted", "done"

metadata = MetaData()
bundle_table = Table(
    "update_bundles", metadata,
    Column("sm3", String(64), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("key_id", String(40), nullable=False),
    Column("manifest", JSON, nullable=False),
    Column("uploaded", DateTime, nullable=False),
    Column("uploaded_by", String(64), nullable=False),
)
rollout_table = Table(
    "update_rollouts", metadata,
    Column("id", String(32), primary_key=True),
    Column("bundle", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("stage", Integer, nullable=False),
    Column("stages", JSON, nullable=False),  # [{"name": "canary", "size": n}, {"name": "10%", "size": n}, …]
    Column("threshold", Float, nullable=False),
    Column("region", String(12)),  # the creator's scope prefix: who may see and steer it
    Column("created", DateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("reason", String(256)),
)
target_table = Table(
    "update_targets", metadata,
    Column("rollout", String(32), nullable=False),
    Column("terminal_id", String(64), nullable=False, index=True),
    Column("region", String(12), nullable=False),
    Column("stage", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("command", String(32)),
    Column("code", String(64)),
    Column("detail", String(256)),
    Column("sent", DateTime),
    Column("finished", DateTime),
    PrimaryKeyConstraint("rollout", "terminal_id"),
)


class RolloutRequest(Model):
    bundle: str = Field(pattern=r"^[0-9a-f]{64}$", description="SM3 of the uploaded bundle")
    canary: list[str] = Field(default_factory=list, max_length=1000, description="canary terminal ids")
    canary_count: int = Field(0, ge=0, le=1000, description="or: this many terminals as the canary")
    percents: list[float] = Field(default_factory=lambda: [10.0, 50.0, 100.0], max_length=20)
    regions: list[str] = Field(default_factory=list, max_length=100, description="GB/T 2260 prefixes")
    models: list[str] = Field(default_factory=list, max_length=100)
    failure_threshold: float = Field(0.2, ge=0, le=1, description="halt when a stage's failure rate exceeds this")


def _order(rollout: str, terminal: str) -> str:
    return hashlib.sha256(f"{rollout}:{terminal}".encode()).hexdigest()


def plan_stages(rollout: str, eligible: list[str], canary: list[str], canary_count: int,
                percents: list[float]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Stages and each terminal's stage: the canary first, then cumulative percentages of the rest."""
    ordered = sorted(eligible, key=lambda t: _order(rollout, t))
    picked = [t for t in canary if t in set(eligible)] or ordered[:canary_count]
    stage_of: dict[str, int] = {}
    stages: list[dict[str, Any]] = []
    if picked:
        stages.append({"name": "canary", "size": len(picked)})
        for t in picked:
            stage_of[t] = 0
    rest = [t for t in ordered if t not in stage_of]
    done = 0
    for pct in sorted(set(min(100.0, max(0.0, p)) for p in percents)) or [100.0]:
        upto = round(len(rest) * pct / 100.0)
        part = rest[done:upto]
        if part:
            idx = len(stages)
            stages.append({"name": f"{pct:g}%", "size": len(part)})
            for t in part:
                stage_of[t] = idx
        done = max(done, upto)
    return stages, stage_of  # percentages that stop below 100 leave the rest out of this rollout


class Rollouts:
    def __init__(self, engine: Engine, home: Path, *, base_url: str = "",
                 sender: Any = None, command_key: Any = None) -> None:
        self.engine = engine
        self.dir = home / "bundles"
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.release_keys = home / "release-keys"
        self.release_keys.mkdir(exist_ok=True)
        self.base_url = base_url.rstrip("/")
        self.sender = sender
        self.command_key = command_key
        self._lock = threading.Lock()
        with db.writer(engine).begin() as conn:
            metadata.create_all(conn)

    # ---- bundles ------------------------------------------------------------------------------------
    def trusted(self) -> dict[str, Any]:
        out = {}
        for p in sorted(self.release_keys.glob("*.pem")):
            try:
                k = load_public_pem(p.read_bytes())
            except (GtsdkError, OSError):
                continue
            out[bundles.key_id(k)] = k
        return out

    def upload(self, user: User, chunks: Iterable[bytes]) -> dict[str, Any]:
        """Store a bundle streamed in *chunks* (bounded); see :meth:`upload_file`."""
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".upload-")
        size = 0
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    size += len(chunk)
                    if size > MAX_UPLOAD:
                        raise GtsdkError(ErrorCode.PAYLOAD_TOO_LARGE, f"bundle over {MAX_UPLOAD} bytes")
                    f.write(chunk)
            return self.upload_file(user, Path(tmp))
        finally:
            Path(tmp).unlink(missing_ok=True)

    def upload_file(self, user: User, path: Path) -> dict[str, Any]:
        """Take the bundle at *path* (moved into the store) after checking it as a terminal would — signature by a
        release key the platform trusts, every SM3 digest — so no terminal is sent a bundle the platform could
        have refused."""
        signed = bundles.read_signed(path)
        if signed.signature is None:
            raise GtsdkError(ue.UNSIGNED, "the platform distributes signed bundles only")
        pub = self.trusted().get(signed.key_id or "")
        if pub is None:
            raise GtsdkError(ue.UNTRUSTED_KEY, f"{signed.key_id} is not a release key of this platform")
        if not signed.verify_with(pub):
            raise GtsdkError(ue.SIGNATURE_INVALID, "the bundle's signature does not verify")
        with tempfile.TemporaryDirectory(dir=self.dir) as scratch:
            bundles.unpack(path, signed.manifest, Path(scratch))
        h = SM3()
        size = 0
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
        digest = h.hexdigest()
        os.replace(path, self.dir / f"{digest}.tar")
        m = signed.manifest
        doc = {"sm3": digest, "name": m.name, "version": m.version, "size": size, "keyId": signed.key_id,
               "security": m.security, "drivers": m.drivers, "config": m.has_config, "targets": m.targets.wire()}
        with db.writer(self.engine).begin() as conn:
            if conn.execute(select(bundle_table.c.sm3).where(bundle_table.c.sm3 == digest)).first() is None:
                conn.execute(bundle_table.insert().values(
                    sm3=digest, name=m.name, version=m.version, size=size, key_id=signed.key_id or "",
                    manifest=m.model_dump(mode="json", by_alias=True, exclude={"files"}), uploaded=now_naive(),
                    uploaded_by=user.name))
                conn.execute(s.audit.insert().values(time=now_naive(), actor=user.name, action="bundle.upload",
                                                     target=digest[:32], code="success",
                                                     detail=f"{m.name} {m.version}"))
        return doc

    def bundle_path(self, sm3: str) -> Path | None:
        if len(sm3) != 64 or any(c not in "0123456789abcdef" for c in sm3):
            return None
        p = self.dir / f"{sm3}.tar"
        return p if p.is_file() else None

    def bundles(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(bundle_table).order_by(bundle_table.c.uploaded.desc()).limit(200)).mappings()
            return [{k: v for k, v in r.items() if k != "manifest"} | {"security": r["manifest"].get("security")}
                    for r in rows]

    # ---- rollouts -----------------------------------------------------------------------------------
    def create(self, user: User, req: RolloutRequest) -> dict[str, Any]:
        with self.engine.connect() as conn:
            b = conn.execute(select(bundle_table).where(bundle_table.c.sm3 == req.bundle)).mappings().first()
            if b is None:
                raise GtsdkError(ErrorCode.NOT_FOUND, "bundle")
            t = s.terminals
            rows = conn.execute(select(t.c.id, t.c.region, t.c.model).where(
                user.scope.where(t), t.c.revoked.is_(None))).all()
        manifest = Manifest.model_validate(b["manifest"])
        eligible = []
        region_of = {}
        for tid, region, model in rows:
            if req.regions and not any(region.startswith(r) for r in req.regions):
                continue
            if req.models and model not in req.models:
                continue
            # the platform does not know a terminal's groups: the terminal itself refuses a group mismatch
            who = Identity(tid, model=model, region=region, groups=frozenset(manifest.targets.groups))
            if targeted(manifest, who) is None:
                eligible.append(tid)
                region_of[tid] = region
        if not eligible:
            raise GtsdkError(ErrorCode.INVALID_DATA, "no terminal in scope is targeted by this bundle", field="regions")
        rid = secrets.token_hex(16)
        stages, stage_of = plan_stages(rid, eligible, req.canary, req.canary_count, req.percents)
        now = now_naive()
        with db.writer(self.engine).begin() as conn:
            conn.execute(rollout_table.insert().values(
                id=rid, bundle=req.bundle, version=b["version"], state=RUNNING, stage=0, stages=stages,
                threshold=req.failure_threshold, region=user.scope.region, created=now, created_by=user.name))
            conn.execute(target_table.insert(), [
                {"rollout": rid, "terminal_id": tid, "region": region_of[tid], "stage": st, "state": "pending"}
                for tid, st in stage_of.items()])
            conn.execute(s.audit.insert().values(time=now, actor=user.name, action="rollout.start", target=rid,
                                                 code="success", detail=f"{b['name']} {b['version']}"))
        return self.get(user, rid)

    def _rollout(self, conn: Any, user: User | None, rid: str) -> Any:
        r = conn.execute(select(rollout_table).where(rollout_table.c.id == rid)).mappings().first()
        if r is None or (user is not None and user.scope.region and not str(r["region"] or "").startswith(
                user.scope.region)):
            raise GtsdkError(ErrorCode.NOT_FOUND, "rollout")
        return r

    def set_state(self, user: User, rid: str, to: str) -> dict[str, Any]:
        allowed = {PAUSED: (RUNNING,), RUNNING: (PAUSED, HALTED)}
        with db.writer(self.engine).begin() as conn:
            r = self._rollout(conn, user, rid)
            if r["state"] not in allowed.get(to, ()):
                raise GtsdkError(ErrorCode.INVALID_STATE, f"rollout is {r['state']}; cannot go to {to}")
            conn.execute(update(rollout_table).where(rollout_table.c.id == rid).values(state=to, reason=None))
            conn.execute(s.audit.insert().values(time=now_naive(), actor=user.name, action=f"rollout.{to}",
                                                 target=rid, code="success", detail=""))
        return self.get(user, rid)

    def all(self, user: User) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(rollout_table.c.id).order_by(rollout_table.c.created.desc()).limit(100)).all()
        out = []
        for (rid,) in rows:
            try:
                out.append(self.get(user, rid, terminals=False))
            except GtsdkError:
                continue
        return out

    def get(self, user: User | None, rid: str, *, terminals: bool = True) -> dict[str, Any]:
        with self.engine.connect() as conn:
            r = self._rollout(conn, user, rid)
            tt = target_table
            rows = conn.execute(select(tt.c.terminal_id, tt.c.stage, tt.c.state, tt.c.code, tt.c.detail, tt.c.sent,
                                       tt.c.finished).where(tt.c.rollout == rid).order_by(tt.c.stage,
                                                                                          tt.c.terminal_id)).all()
        stages = []
        for i, st in enumerate(r["stages"]):
            mine = [x for x in rows if x.stage == i]
            counts = {k: sum(1 for x in mine if x.state == k) for k in ("pending", "sent", "staged", "updated",
                                                                        "failed")}
            stages.append({**st, "index": i, "counts": counts})
        doc: dict[str, Any] = {"id": rid, "bundle": r["bundle"], "version": r["version"], "state": r["state"],
                               "stage": r["stage"], "threshold": r["threshold"], "reason": r["reason"],
                               "created": r["created"], "createdBy": r["created_by"], "stages": stages,
                               "total": len(rows),
                               "updated": sum(1 for x in rows if x.state == "updated"),
                               "failed": sum(1 for x in rows if x.state == "failed")}
        if terminals:
            doc["terminals"] = [{"terminalId": x.terminal_id, "stage": x.stage, "state": x.state, "code": x.code,
                                 "detail": x.detail, "sent": x.sent, "finished": x.finished} for x in rows]
        return doc

    # ---- moving on ----------------------------------------------------------------------------------
    def tick(self, now: datetime | None = None) -> None:
        """One pass over the running rollouts (the platform calls it every few seconds)."""
        with self._lock:
            now = now or now_naive()
            with self.engine.connect() as conn:
                ids = [r.id for r in conn.execute(select(rollout_table.c.id).where(
                    rollout_table.c.state.in_((RUNNING, PAUSED, HALTED)))).all()]
            for rid in ids:
                try:
                    self._tick_one(rid, now)
                except GtsdkError as e:
                    log.warning("rollout %s: %s", rid, e.code)

    def _observe(self, rid: str, version: str, now: datetime) -> None:
        """Outcomes from the command answers and the heartbeats of sent and staged targets."""
        tt, t, c = target_table, s.terminals, s.commands
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(tt.c.terminal_id, tt.c.state, tt.c.sent, c.c.state.label("cstate"), c.c.code.label("ccode"),
                       c.c.message, t.c.heartbeat)
                .select_from(tt.outerjoin(c, c.c.id == tt.c.command).join(t, t.c.id == tt.c.terminal_id))
                .where(tt.c.rollout == rid, tt.c.state.in_(("sent", "staged")))).all()
        changes: list[dict[str, Any]] = []
        for r in rows:
            hb = (r.heartbeat or {}).get("updates") if isinstance(r.heartbeat, dict) else None
            state, code, detail = r.state, None, None
            failed = (hb or {}).get("failed") or {}
            if isinstance(failed, dict) and version in failed:
                state, code = "failed", str(failed[version].get("code", ue.ROLLED_BACK))[:64]
                detail = str(failed[version].get("detail", ""))[:256]
            elif hb and hb.get("current") == version and hb.get("probation") != version:
                state, code = "updated", "success"
            elif r.cstate is not None and r.cstate != "sent" and r.ccode != "success":
                state, code, detail = "failed", str(r.ccode)[:64], str(r.message or "")[:256]
            elif r.cstate == "success" and r.state == "sent":
                state = "staged"
            elif r.sent is not None and (now - r.sent).total_seconds() > OUTCOME_TIMEOUT:
                state, code, detail = "failed", ErrorCode.TIME_OUT.value, "no outcome reported"
            if state != r.state:
                changes.append({"t": r.terminal_id, "state": state, "code": code, "detail": detail,
                                "finished": now if state in FINAL else None})
        if changes:
            with db.writer(self.engine).begin() as conn:
                for ch in changes:
                    conn.execute(update(tt).where(tt.c.rollout == rid, tt.c.terminal_id == ch["t"]).values(
                        state=ch["state"], code=ch["code"], detail=ch["detail"], finished=ch["finished"]))

    def _tick_one(self, rid: str, now: datetime) -> None:
        with self.engine.connect() as conn:
            r = self._rollout(conn, None, rid)
        self._observe(rid, r["version"], now)
        if r["state"] != RUNNING:
            return
        tt, t = target_table, s.terminals
        stage = int(r["stage"])
        # send to every online pending target of a launched stage (late returners of earlier stages too)
        with self.engine.connect() as conn:
            due = conn.execute(select(tt.c.terminal_id, tt.c.region).select_from(
                tt.join(t, t.c.id == tt.c.terminal_id)).where(
                tt.c.rollout == rid, tt.c.state == "pending", tt.c.stage <= stage, t.c.online.is_(True),
                t.c.revoked.is_(None))).all()
            b = conn.execute(select(bundle_table).where(bundle_table.c.sm3 == r["bundle"])).mappings().first()
        if due and b is not None:
            self._send(rid, b, list(due), now)
        # stage finished? (targets still pending are offline: they do not hold the stage back)
        with self.engine.connect() as conn:
            states = [x.state for x in conn.execute(select(tt.c.state).where(tt.c.rollout == rid,
                                                                              tt.c.stage == stage)).all()]
        if any(x in ("sent", "staged") for x in states):
            return
        finished = [x for x in states if x in FINAL]
        if not finished and states:
            return  # nobody of this stage reachable yet
        rate = sum(1 for x in finished if x == "failed") / len(finished) if finished else 0.0
        values: dict[str, Any] = {}
        if rate > float(r["threshold"]):
            values = {"state": HALTED, "reason": f"stage {r['stages'][stage]['name']}: failure rate {rate:.0%} "
                                                 f"over {float(r['threshold']):.0%}"}
        elif stage + 1 < len(r["stages"]):
            values = {"stage": stage + 1}
        elif all(x in FINAL for x in self._all_states(rid)):
            values = {"state": DONE}
        if values:
            with db.writer(self.engine).begin() as conn:
                conn.execute(update(rollout_table).where(rollout_table.c.id == rid, rollout_table.c.state == RUNNING)
                             .values(**values))
                if "state" in values:
                    conn.execute(s.audit.insert().values(
                        time=now, actor="platform", action=f"rollout.{values['state']}", target=rid, code="success",
                        detail=values.get("reason") or ""))

    def _all_states(self, rid: str) -> list[str]:
        with self.engine.connect() as conn:
            return [x.state for x in conn.execute(select(target_table.c.state).where(target_table.c.rollout == rid))]

    def _send(self, rid: str, b: Any, due: list[Any], now: datetime) -> None:
        if self.sender is None or self.command_key is None:
            return
        params = {"rollout": rid, "name": b["name"], "version": b["version"], "sm3": b["sm3"], "size": b["size"],
                  "url": f"{self.base_url}/fleet/bundles/{b['sm3']}"}
        for tid, region in due:
            cmd = cmds.sign(self.command_key, tid, cmds.CommandOp.UPDATE, params, lifetime=COMMAND_LIFETIME)
            issued = now_naive()
            with db.writer(self.engine).begin() as conn:
                conn.execute(s.commands.insert().values(
                    id=cmd.id, terminal_id=tid, region=region, op=cmd.op.value, params=cmd.params,
                    issued_by=f"rollout:{rid[:8]}", issued=issued, expires=issued + timedelta(seconds=COMMAND_LIFETIME),
                    state="sent"))
                n = conn.execute(update(target_table).where(
                    and_(target_table.c.rollout == rid, target_table.c.terminal_id == tid,
                         target_table.c.state == "pending")).values(state="sent", command=cmd.id, sent=now))
            if n.rowcount:
                try:
                    self.sender.publish(region, cmd)
                except GtsdkError:
                    with db.writer(self.engine).begin() as conn:  # broker away: try again at the next tick
                        conn.execute(update(target_table).where(target_table.c.rollout == rid,
                                                                target_table.c.terminal_id == tid)
                                     .values(state="pending", command=None, sent=None))
                    return

