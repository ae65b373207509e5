"""Sealed results typed on the wire (issue #14 item 3): ``data`` is the result model (never a ``kind``) or
``{"kind": "sealed", "sealed": …}``; the per-operation schema and OpenAPI say so with a ``oneOf`` whose branches
exclude each other."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from _server_fixtures import ID_NUMBER, Svc, service_fixture

from gtsdk.modules import MODULES, idcard
from gtsdk.server.openapi import build
from gtsdk.server.routes.modules import result_schema
from gtsdk.wire import SealedData

jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Svc]:
    yield from service_fixture(tmp_path)


CARD = idcard.IdCardData(card_type=idcard.CardType.RESIDENT, name="张三", sex="男", sex_code="1", nation="汉",
                         nation_code="01", birth_date=dt.date(1990, 3, 7), address="北京市", id_number=ID_NUMBER,
                         issuer="北京市公安局", valid_from=dt.date(2020, 1, 1), valid_until=dt.date(2040, 1, 1))
SEALED = SealedData(sealed={"v": 1, "hdr": "x", "ek": "y", "iv": "z", "ct": "w"})


def branches(schema: dict[str, Any], value: Any) -> list[int]:
    """Which branches of the top-level oneOf accept *value* (the schema's $defs are shared)."""
    out = []
    for i, branch in enumerate(schema["oneOf"]):
        s = {**branch, "$defs": schema.get("$defs", {})}
        if jsonschema.Draft202012Validator(s).is_valid(value):
            out.append(i)
    return out


def test_personal_data_schema_tells_result_and_sealed_apart() -> None:
    schema = result_schema(MODULES["idcard"].operation("read"))
    jsonschema.Draft202012Validator.check_schema(schema)
    card = CARD.model_dump(mode="json", by_alias=True, exclude_none=True)
    sealed = SEALED.model_dump(mode="json", by_alias=True)
    assert "kind" not in card and sealed["kind"] == "sealed"
    assert branches(schema, card) == [0] and branches(schema, sealed) == [1]
    assert branches(schema, {**card, "kind": "sealed"}) == []  # a result with kind is neither


def test_every_result_model_is_free_of_kind() -> None:
    for spec in MODULES.values():
        for o in spec.operations.values():
            assert "kind" not in {f.alias or n for n, f in o.result.model_fields.items()}, (spec.id, o.name)


def test_schema_route_and_openapi_carry_the_one_of(svc: Svc) -> None:
    with svc.app() as c:
        read = c.get("/v1/schemas/idcard/read").json()["data"]["response"]
        on = c.get("/v1/schemas/lights/on").json()["data"]["response"]
    assert "oneOf" in read and "oneOf" not in on
    doc = build(SimpleNamespace(config=SimpleNamespace(port=8801)))  # type: ignore[arg-type]
    data = doc["paths"]["/v1/idcard/read"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    one_of = data["properties"]["data"]["oneOf"]
    assert one_of[0]["not"] == {"required": ["kind"]} and "/SealedData" in one_of[1]["$ref"]
    sealed_def = doc["components"]["schemas"][one_of[1]["$ref"].rsplit("/", 1)[1]]
    assert "kind" in sealed_def["required"] and sealed_def["properties"]["kind"]["const"] == "sealed"
