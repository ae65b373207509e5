"""The ``pushCatalogue`` command's parameters: a 事项 catalogue (6.3, 7.1.3 a) from the platform to a terminal.

``params`` is ``{"catalogue": {...}}`` — the catalogue as :class:`gtsdk.records.schema.Catalogue` on the wire
(camelCase) — or, when that JSON is larger than :data:`PLAIN_MAX` bytes, ``{"catalogueZlib": "<base64>"}``, the
same JSON compressed with zlib (RFC 1950), so that a catalogue of a few hundred services still fits one signed
command (:data:`gtsdk.fleet.commands.MAX_COMMAND_BYTES`).  The terminal inflates it to at most the catalogue file's
own limit (:data:`gtsdk.records.catalogue.MAX_FILE_BYTES`), so a small command cannot expand into a large one.

Both sides validate with the loader that reads the catalogue file (:func:`gtsdk.records.catalogue.parse`): a bad
catalogue is refused with a ``configError`` naming the entry, e.g. ``catalogue: entries[3] (social).modules``.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.records import catalogue
from gtsdk.records.schema import Catalogue

#: catalogue JSON above this size travels compressed
PLAIN_MAX = 16 * 1024


def encode(cat: Catalogue) -> dict[str, Any]:
    """The command's params for *cat*."""
    wire = cat.model_dump(by_alias=True, mode="json", exclude_none=True)
    text = json.dumps(wire, ensure_ascii=False, separators=(",", ":")).encode()
    if len(text) <= PLAIN_MAX:
        return {"catalogue": wire}
    return {"catalogueZlib": base64.b64encode(zlib.compress(text, 9)).decode()}


def decode(params: dict[str, Any]) -> Catalogue:
    """The catalogue a ``pushCatalogue`` command carries, validated; GtsdkError naming what is wrong."""
    unknown = set(params) - {"catalogue", "catalogueZlib"}
    if unknown or len(params) != 1:
        raise GtsdkError(ErrorCode.INVALID_DATA, "params must be {catalogue} or {catalogueZlib}",
                         field=sorted(unknown)[0] if unknown else "catalogue")
    if "catalogue" in params:
        data = params["catalogue"]
    else:
        raw = params["catalogueZlib"]
        if not isinstance(raw, str):
            raise GtsdkError(ErrorCode.INVALID_DATA, "catalogueZlib must be base64 text", field="catalogueZlib")
        try:
            packed = base64.b64decode(raw, validate=True)
            d = zlib.decompressobj()
            text = d.decompress(packed, catalogue.MAX_FILE_BYTES + 1)
            if len(text) > catalogue.MAX_FILE_BYTES or d.unconsumed_tail:
                raise GtsdkError(ErrorCode.PAYLOAD_TOO_LARGE, f"catalogue over {catalogue.MAX_FILE_BYTES} bytes",
                                 field="catalogueZlib")
            if not d.eof:
                raise zlib.error("truncated")
            data = json.loads(text)
        except (binascii.Error, ValueError, zlib.error):
            raise GtsdkError(ErrorCode.INVALID_DATA, "catalogueZlib is not zlib-compressed JSON in base64",
                             field="catalogueZlib") from None
    if not isinstance(data, dict):
        raise GtsdkError(ErrorCode.INVALID_DATA, "the catalogue must be an object with version and entries",
                         field="catalogue")
    return catalogue.parse(data, "catalogue")
