"""HTTPS routes of update rollouts on the platform API (docs/updates.md, docs/fleet.md):

* ``POST /api/v1/bundles`` — upload a bundle (the raw tar as the body, at most 1 GiB; ``release`` permission);
* ``GET /api/v1/bundles`` — the bundles uploaded;
* ``POST /api/v1/rollouts`` ``{bundle, canary | canaryCount, percents, regions, models, failureThreshold}``;
* ``GET /api/v1/rollouts``, ``GET /api/v1/rollouts/{id}`` — progress per stage and per terminal;
* ``POST /api/v1/rollouts/{id}/pause``, ``…/resume``;
* ``GET /fleet/bundles/{sm3}`` — the bundle bytes for terminals: addressed by digest, signed, nothing personal in
  them, so no token (the terminal checks the digest the signed command names, then the bundle's signature).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.fleet.rollout import MAX_UPLOAD, RolloutRequest, Rollouts
from gtsdk.fleet.users import User

if TYPE_CHECKING:
    from gtsdk.fleet.api import FleetApi


def routes(api: FleetApi, rollouts: Rollouts) -> list[Route]:
    from gtsdk.fleet.api import _lang, fail, ok

    r = api.route
    out: list[Route] = []

    async def upload(req: Request) -> Response:
        lang = _lang(req)
        try:
            user = api._user(req)
            if not user.can("release"):
                raise GtsdkError(ErrorCode.FORBIDDEN, f"{user.role} may not release")
            fd, tmp = tempfile.mkstemp(dir=rollouts.dir, prefix=".upload-")
            try:
                size = 0
                with os.fdopen(fd, "wb") as f:
                    async for chunk in req.stream():
                        size += len(chunk)
                        if size > MAX_UPLOAD:
                            raise GtsdkError(ErrorCode.PAYLOAD_TOO_LARGE, f"bundle over {MAX_UPLOAD} bytes")
                        f.write(chunk)
                return ok(await run_in_threadpool(rollouts.upload_file, user, Path(tmp)))
            finally:
                Path(tmp).unlink(missing_ok=True)
        except GtsdkError as e:
            return fail(e, lang)

    from gtsdk.fleet.api import DOCS, RouteDoc

    DOCS.append(RouteDoc("POST", "/api/v1/bundles", "upload a signed update bundle (raw tar body)", "release", None,
                         ()))
    out.append(Route("/api/v1/bundles", upload, methods=["POST"]))

    @r("GET", "/api/v1/bundles", "update bundles uploaded", "read")
    def list_bundles(req: Request, u: User) -> Any:
        return rollouts.bundles()
    out.append(list_bundles)

    @r("POST", "/api/v1/rollouts", "start a staged rollout of a bundle (canary, percentages, region, model)",
       "release", body=RolloutRequest)
    def start(req: Request, u: User, b: RolloutRequest) -> Any:
        return rollouts.create(u, b)
    out.append(start)

    @r("GET", "/api/v1/rollouts", "rollouts and their progress", "read")
    def list_rollouts(req: Request, u: User) -> Any:
        return rollouts.all(u)
    out.append(list_rollouts)

    @r("GET", "/api/v1/rollouts/{id}", "one rollout: stages and every terminal's state", "read")
    def one(req: Request, u: User) -> Any:
        return rollouts.get(u, req.path_params["id"])
    out.append(one)

    @r("POST", "/api/v1/rollouts/{id}/pause", "pause a rollout (nothing more is sent)", "release")
    def pause(req: Request, u: User) -> Any:
        return rollouts.set_state(u, req.path_params["id"], "paused")
    out.append(pause)

    @r("POST", "/api/v1/rollouts/{id}/resume", "resume a paused or halted rollout", "release")
    def resume(req: Request, u: User) -> Any:
        return rollouts.set_state(u, req.path_params["id"], "running")
    out.append(resume)

    async def download(req: Request) -> Response:
        path = rollouts.bundle_path(str(req.path_params["sm3"]))
        if path is None:
            return fail(GtsdkError(ErrorCode.NOT_FOUND, "bundle"), _lang(req))
        return FileResponse(path, media_type="application/x-tar")

    out.append(Route("/fleet/bundles/{sm3}", download, methods=["GET"]))
    return out
