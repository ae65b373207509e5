"""Wire models of the service's own routes, shared by the service and its clients (the module routes use the
module contracts).  Only pydantic and the contracts: `gtsdk.client` imports this without the server's dependencies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from gtsdk.driver import Model

REQUEST_ID = r"^[A-Za-z0-9._:-]{1,64}$"


class ErrorData(Model):
    retryable: bool = False
    detail: str | None = Field(None, description="developer-facing explanation (never personal data)")
    field: str | None = Field(None, description="the offending request field, for invalidData")
    retry_after: int | None = Field(None, description="seconds, for rateLimited")


class CancelRequest(Model):
    request_id: str = Field(pattern=REQUEST_ID, description="the X-Request-Id of the request to cancel")


class CancelResult(Model):
    canceled: bool


class SealedData(Model):
    """A personal-data result sealed for the app's recipient key (docs/service.md, "Personal data sealing").

    On the wire ``data`` is either the operation's result model, which never has a ``kind`` field, or this
    object with ``kind: "sealed"``: the presence of ``kind`` tells the two apart.
    """

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    kind: Literal["sealed"] = "sealed"
    sealed: dict[str, Any] = Field(description="SM2/SM4 envelope (gtsdk.crypto.envelope) for the app's recipient key")


class SimControl(Model):
    action: str = Field(max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")
    params: dict[str, Any] = Field(default_factory=dict)


class SimInfo(Model):
    module: str
    driver: str
    description: str
    actions: dict[str, str]


class OperationEntry(Model):
    name: str
    version: str
    summary: str = ""
    personal_data: bool = False


class ServiceEntry(Model):
    module: str
    clause: str
    title_zh: str
    title_en: str
    driver: str | None = None
    driver_version: str | None = None
    state: str
    reason: str = ""
    opened: bool = False
    simulated: bool = False
    operations: list[OperationEntry]
    events: list[str]


class Services(Model):
    version: str
    terminal_id: str | None = None
    simulate: bool = False
    event_seq: int = 0
    modules: list[ServiceEntry]


class ServiceHealth(Model):
    status: str = "ok"
    version: str


class AuditRow(Model):
    id: int
    time: str
    module: str
    operation: str
    request_id: str
    code: str
    duration_ms: float
    caller: str | None = None
    app: str | None = None
    subject: str | None = Field(None, description="masked ID number, e.g. 11**************34")
    hash: str


class AuditRows(Model):
    rows: list[AuditRow]


class AuditVerify(Model):
    ok: bool
    rows: int
    algorithm: str
    signed_days: int
    problems: list[str]


class Schemas(Model):
    module: str
    operation: str
    version: str
    request: dict[str, Any]
    response: dict[str, Any]
