"""Image processing has no device: the simulation runs the real ``opencv`` driver and
offers synthetic sample scans with known geometry (see :mod:`.scans`)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from gtsdk.sim import unknown_action

from . import scans

SAMPLES = {
    "form": "a filled-in application form page (Chinese + ASCII text), 1240×1754",
    "photo": "the form photographed in perspective on a dark desk; params: corners",
    "skewed": "the form scanned crooked; params: degrees (clockwise, default 4)",
    "a4": "a 300-dpi A4 page; params: dpi",
    "passport": "a passport data page with the ICAO 9303 specimen MRZ",
}

PHOTO_CORNERS = [(260.0, 140.0), (1420.0, 210.0), (1500.0, 1820.0), (170.0, 1760.0)]


def sample(name: str, params: dict[str, Any] | None = None) -> tuple[bytes, dict[str, Any]]:
    p = params or {}
    if name == "form":
        return scans.encode(scans.render_page(scans.FORM_LINES)), {}
    if name == "photo":
        corners = [tuple(c) for c in p.get("corners", PHOTO_CORNERS)]
        img = scans.place(scans.render_page(scans.FORM_LINES, border=False), corners, (1700, 2000))
        return scans.encode(img), {"corners": corners}
    if name == "skewed":
        deg = float(p.get("degrees", 4.0))
        return scans.encode(scans.skewed(scans.render_page(scans.FORM_LINES), deg)), {"degrees": deg}
    if name == "a4":
        dpi = int(p.get("dpi", 300))
        return scans.encode(scans.a4_scan(dpi)), {"dpi": dpi}
    if name == "passport":
        return scans.encode(scans.passport_page()), {"mrz": list(scans.SPECIMEN_MRZ)}
    raise KeyError(name)


class ImagingSimulation:
    module = "imaging"
    driver = "opencv"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.settings: dict[str, Any] = {}

    def describe(self) -> str:
        return "no device: OpenCV in-process; synthetic scans available through the 'sample' action"

    def actions(self) -> dict[str, str]:
        return {"sample": "a synthetic scan as base64 JPEG plus its geometry; params: name (" + ", ".join(SAMPLES)
                          + "), save=true writes it under the workdir",
                "samples": "the sample names"}

    def control(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        if action == "samples":
            return dict(SAMPLES)
        if action == "sample":
            from gtsdk.errors import ErrorCode, GtsdkError

            name = str(params.get("name", "form"))
            try:
                data, geom = sample(name, params)
            except KeyError:
                raise GtsdkError(ErrorCode.INVALID_DATA, f"unknown sample; known: {', '.join(SAMPLES)}",
                                 field="name") from None
            out: dict[str, Any] = {"name": name, "image": base64.b64encode(data).decode(), **geom}
            if params.get("save"):
                self.workdir.mkdir(parents=True, exist_ok=True)
                path = self.workdir / f"{name}.jpg"
                path.write_bytes(data)
                out["path"] = str(path)
            return out
        raise unknown_action(self, action)

    def stop(self) -> None:
        pass


def start(workdir: Path) -> ImagingSimulation:
    return ImagingSimulation(workdir)
