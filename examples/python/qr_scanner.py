"""8.4 h) Read a QR code (二维码扫描器)."""

import threading

from _common import connect, simulate

with connect() as c:
    c.qr_scanner.open()
    threading.Timer(0.5, lambda: simulate("qr_scanner", "present", text="https://zwfw.example/q/GT-0001")).start()
    scan = c.qr_scanner.read(timeout=15)
    print("scanned:", scan.text, "encoding:", scan.encoding)
