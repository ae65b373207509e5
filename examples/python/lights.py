"""8.4 j) Guide the user with the lights beside each device (灯控板)."""

import time

from _common import connect

with connect() as c:
    print(c.lights.flash(light="idcard", period=0.5, duty=0.5).states)
    time.sleep(1.0)
    print(c.lights.on(light="receipt").states)
    print(c.lights.off(light="idcard").states)
    print(c.lights.off(light="receipt").states)
