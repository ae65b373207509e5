"""Run every benchmark module in this folder, one after another."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    only = set(sys.argv[1:])
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda i: i.name):
        if info.name.startswith("_") or (only and info.name not in only):
            continue
        print(f"\n===== benchmarks.{info.name} =====", flush=True)
        mod = importlib.import_module(f"benchmarks.{info.name}")
        entry = getattr(mod, "main", None)
        if entry is not None:
            entry()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
