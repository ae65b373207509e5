"""Pushing a 事项 catalogue from the platform to terminals: one or more terminals, a region, or every terminal in the
caller's scope (6.3, 7.1.3 a, 10.1.1.1; docs/fleet.md).

``POST /api/v1/catalogue-pushes`` validates the catalogue with the loader the terminals use
(:func:`gtsdk.records.catalogue.parse`: a bad one is refused naming the entry), resolves the targets within the
caller's scope, records the push with one row per terminal and answers at once; a sender thread then signs and
publishes one ``pushCatalogue`` command per terminal (SM2, :mod:`gtsdk.fleet.commands`).  Each terminal validates
again, writes the file, puts the catalogue in force and answers; ``GET /api/v1/catalogue-pushes/{id}`` joins the
targets with their commands:

``pending`` (not published yet) · ``notSent`` (revoked meanwhile, broker away: ``error`` says which) · ``sent``
(no answer yet) · ``expired`` (no answer before the command expired: the terminal was offline) · ``success``
(``result.version`` now in force, ``result.changed``) · ``failed`` (the terminal's code, e.g. ``configError``) ·
``refused`` (signature, expiry, replay).

The commands table keeps a reference to the push, not the catalogue: at 100,000 terminals a copy per command would
cost gigabytes.  A push the platform did not finish sending (stopped, or killed) goes on when the platform's API
starts again (:meth:`Pushes.resume`): targets still ``pending`` get their command while the push has not expired,
with the lifetime it has left.  A terminal whose command was published just before a crash, before its row said
so, gets a second one; the terminal answers it with the same version and ``changed: false``.
"""

from __future__ import annotations

import logging
import threading
import tomllib
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from gtsdk.errors import ConfigError, ErrorCode, GtsdkError
from gtsdk.failures import swallowed
from gtsdk.fleet import catalogue_push
from gtsdk.fleet import commands as cmds
from gtsdk.fleet import errors as fe
from gtsdk.fleet.provision import now_naive
from gtsdk.fleet.store import db
from gtsdk.fleet.store import schema as s
from gtsdk.fleet.store.queries import Scope
from gtsdk.fleet.users import User
from gtsdk.records import catalogue
from gtsdk.records.schema import Catalogue

log = logging.getLogger("gtsdk.fleet.pushes")

#: a push names at most this many terminals explicitly (larger sets: a region, or all)
MAX_NAMED = 1000
DEFAULT_LIFETIME = 3600.0
#: the largest command params (compressed catalogue) sent; the terminal refuses commands over 64 KiB
MAX_PARAMS = 48 * 1024


def parse_catalogue(data: dict[str, Any] | None, toml: str | None) -> Catalogue:
    """The pushed catalogue from JSON (wire or file spelling) or the catalogue file's TOML text, validated like the
    file on a terminal; ``invalidData`` naming the entry otherwise."""
    if (data is None) == (toml is None):
        raise GtsdkError(ErrorCode.INVALID_DATA, "give the catalogue as JSON (catalogue) or TOML (toml)",
                         field="catalogue")
    try:
        if toml is not None:
            try:
                data = tomllib.loads(toml)
            except tomllib.TOMLDecodeError as e:
                raise GtsdkError(ErrorCode.INVALID_DATA, f"not valid TOML: {e}", field="toml") from None
        assert data is not None
        return catalogue.parse(data, "catalogue")
    except ConfigError as e:
        raise GtsdkError(ErrorCode.INVALID_DATA, e.detail, field=e.key) from None


class Pushes:
    def __init__(self, platform: Any) -> None:
        self.p = platform  # gtsdk.fleet.platform.Platform
        self._threads: list[threading.Thread] = []

    # ---- push -------------------------------------------------------------------------------------------
    def push(self, user: User, cat: Catalogue, *, terminals: list[str] | None = None, region: str | None = None,
             everywhere: bool = False, lifetime: float = DEFAULT_LIFETIME) -> dict[str, Any]:
        if user.role not in ("province", "city"):
            raise GtsdkError(ErrorCode.FORBIDDEN, "pushing a catalogue needs a province or city user")
        if sum((terminals is not None, region is not None, everywhere)) != 1:
            raise GtsdkError(ErrorCode.INVALID_DATA, "name terminals, a region or all", field="terminals")
        if not 0 < lifetime <= cmds.MAX_LIFETIME:
            raise GtsdkError(ErrorCode.INVALID_DATA, f"lifetime must be in (0, {cmds.MAX_LIFETIME:.0f}] s",
                             field="lifetime")
        params = catalogue_push.encode(cat)
        size = len(cmds.canonical(params))
        if size > MAX_PARAMS:
            raise GtsdkError(ErrorCode.PAYLOAD_TOO_LARGE, f"the catalogue takes {size} bytes compressed; one command "
                             f"carries at most {MAX_PARAMS}", field="catalogue")
        targets, what = self._targets(user, terminals, region)
        pid = uuid.uuid4().hex
        now = now_naive()
        wire = cat.model_dump(by_alias=True, mode="json", exclude_none=True)
        with db.writer(self.p.engine).begin() as conn:
            conn.execute(s.catalogue_pushes.insert().values(
                id=pid, version=cat.version, catalogue=wire, entries=len(cat.entries), target=what,
                issued_by=user.name, issued=now, expires=now + timedelta(seconds=lifetime), targets=len(targets)))
            for i in range(0, len(targets), 1000):
                conn.execute(s.catalogue_push_targets.insert(), [
                    {"push_id": pid, "terminal_id": tid, "region": reg, "command_id": None, "error": None}
                    for tid, reg in targets[i:i + 1000]])
            conn.execute(s.audit.insert().values(time=now, actor=user.name, action="catalogue.push", target=what,
                                                 code="success", detail=f"{cat.version} to {len(targets)} ({pid})"))
        self._start(pid, params, lifetime, targets)
        return {"id": pid, "version": cat.version, "entries": len(cat.entries), "target": what,
                "targets": len(targets)}

    def resume(self) -> int:
        """Send what pushes left ``pending`` when the platform stopped (unexpired pushes only); the number of
        terminals still to be sent to."""
        cp, tg = s.catalogue_pushes, s.catalogue_push_targets
        now = now_naive()
        todo: list[tuple[str, dict[str, Any], float, list[tuple[str, str]]]] = []
        with self.p.engine.connect() as conn:
            for push in conn.execute(select(cp.c.id, cp.c.catalogue, cp.c.expires).where(cp.c.expires > now)
                                     .order_by(cp.c.issued)).all():
                targets = [(r.terminal_id, r.region) for r in conn.execute(
                    select(tg.c.terminal_id, tg.c.region).where(tg.c.push_id == push.id, tg.c.command_id.is_(None),
                                                                tg.c.error.is_(None)).order_by(tg.c.terminal_id))]
                if not targets:
                    continue
                try:
                    params = catalogue_push.encode(catalogue.parse(push.catalogue, "catalogue"))
                except ConfigError as e:  # stored by an older version with other rules: say so, send nothing
                    log.warning("catalogue push %s not resumed: %s", push.id, e.key)
                    continue
                todo.append((push.id, params, (push.expires - now).total_seconds(), targets))
        for pid, params, lifetime, targets in todo:
            log.info("catalogue push %s resumed: %d terminals still to send", pid, len(targets))
            self._start(pid, params, min(lifetime, cmds.MAX_LIFETIME), targets)
        return sum(len(t[3]) for t in todo)

    def _start(self, pid: str, params: dict[str, Any], lifetime: float, targets: list[tuple[str, str]]) -> None:
        t = threading.Thread(target=self._send, args=(pid, params, lifetime, targets), daemon=True,
                             name=f"gtsdk-catalogue-push-{pid[:8]}")
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()

    def _targets(self, user: User, named: list[str] | None, region: str | None) -> tuple[list[tuple[str, str]], str]:
        t = s.terminals
        q = select(t.c.id, t.c.region, t.c.revoked).where(user.scope.where(t))
        if named is not None:
            if not named or len(named) > MAX_NAMED:
                raise GtsdkError(ErrorCode.INVALID_DATA, f"name 1..{MAX_NAMED} terminals", field="terminals")
            wanted = sorted(set(named))
            with self.p.engine.connect() as conn:
                rows = {r.id: r for r in conn.execute(q.where(t.c.id.in_(wanted)))}
            for tid in wanted:
                if tid not in rows:
                    raise GtsdkError(ErrorCode.NOT_FOUND, f"terminal {tid}", field="terminals")
                if rows[tid].revoked is not None:
                    raise GtsdkError(fe.TERMINAL_REVOKED, tid, field="terminals")
            return [(tid, rows[tid].region) for tid in wanted], "terminals"
        if region is not None:
            if not (region.isdigit() and 2 <= len(region) <= 6 and user.scope.covers_region(region.ljust(6, "0"))):
                raise GtsdkError(ErrorCode.FORBIDDEN if region.isdigit() else ErrorCode.INVALID_DATA,
                                 "region must be a code prefix within your scope", field="region")
            q = q.where(Scope(region).where(t))
        with self.p.engine.connect() as conn:
            rows_ = conn.execute(q.where(t.c.revoked.is_(None)).order_by(t.c.id)).all()
        if not rows_:
            raise GtsdkError(ErrorCode.NOT_FOUND, "no terminal in the target", field="region" if region else "all")
        return [(r.id, r.region) for r in rows_], (f"region:{region}" if region is not None else "all")

    def _send(self, pid: str, params: dict[str, Any], lifetime: float, targets: list[tuple[str, str]]) -> None:
        stop: threading.Event = getattr(self.p, "_stop", threading.Event())
        ref = {"push": pid}
        for tid, region in targets:
            if stop.is_set():
                return  # the rest stays pending until the platform starts again (resume)
            error: str | None = None
            cid: str | None = None
            try:
                cmd = cmds.sign(self.p.home.command_key, tid, cmds.CommandOp.PUSH_CATALOGUE, params,
                                lifetime=lifetime)
                issued = now_naive()
                with db.writer(self.p.engine).begin() as conn:
                    revoked = conn.execute(select(s.terminals.c.revoked).where(s.terminals.c.id == tid)).scalar()
                    if revoked is not None:
                        raise GtsdkError(fe.TERMINAL_REVOKED, tid)
                    conn.execute(s.commands.insert().values(
                        id=cmd.id, terminal_id=tid, region=region, op=cmd.op.value, params=ref,
                        issued_by=f"push:{pid[:8]}", issued=issued, expires=issued + timedelta(seconds=lifetime),
                        state="sent"))
                assert self.p.sender is not None
                self.p.sender.publish(region, cmd)
                cid = cmd.id
            except GtsdkError as e:
                error = e.code
            except Exception as e:  # noqa: BLE001 - the database went away: note it on the row if possible and go on
                swallowed(f"catalogue push {pid}", f"sending to {tid}", e, logger=log)
                error = ErrorCode.INTERNAL_ERROR.value if not isinstance(e, OSError) else fe.DATABASE_UNAVAILABLE
            try:
                with db.writer(self.p.engine).begin() as conn:
                    conn.execute(update(s.catalogue_push_targets).where(
                        s.catalogue_push_targets.c.push_id == pid, s.catalogue_push_targets.c.terminal_id == tid
                    ).values(command_id=cid, error=error))
            except Exception as e:  # noqa: BLE001 - logged by type and place
                swallowed(f"catalogue push {pid}", f"recording the result of {tid}", e, logger=log)

    def wait(self, timeout: float) -> bool:
        """Wait for the sender threads (tests, shutdown); True when none is left."""
        for t in list(self._threads):
            t.join(timeout)
        return not any(t.is_alive() for t in self._threads)

    # ---- views ------------------------------------------------------------------------------------------
    def get(self, user: User, pid: str, *, limit: int = 5000) -> dict[str, Any]:
        cp, tg, c, t, cat = s.catalogue_pushes, s.catalogue_push_targets, s.commands, s.terminals, s.catalogues
        with self.p.engine.connect() as conn:
            push = conn.execute(select(cp).where(cp.c.id == pid)).mappings().first()
            if push is None:
                raise GtsdkError(ErrorCode.NOT_FOUND, "catalogue push")
            rows = conn.execute(  # the version in force: the terminal's newest catalogue record (else its profile)
                select(tg.c.terminal_id, tg.c.region, tg.c.command_id, tg.c.error, c.c.state, c.c.code,
                       c.c.message, c.c.result, c.c.finished, c.c.expires,
                       func.coalesce(cat.c.version, t.c.catalogue_version).label("catalogue_version"))
                .select_from(tg.outerjoin(c, c.c.id == tg.c.command_id).outerjoin(t, t.c.id == tg.c.terminal_id)
                             .outerjoin(cat, cat.c.terminal_id == tg.c.terminal_id))
                .where(tg.c.push_id == pid, user.scope.where(tg)).order_by(tg.c.terminal_id).limit(limit)).all()
        if not rows:
            raise GtsdkError(ErrorCode.NOT_FOUND, "catalogue push")  # none of its terminals is the caller's
        now = now_naive()
        out = []
        for r in rows:
            if r.command_id is None:
                state = "notSent" if r.error else "pending"
            elif r.state == "sent" and r.expires is not None and r.expires < now:
                state = "expired"
            else:
                state = r.state
            out.append({"terminalId": r.terminal_id, "region": r.region, "state": state, "commandId": r.command_id,
                        "code": r.error or r.code, "message": r.message, "result": r.result, "finished": r.finished,
                        "catalogueVersion": r.catalogue_version})
        counts: dict[str, int] = {}
        for x in out:
            counts[x["state"]] = counts.get(x["state"], 0) + 1
        return {"id": push.id, "version": push.version, "entries": push.entries, "target": push.target,
                "issuedBy": push.issued_by, "issued": push.issued, "expires": push.expires,
                "targets": len(out), "counts": counts, "results": out}

    def list(self, user: User, limit: int = 50) -> list[dict[str, Any]]:
        cp, tg = s.catalogue_pushes, s.catalogue_push_targets
        mine = select(tg.c.push_id, func.count().label("n")).where(user.scope.where(tg)).group_by(tg.c.push_id
                                                                                                  ).subquery()
        with self.p.engine.connect() as conn:
            rows = conn.execute(select(cp.c.id, cp.c.version, cp.c.entries, cp.c.target, cp.c.issued_by,
                                       cp.c.issued, mine.c.n).join(mine, mine.c.push_id == cp.c.id)
                                .order_by(cp.c.issued.desc()).limit(limit)).all()
        return [{"id": r.id, "version": r.version, "entries": r.entries, "target": r.target, "issuedBy": r.issued_by,
                 "issued": r.issued, "targets": r.n} for r in rows]
