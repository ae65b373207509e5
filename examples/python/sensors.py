"""8.4 k) Read the sensors; alarms (door/tamper, power) arrive as events (传感器, 9.1.1.1 b)."""

from _common import connect

with connect() as c:
    values = c.sensors.read()
    for r in values.readings:
        print(f"{r.name:<14} {r.value!s:>8} {r.unit}")
    print("active alarms:", values.alarms or "none")
