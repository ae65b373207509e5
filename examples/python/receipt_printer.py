"""8.4 g) Print a receipt with Chinese text and a QR code, then cut (凭条打印机)."""

from _common import connect

from gtsdk.modules.receipt_printer import Align, Feed, QrCode, Text

with connect() as c:
    c.receipt_printer.init()
    c.receipt_printer.print(elements=[
        Text(text="政务服务自助终端", align=Align.CENTER, width=2, height=2, bold=True),
        Text(text="业务：社保卡补办"),
        Text(text="流水号：GT-20261127-0001"),
        QrCode(data="GT-20261127-0001", size=6),
        Feed(lines=2),
    ])
    c.receipt_printer.cut(partial=False, feed_lines=3)
    print(c.receipt_printer.status().detail)
