"""Discovery and the public files: what the service offers and how to reach it (clauses 8.1, 8.2).

| route | scope |
|---|---|
| ``GET /v1/health`` | none: the service itself is up |
| ``GET /sdk/gtsdk.js`` | none: the JavaScript client (static code, no data) |
| ``GET /v1/services`` | any: every module with clause, driver, state, operations, events |
| ``GET /openapi.json`` | any: OpenAPI 3.1 generated from the same models that validate requests |
"""

from __future__ import annotations

import asyncio
import json
from importlib import resources
from typing import TYPE_CHECKING

import gtsdk
from gtsdk.modules import MODULES
from gtsdk.server.call import JSON, Call, Response
from gtsdk.simulated import simulations_of
from gtsdk.wire import OperationEntry, ServiceEntry, ServiceHealth, Services

if TYPE_CHECKING:
    from gtsdk.server.app import ServiceApp


def services(svc: ServiceApp) -> Services:
    mods = []
    for mod_id, spec in MODULES.items():
        dev = svc.terminal.device(mod_id)
        st = dev.status()
        caps = dev.capabilities().device if dev.driver is not None else None
        mods.append(ServiceEntry(
            module=mod_id, clause=spec.clause, title_zh=spec.title_zh, title_en=spec.title_en,
            driver=(dev.config.driver if dev.config else None),
            driver_version=caps.driver_version if caps else None,
            state=st.state.value, reason=st.reason, opened=st.opened,
            simulated=mod_id in simulations_of(svc.terminal),
            operations=[OperationEntry(name=o.name, version=o.version, summary=o.summary,
                                       personal_data=o.personal_data) for o in spec.operations.values()],
            events=list(spec.events)))
    tid = svc.terminal.config.terminal.get("id")
    return Services(version=gtsdk.__version__, terminal_id=str(tid) if tid else None, simulate=svc.simulate,
                    event_seq=svc.terminal.events.last_seq, modules=mods)


def add_routes(svc: ServiceApp) -> None:
    js = resources.files("gtsdk.server").joinpath("static/gtsdk.js").read_bytes()
    health = ServiceHealth(version=gtsdk.__version__)
    openapi: list[bytes] = []

    async def health_route(call: Call) -> Response:
        return call.ok(health)

    async def sdk_route(call: Call) -> Response:
        return Response(js, 200, media_type="text/javascript; charset=utf-8",
                        headers={"Access-Control-Allow-Origin": "*"})

    async def services_route(call: Call) -> Response:
        return call.ok(services(svc))

    async def openapi_route(call: Call) -> Response:
        if not openapi:  # built once, off the loop (pydantic schema generation of every model takes a while)
            from gtsdk.server.openapi import build

            doc = await asyncio.to_thread(build, svc)
            openapi[:] = [json.dumps(doc, ensure_ascii=False).encode()]
        return Response(openapi[0], 200, media_type=JSON)

    svc.routes.add("GET", "/v1/health", health_route, None)
    svc.routes.add("GET", "/sdk/gtsdk.js", sdk_route, None)
    svc.routes.add("GET", "/v1/services", services_route, "any")
    svc.routes.add("GET", "/openapi.json", openapi_route, "any")
