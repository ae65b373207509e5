"""8.4 g) Print a receipt with Chinese text and a QR code, then cut (凭条打印机)."""

from _common import connect

with connect() as c:
    c.receipt_printer.init()
    c.receipt_printer.print(elements=[
        {"type": "text", "text": "政务服务自助终端", "align": "center", "width": 2, "height": 2, "bold": True},
        {"type": "text", "text": "业务：社保卡补办"},
        {"type": "text", "text": "流水号：GT-20261127-0001"},
        {"type": "qr", "data": "GT-20261127-0001", "size": 6},
        {"type": "feed", "lines": 2},
    ])
    c.receipt_printer.cut(partial=False, feed_lines=3)
    print(c.status("receipt_printer").detail)
