"""Sample requests (wire form) for every operation of the 14 contracts, and
which operations wait for a person (card, finger, code, pen) — those are the
ones the timeout and cancel checks use."""

from __future__ import annotations

import base64
import io
from typing import Any


def _png(w: int = 64, h: int = 48) -> str:
    from PIL import Image

    img = Image.new("RGB", (w, h), (200, 200, 200))
    for x in range(10, 50):
        for y in range(10, 30):
            img.putpixel((x, y), (20, 20, 20))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _pdf() -> str:
    # The smallest well-formed one-page PDF (PDF 1.4 structure: catalog, pages, page, xref, trailer).
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + o + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return base64.b64encode(bytes(out)).decode()


# ICAO Doc 9303 part 4 specimen MRZ (TD3, "UTO" is the fictitious issuing state of the specimen).
SPECIMEN_MRZ = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"


def sample(module: str, op: str) -> dict[str, Any]:
    table: dict[tuple[str, str], Any] = {
        ("travel_doc", "read"): lambda: {"mrz": SPECIMEN_MRZ},
        ("fingerprint", "compare"): lambda: {"probe": base64.b64encode(bytes(512)).decode(),
                                             "references": [base64.b64encode(bytes(512)).decode()]},
        ("camera", "face_compare"): lambda: {"reference": _png()},
        ("a4_printer", "print"): lambda: {"document": _pdf(), "format": "pdf"},
        ("a4_printer", "job_status"): lambda: {"jobId": 1},
        ("a4_printer", "cancel_job"): lambda: {"jobId": 1},
        ("receipt_printer", "print"): lambda: {"elements": [{"type": "text", "text": "gtsdk 测试凭条"},
                                                            {"type": "qr", "data": "GT-0001"}]},
        ("microphone", "start_recording"): lambda: {"maxDurationMs": 1000},
        ("lights", "on"): lambda: {"light": "idcard"},
        ("lights", "flash"): lambda: {"light": "idcard", "periodMs": 500},
        ("lights", "off"): lambda: {"light": "idcard"},
        ("imaging", "crop"): lambda: {"image": _png(), "rect": {"x": 5, "y": 5, "width": 40, "height": 30}},
        ("imaging", "redact"): lambda: {"image": _png(), "regions": [{"x": 5, "y": 5, "width": 20, "height": 10}]},
        ("voice", "speak"): lambda: {"text": "请放置证件"},
        ("keyboard", "show"): lambda: {"layout": "numeric"},
    }
    fn = table.get((module, op))
    return dict(fn()) if fn else _from_schema(module, op)


def _from_schema(module: str, op: str) -> dict[str, Any]:
    """A minimal request for an operation this table does not know (e.g. a vendor's extra one):
    every required field filled from its JSON Schema."""
    from gtsdk.modules import MODULES

    spec = MODULES.get(module)
    if spec is None or op not in spec.operations:
        return {}
    schema = spec.operations[op].request.model_json_schema(by_alias=True)
    props = schema.get("properties", {})
    out: dict[str, Any] = {}
    for name in schema.get("required", []):
        p = props.get(name, {})
        kind = p.get("type")
        if p.get("format") == "base64url" or p.get("format") == "binary" or "base64" in str(p.get("format", "")):
            out[name] = _png()
        elif kind == "string":
            out[name] = "idcard" if "pattern" in p else "gtsdk"
        elif kind == "integer":
            out[name] = max(1, int(p.get("minimum", 1)))
        elif kind == "number":
            out[name] = float(p.get("exclusiveMinimum", 0)) + 1.0
        elif kind == "boolean":
            out[name] = False
        elif kind == "array":
            out[name] = []
    return out


#: operations that wait for a person, with the simulator actions (first that exists) that take the medium away
WAITING: dict[str, tuple[str, tuple[str, ...]]] = {
    "idcard": ("read", ("remove_card", "remove", "card_remove")),
    "travel_doc": ("read", ("remove_card", "remove", "card_remove")),
    "qr_scanner": ("read", ()),
    "fingerprint": ("capture", ("remove_finger", "lift_finger", "finger_off", "remove")),
    "signature_pad": ("get_signature", ()),  # nobody signs unless told to
}

#: simulator actions that unplug / replug a device (first that exists)
UNPLUG = ("unplug", "disconnect", "vanish")
REPLUG = ("replug", "plug", "reconnect", "plug_in")


def touch(module: str) -> tuple[str, dict[str, Any]]:
    """A short operation that talks to the device, so a vanished device is noticed at once
    (the caller sets its timeout)."""
    waiting = WAITING.get(module)
    if waiting is not None:
        return waiting[0], sample(module, waiting[0])
    from gtsdk.modules import MODULES

    spec = MODULES[module]
    op = next(o for o in spec.operations if o not in (spec.open_op, spec.close_op))
    return op, sample(module, op)


def find_action(actions: dict[str, str] | list[str], candidates: tuple[str, ...]) -> str | None:
    names = list(actions)
    for c in candidates:
        if c in names:
            return c
    return None
