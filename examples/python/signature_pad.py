"""8.4 c) Collect a signature (手写签字板)."""

import threading
from pathlib import Path

from _common import connect, simulate

with connect() as c:
    c.signature_pad.open()
    threading.Timer(0.5, lambda: simulate("signature_pad", "sign", what="张三", then="ok")).start()
    sig = c.signature_pad.get_signature(prompt="请在此签名", timeout=60)
    print("completed:", sig.completed, "points:", sig.points, "strokes:", sig.strokes, "ms:", sig.duration_ms)
    if sig.image_png:
        Path("signature.png").write_bytes(sig.image_png)
        print("saved signature.png")
