"""Synthetic fingers: ridge images, the simulated module's feature files and its matcher.

Each simulated person/finger has a stable ridge pattern (whorl, loop or arch) built with the phase
model of fingerprints (Larkin & Fletcher, "A coherent framework for fingerprint analysis", 2007): a
smooth "continuous" phase gives the ridge flow, and every spiral phase term ``±atan2(y-yi, x-xi)``
adds exactly one minutia (an ending or a bifurcation) at (xi, yi).  A capture places the finger
with a small shift and rotation, a pressure (ridge thickness) and sensor noise.

The simulated module's template ("char file", 512 bytes, its own format — real modules use an
undocumented one) holds the minutiae it "extracted": the visible true minutiae with jitter, a few
missed and a few spurious ones.  Its matcher aligns two such sets (rotation + translation
hypotheses from minutia pairs) and scores the share of paired minutiae, like R30x scores
(genuine pairs typically 150-200, impostors below 25).
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass

import numpy as np

W, H = 256, 288
CHAR_SIZE = 512
_MAGIC = b"GS"
_MAX_FEATURES = 100


def _rng(*parts: object) -> np.random.Generator:
    seed = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(seed[:8], "big"))


@dataclass
class Finger:
    """One finger of one simulated person (all geometry in the finger's own 256×288 frame)."""

    person: str
    index: int = 0

    def __post_init__(self) -> None:
        r = _rng("finger", self.person, self.index)
        self.kind = str(r.choice(["whorl", "loop", "loop", "arch"]))
        self.core = (W / 2 + r.normal(0, 10), H * 0.45 + r.normal(0, 12))
        self.period = float(r.uniform(8.5, 10.0))
        self.warps = [(float(r.uniform(4, 10)), float(r.uniform(1 / 150, 1 / 70)), float(r.uniform(0, math.pi)),
                       float(r.uniform(0, 2 * math.pi))) for _ in range(3)]
        self.arch_height = float(r.uniform(25, 50))
        pts: list[tuple[float, float, int]] = []
        tries = 0
        n = int(r.integers(30, 42))
        while len(pts) < n and tries < 5000:
            tries += 1
            x, y = float(r.uniform(30, W - 30)), float(r.uniform(30, H - 30))
            if ((x - W / 2) / 105) ** 2 + ((y - H / 2 - 6) / 132) ** 2 > 0.85:
                continue
            if math.hypot(x - self.core[0], y - self.core[1]) < 22:
                continue
            if any(math.hypot(x - a, y - b) < 20 for a, b, _ in pts):
                continue
            pts.append((x, y, 1 if r.random() < 0.5 else -1))
        self.minutiae = pts

    # -- the ridge flow -------------------------------------------------------------------
    def _flow(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        cx, cy = self.core
        du, dv = u - cx, v - cy
        r = np.sqrt(du * du + 0.8 * dv * dv)
        if self.kind == "whorl":
            f = r
        elif self.kind == "loop":
            s = 1 / (1 + np.exp((dv - 10) / 12))  # 1 above the core (concentric), 0 below (parallel)
            f = s * r + (1 - s) * (np.abs(dv) + 0.35 * np.abs(du) + 10)
        else:
            f = dv - self.arch_height * np.exp(-(du * du) / (2 * 45.0**2))
        for amp, freq, ang, ph in self.warps:
            f = f + amp * np.sin(2 * np.pi * freq * (u * math.cos(ang) + v * math.sin(ang)) + ph)
        out: np.ndarray = f * (2 * np.pi / self.period)
        return out

    def ridge_angle(self, u: float, v: float) -> float:
        """Ridge direction (degrees, mod 180) at a point of the finger frame."""
        e = 0.5
        g = self._flow(np.array([u + e, u - e, u, u]), np.array([v, v, v + e, v - e]))
        gx, gy = float(g[0] - g[1]), float(g[2] - g[3])
        return (math.degrees(math.atan2(gy, gx)) + 90.0) % 180.0

    # -- a capture ------------------------------------------------------------------------
    def render(self, dx: float, dy: float, rot: float, pressure: float, noise: float,
               rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
        """(grey image H×W uint8, visible minutiae in image coordinates (x, y, angle mod 180))."""
        c, s = math.cos(math.radians(rot)), math.sin(math.radians(rot))
        ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
        # image → finger frame (inverse of: rotate about the centre, then shift)
        x0, y0 = xs - W / 2 - dx, ys - H / 2 - dy
        u = c * x0 + s * y0 + W / 2
        v = -s * x0 + c * y0 + H / 2
        psi = self._flow(u, v)
        for mx, my, pol in self.minutiae:
            psi = psi + pol * np.arctan2(v - my, u - mx)
        ridge = np.tanh(2.5 * (np.cos(psi) + (pressure - 0.5) * 0.8))
        grey = 135.0 + 95.0 * ridge  # dark ridges (valleys light)
        ell = ((u - W / 2) / 110) ** 2 + ((v - H / 2 - 6) / 138) ** 2
        edge = np.clip((1.0 - ell) / 0.08, 0.0, 1.0)
        img = edge * grey + (1 - edge) * 238.0
        img = img + rng.normal(0, noise, img.shape)
        out = np.clip(img, 0, 255).astype(np.uint8)
        visible: list[tuple[float, float, float]] = []
        for mx, my, _ in self.minutiae:
            px, py = mx - W / 2, my - H / 2
            ix = c * px - s * py + W / 2 + dx
            iy = s * px + c * py + H / 2 + dy
            if 14 <= ix < W - 14 and 14 <= iy < H - 14:
                uu, vv = mx, my
                if ((uu - W / 2) / 110) ** 2 + ((vv - H / 2 - 6) / 138) ** 2 < 0.8:
                    visible.append((ix, iy, (self.ridge_angle(mx, my) + rot) % 180.0))
        return out, visible


# ---- the simulated module's char file ---------------------------------------------------------

def features(visible: list[tuple[float, float, float]], rng: np.random.Generator, *, drop: float = 0.1,
             spurious: int = 3) -> list[tuple[float, float, float]]:
    out = [(x + rng.normal(0, 1.5), y + rng.normal(0, 1.5), (a + rng.normal(0, 5)) % 180.0)
           for x, y, a in visible if rng.random() >= drop]
    for _ in range(spurious):
        out.append((float(rng.uniform(30, W - 30)), float(rng.uniform(30, H - 30)), float(rng.uniform(0, 180))))
    return out[:_MAX_FEATURES]


def pack(feats: list[tuple[float, float, float]]) -> bytes:
    body = bytearray(_MAGIC + bytes([len(feats)]) + b"\x00")
    for x, y, a in feats:
        body += struct.pack(">HHB", round(x) & 0x3FF, round(y) & 0x3FF, int(a / 180.0 * 256) % 256)
    body += bytes(CHAR_SIZE - len(body))
    return bytes(body)


def unpack(data: bytes) -> np.ndarray | None:
    """(n, 3) array x, y, angle (degrees mod 180); None when the bytes are not a char file of this module."""
    if len(data) != CHAR_SIZE or data[:2] != _MAGIC or data[2] > _MAX_FEATURES:
        return None
    n = data[2]
    arr = np.zeros((n, 3))
    for i in range(n):
        x, y, a = struct.unpack(">HHB", data[4 + 5 * i: 9 + 5 * i])
        arr[i] = (x, y, a * 180.0 / 256)
    return arr


def score(a: bytes, b: bytes, *, tol: float = 10.0, angle_tol: float = 22.0, max_rot: float = 35.0) -> int:
    """Similarity of two char files (0 for anything that is not a char file of this module)."""
    fa, fb = unpack(a), unpack(b)
    if fa is None or fb is None or len(fa) < 3 or len(fb) < 3:
        return 0
    # rotation hypotheses from every pair (ridge angles are mod 180: take the small rotation)
    d = (fb[None, :, 2] - fa[:, None, 2] + 90.0) % 180.0 - 90.0  # (n, m)
    ii, jj = np.nonzero(np.abs(d) <= max_rot)
    if len(ii) == 0:
        return 0
    th = np.radians(d[ii, jj])
    c, s = np.cos(th), np.sin(th)
    rel = fa[None, :, :2] - fa[ii][:, None, :2]  # (P, n, 2)
    rx = c[:, None] * rel[..., 0] - s[:, None] * rel[..., 1] + fb[jj][:, None, 0]
    ry = s[:, None] * rel[..., 0] + c[:, None] * rel[..., 1] + fb[jj][:, None, 1]
    dist = np.hypot(rx[:, :, None] - fb[None, None, :, 0], ry[:, :, None] - fb[None, None, :, 1])  # (P, n, m)
    ang = np.abs((fa[None, :, None, 2] + d[ii, jj][:, None, None] - fb[None, None, :, 2] + 90.0) % 180.0 - 90.0)
    paired = ((dist <= tol) & (ang <= angle_tol)).any(axis=2).sum(axis=1)
    best = int(paired.max())
    share = best * best / (len(fa) * len(fb))  # paired share of both sets
    return round(300.0 * math.pow(share, 1.5))
