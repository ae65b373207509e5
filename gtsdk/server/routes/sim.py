"""Simulator control (maintenance scope): change the simulated world of a ``--simulate`` service.

| route | what |
|---|---|
| ``GET /v1/sim`` | the simulated modules |
| ``GET /v1/sim/<module>`` | the simulator's driver, description and actions |
| ``POST /v1/sim/<module>`` | ``{"action": "insert", "params": {...}}``: insert a card, paper out, unplug, delay … |
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.failures import swallowed
from gtsdk.modules import MODULES
from gtsdk.server.call import Call, Handler, Response
from gtsdk.simulated import simulations_of
from gtsdk.wire import SimControl, SimInfo

if TYPE_CHECKING:
    from gtsdk.server.app import ServiceApp

log = logging.getLogger("gtsdk.server")


def add_routes(svc: ServiceApp) -> None:
    def simulation(mod_id: str) -> Any:
        sim = simulations_of(svc.terminal).get(mod_id)
        if sim is None:
            raise GtsdkError(ErrorCode.NOT_FOUND, f"{mod_id} is not simulated (start with --simulate)")
        return sim

    async def listing(call: Call) -> Response:
        return call.ok({"modules": sorted(simulations_of(svc.terminal))})

    def info(mod_id: str) -> Handler:
        async def handler(call: Call) -> Response:
            sim = simulation(mod_id)
            return call.ok(SimInfo(module=mod_id, driver=sim.driver, description=sim.describe(),
                                   actions=sim.actions()))
        return handler

    def control(mod_id: str) -> Handler:
        async def handler(call: Call) -> Response:
            sim = simulation(mod_id)
            req = await svc.parse_body(call, SimControl)
            assert isinstance(req, SimControl)
            try:
                out = await asyncio.to_thread(sim.control, req.action, req.params)
            except GtsdkError:
                raise
            except Exception as e:  # noqa: BLE001 - a simulator's own code (its daemon, files, sockets) may raise
                # anything: logged by type and place, answered as internalError
                swallowed("sim", f"{mod_id} {req.action}", e, logger=log)
                raise GtsdkError(ErrorCode.INTERNAL_ERROR, f"simulator raised {type(e).__name__}") from None
            return call.ok(out if isinstance(out, dict) else {"result": out})
        return handler

    svc.routes.add("GET", "/v1/sim", listing, "maintenance")
    for mod_id in MODULES:
        svc.routes.add("GET", f"/v1/sim/{mod_id}", info(mod_id), "maintenance")
        svc.routes.add("POST", f"/v1/sim/{mod_id}", control(mod_id), "maintenance")
