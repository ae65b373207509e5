"""8.4 d) Capture a fingerprint and compare it (指纹采集器)."""

from _common import connect, simulate

with connect() as c:
    c.fingerprint.open()
    simulate("fingerprint", "place_finger", person="zhangsan")  # on a real terminal: ask for a finger
    first = c.fingerprint.capture(timeout=30)
    print("quality:", first.quality, "template bytes:", len(first.template))
    result = c.fingerprint.compare(probe=first.template, references=[first.template])
    print("matched:", result.matched, "score:", result.score, "threshold:", result.threshold)
