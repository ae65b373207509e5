"""8.4 i) Record a short clip from the microphone (拾音器)."""

import time
from pathlib import Path

from _common import connect

with connect() as c:
    c.microphone.open()
    c.microphone.start_recording(sample_rate=16000, channels=1, max_duration=5)
    time.sleep(1.0)
    rec = c.microphone.stop_recording()
    print("recorded", rec.duration_ms, "ms at", rec.sample_rate, "Hz; peak", rec.peak_dbfs, "dBFS; silent:", rec.silent)
    Path("recording.wav").write_bytes(rec.wav)
