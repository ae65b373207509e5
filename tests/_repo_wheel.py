"""gtsdk's own wheel, built from this checkout for the tests that install it (the wheel's contents, a
client-only venv, signed update bundles).  setuptools builds inside the source tree (build/,
gtsdk.egg-info/), so two builds at once — the suite's parallel workers — break each other; a lock file
lets one build at a time."""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCK = Path(tempfile.gettempdir()) / f"gtsdk-test-wheel-{hashlib.sha256(str(REPO).encode()).hexdigest()[:12]}.lock"


def build_gtsdk_wheel(out_dir: Path, timeout: float = 300.0) -> Path:
    """Build the wheel into *out_dir* and return it; waits for another worker's build (at most *timeout*)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with LOCK.open("a") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another build of the gtsdk wheel held {LOCK} for {timeout:.0f} s") from None
                time.sleep(0.2)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(REPO),
                        "-w", str(out_dir)], check=True, capture_output=True, timeout=timeout)
    return sorted(out_dir.glob("gtsdk-*.whl"))[0]
