"""Example pages served by the service (docs/examples.md).

* ``/demo/`` — the kiosk demo page (``gtsdk/server/web/demo``): the whole 实名认证 flow on the JS client, its
  service tiles from the 事项 catalogue, a transaction per service and the 好差评 rating;
* ``/ops/`` — the operations dashboard (``gtsdk/server/web/ops``) on ``/v1/ops/summary`` (gtsdk.server.ops),
  maintenance scope, charts drawn with Apache ECharts;
* ``/common/charts.js`` — the chart helpers the operations page and the fleet pages share;
* ``/vendor/echarts.min.js`` — Apache ECharts, fetched from the npm registry at set-up time
  (``scripts/fetch-echarts.sh``) into ``build/vendor`` of the checkout or ``<home>/vendor``; never committed,
  never loaded from a CDN.

The pages are served only when ``[service] demo = true`` or ``gtsdk serve --demo``.  They come from
``[service] demo_dir`` when set, else from the package's own data (``gtsdk/server/web``).  The records, the
operations data and ``/metrics`` are registered by gtsdk.server.records_routes, gtsdk.server.ops and
gtsdk.server.metrics.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.responses import Response

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.simulated import simulations_of

if TYPE_CHECKING:
    from gtsdk.server.app import ServiceApp, _Call

log = logging.getLogger("gtsdk.server.pages")

DEMO_TOKEN_HOURS = 8
DEMO_TOKEN_LABEL = "demo page (gtsdk serve --demo)"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
                 ".json": "application/json"}
TOKEN_PLACEHOLDER = "__GTSDK_DEMO_TOKEN__"
#: the pages load nothing from elsewhere; the keyboard component styles its shadow root inline
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self' wss: ws:; "
       "object-src 'none'; frame-ancestors 'none'")

Handler = Callable[["_Call"], Awaitable[Response]]
#: where ``scripts/fetch-echarts.sh`` puts Apache ECharts: the checkout's build folder (set-up) or the home
VENDOR_FILES = ("echarts.min.js",)


def vendor_dirs(home: Path) -> list[Path]:
    return [home / "vendor", Path(__file__).resolve().parents[2] / "build" / "vendor"]


# ---- the pages --------------------------------------------------------------------------------------------
def pages_dir(app: ServiceApp) -> Path | None:
    """``[service] demo_dir`` (relative to the config file), else the pages shipped in the package."""
    cfg = app.config
    if cfg.demo_dir:
        p = Path(cfg.demo_dir)
        return p if p.is_absolute() else Path(cfg.base_dir) / p
    shipped = Path(str(resources.files("gtsdk.server").joinpath("web")))
    return shipped if (shipped / "demo" / "index.html").is_file() else None


class Pages:
    def __init__(self, app: ServiceApp) -> None:
        self.app = app
        self._demo_token: tuple[str, datetime] | None = None
        self._token_lock = threading.Lock()
        sim = simulations_of(app.terminal).get("camera") if app.simulate else None
        photo = getattr(sim, "photo", None)
        #: the simulated card holder's face, fixed at start (a stand-in for a licensed WLT decoder)
        self.card_photo: Path | None = Path(photo) if photo and Path(photo).is_file() else None

    def close(self) -> None:
        """Stop what the service's example, ops and records parts hold (tests and embedding apps call this)."""
        from gtsdk.server import records_routes

        metrics = getattr(self.app, "metrics", None)
        if metrics is not None:
            metrics.close()
        records_routes.close(self.app)

    # ---- static pages ---------------------------------------------------------------------------------------
    def demo_token(self) -> str:
        """One short-lived app token for the demo page (app ``demo``), made on first use, renewed when old."""
        now = datetime.now(UTC)
        with self._token_lock:
            if self._demo_token is None or self._demo_token[1] - now < timedelta(hours=1):
                exp = now + timedelta(hours=DEMO_TOKEN_HOURS)
                if self._demo_token is None:  # earlier runs' demo tokens: revoke, one demo token at a time
                    for old in self.app.tokens.list():
                        if old.app == "demo" and old.label == DEMO_TOKEN_LABEL and old.active():
                            self.app.tokens.revoke(old.id)
                tok = self.app.tokens.create(["app"], app="demo", label=DEMO_TOKEN_LABEL, expires=exp)
                self._demo_token = (tok, exp)
            return self._demo_token[0]

    def file_handler(self, path: Path, *, inject: bool = False) -> Handler:
        ctype = CONTENT_TYPES.get(path.suffix, "application/octet-stream")

        async def handler(call: _Call) -> Response:
            try:
                body = await asyncio.to_thread(path.read_bytes)
            except OSError:
                raise GtsdkError(ErrorCode.NOT_FOUND, "page file missing") from None
            if inject:
                body = body.replace(TOKEN_PLACEHOLDER.encode(), self.demo_token().encode())
            return Response(body, 200, media_type=ctype, headers={
                "Content-Security-Policy": CSP,
                "Referrer-Policy": "no-referrer"})
        return handler

    def redirect(self, to: str) -> Handler:
        async def handler(call: _Call) -> Response:
            return Response(b"", 308, headers={"Location": to})
        return handler

    def vendor_handler(self, name: str) -> Handler:
        """A third-party file fetched at set-up time; a clear error when it was not fetched."""
        ctype = CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream")

        async def handler(call: _Call) -> Response:
            for d in vendor_dirs(self.app.home):
                f = d / name
                if f.is_file():
                    body = await asyncio.to_thread(f.read_bytes)
                    return Response(body, 200, media_type=ctype, headers={"Cache-Control": "max-age=86400"})
            raise GtsdkError(ErrorCode.NOT_FOUND, f"{name} was not fetched: run scripts/fetch-echarts.sh "
                                                  "(part of scripts/setup.sh)")
        return handler

    async def card_photo_route(self, call: _Call) -> Response:
        if self.card_photo is None:
            raise GtsdkError(ErrorCode.NOT_FOUND, "no simulated card holder photo (only with --simulate)")
        data = await asyncio.to_thread(_card_sized, self.card_photo)
        return self.app.ok(call, {"image": base64.b64encode(data).decode(), "format": "jpeg",
                                  "note": "simulated card holder (stands in for the WLT photo a licensed decoder "
                                          "would give)"})


async def _no_icon(call: _Call) -> Response:
    return Response(b"", 204)


def _card_sized(path: Path, box: int = 480) -> bytes:
    """The photo as a JPEG no larger than *box* pixels (a decoded card photo is small; requests have a size cap)."""
    data = path.read_bytes()
    try:
        from PIL import Image
    except ImportError:
        return data
    with Image.open(io.BytesIO(data)) as im:
        rgb = im.convert("RGB")
        rgb.thumbnail((box, box))
        out = io.BytesIO()
        rgb.save(out, "JPEG", quality=90)
    return out.getvalue()


def add_routes(app: ServiceApp) -> None:
    """Register the example routes on *app* (called by :meth:`ServiceApp._build_routes`)."""
    p = Pages(app)
    app.pages = p  # type: ignore[attr-defined]  # for tests and embedding apps
    r = app._routes
    if not app.config.demo:
        return
    root = pages_dir(app)
    if root is None or not root.is_dir():
        log.warning("demo pages not found (set [service] demo_dir); /demo/ and /ops/ are not served")
        return
    for name in ("demo", "ops", "common"):
        folder = root / name
        if not folder.is_dir():
            continue
        for f in sorted(folder.iterdir()):
            if f.is_file() and f.suffix in CONTENT_TYPES:
                inject = name == "demo" and f.name == "index.html"
                r[("GET", f"/{name}/{f.name}")] = (None, p.file_handler(f, inject=inject))
        if (folder / "index.html").is_file():
            r[("GET", f"/{name}/")] = (None, p.file_handler(folder / "index.html", inject=name == "demo"))
            r[("GET", f"/{name}")] = (None, p.redirect(f"/{name}/"))
    if ("GET", "/sdk/keyboard.js") not in r:
        kb = Path(__file__).resolve().parent / "static" / "keyboard.js"
        if kb.is_file():
            r[("GET", "/sdk/keyboard.js")] = (None, p.file_handler(kb))
    for name in VENDOR_FILES:
        r[("GET", f"/vendor/{name}")] = (None, p.vendor_handler(name))
    r[("GET", "/v1/demo/card-photo")] = ("app", p.card_photo_route)
    r.setdefault(("GET", "/favicon.ico"), (None, _no_icon))
    # the pages' own origin (https://127.0.0.1:<port> …) is allowed by gtsdk.server.cors from the configuration
