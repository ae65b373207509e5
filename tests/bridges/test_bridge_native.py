"""native_bridge against the simulated vendor SDK (a C library built here with the system compiler):
the card read through files and through buffers, waiting, cancel, crash (SIGSEGV) and hang each
→ hardwareError with the next read working, unplug/replug, events, the private folder left empty,
and no worker left behind when the service is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from _bridge_fixtures import BUFFERS_MAPPING, Events, bridged, native_sim, wait_for  # noqa: F401

from gtsdk.errors import GtsdkError
from gtsdk.modules.idcard import CardType, IdCardData

DRIVER = "native_bridge"


def expected(sim: Any, key: str = "resident") -> IdCardData:
    from gtsdk.drivers.sam_serial.cardtext import parse_text

    return parse_text(sim.cards[key].text)


def worker_pid(t: Any) -> int:
    drv = t.device("idcard").driver
    assert drv is not None and drv.bridge.worker is not None
    pid: int = drv.bridge.worker.pid
    return pid


def bridge_folder(t: Any) -> Path:
    drv = t.device("idcard").driver
    assert drv is not None
    folder: Path = drv.bridge.workdir
    return folder


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_reads_the_card_through_the_vendor_files(native_sim: Any) -> None:  # noqa: F811
    with bridged(DRIVER, native_sim.settings) as t:
        card = t.idcard.read(timeout=5)
        want = expected(native_sim)
        for f in ("name", "sex", "sex_code", "nation_code", "birth_date", "address", "id_number", "issuer",
                  "valid_from", "valid_until", "long_term"):
            assert getattr(card, f) == getattr(want, f), f
        assert card.card_type is CardType.RESIDENT
        assert card.photo is not None and card.photo[:2] == b"BM"
        assert card.photo_wlt == native_sim.cards["resident"].photo[:1024]
        info = t.device("idcard").capabilities().device
        assert (info.vendor, info.model, info.driver) == ("Acme", "IDR-100", "native_bridge")
        assert info.serial.startswith("05.01-")
        assert list(bridge_folder(t).iterdir()) == []  # wz.txt, zp.bmp, xp.wlt read and removed
        assert oct(bridge_folder(t).stat().st_mode & 0o777) == "0o700"


def test_long_term_card_through_buffers_utf16_and_gb18030(native_sim: Any) -> None:  # noqa: F811
    native_sim.insert("resident_longterm")
    with bridged(DRIVER, {**native_sim.settings, "mapping": str(BUFFERS_MAPPING)}) as t:
        card = t.idcard.read(timeout=5)
        want = expected(native_sim, "resident_longterm")
        assert (card.name, card.id_number, card.address) == (want.name, want.id_number, want.address)
        assert card.long_term and card.valid_until is None
        assert card.sex == "女" and card.nation_code == "03"
        assert card.photo_wlt is not None and len(card.photo_wlt) == 1024
        assert list(bridge_folder(t).iterdir()) == []


def test_no_card_waits_until_the_deadline_and_cancel_stops_it(native_sim: Any) -> None:  # noqa: F811
    native_sim.control("remove", {})
    with bridged(DRIVER, native_sim.settings) as t:
        t0 = time.monotonic()
        with pytest.raises(GtsdkError) as ei:
            t.idcard.read(timeout=0.4)
        assert ei.value.code == "timeOut" and time.monotonic() - t0 < 2.0
        job = t.submit("idcard", "read", {}, timeout=10, request_id="c1")
        time.sleep(0.3)
        assert t.cancel("idcard", "c1")
        with pytest.raises(GtsdkError) as ei:
            job.future.result(timeout=3)
        assert ei.value.code == "canceled"
        threading.Timer(0.5, native_sim.insert, ("resident",)).start()
        assert t.idcard.read(timeout=5).name == expected(native_sim).name  # waited for the card


@pytest.mark.parametrize("fault", ["crash", "hang"])
def test_crash_and_hang_give_hardware_error_and_the_next_read_works(native_sim: Any, fault: str) -> None:  # noqa: F811
    with bridged(DRIVER, native_sim.settings) as t:
        t.idcard.read(timeout=5)
        before = worker_pid(t)
        native_sim.control(fault, {"function": "Read_Content"})
        t0 = time.monotonic()
        with pytest.raises(GtsdkError) as ei:
            t.idcard.read(timeout=10)
        took = time.monotonic() - t0
        assert ei.value.code == "hardwareError"
        assert ("SIGSEGV" in ei.value.detail) if fault == "crash" else ("within 3 s" in ei.value.detail)
        assert took < (2.0 if fault == "crash" else 5.0)  # the mapping's call_timeout is 3 s
        assert not alive(before)  # killed by its PID
        st = t.device("idcard").status()
        assert st.state == "hardwareError" and st.detail["restarts"] >= 2
        assert list(bridge_folder(t).iterdir()) == []
        card = t.idcard.read(timeout=5)  # the device recovered: a fresh worker, InitComm replayed
        assert card.id_number == expected(native_sim).id_number
        assert t.device("idcard").status().state == "online"
        assert worker_pid(t) != before


def test_unplugged_reader_is_no_device_and_comes_back(native_sim: Any) -> None:  # noqa: F811
    with bridged(DRIVER, native_sim.settings) as t:
        native_sim.control("unplug", {})
        with pytest.raises(GtsdkError) as ei:
            t.idcard.read(timeout=3)
        assert ei.value.code == "noDevice" and "reader lost" in ei.value.detail
        assert t.device("idcard").status().state == "noDevice"
        native_sim.control("replug", {})
        wait_for(lambda: t.device("idcard").status().state == "online", 10, "reconnect after replug")
        assert t.idcard.read(timeout=5).name


def test_card_events_from_polling(native_sim: Any) -> None:  # noqa: F811
    native_sim.control("remove", {})
    with bridged(DRIVER, native_sim.settings) as t:
        ev = Events(t)
        native_sim.insert("resident")
        ev.wait("cardInserted")
        native_sim.control("remove", {})
        ev.wait("cardRemoved")


def test_a_library_that_is_not_there_is_no_device(native_sim: Any, tmp_path: Path) -> None:  # noqa: F811
    settings = {**native_sim.settings, "params": {**native_sim.settings["params"], "library": str(tmp_path / "x.so")}}
    from gtsdk.runtime import Terminal, parse_config

    t = Terminal(parse_config({"modules": {"idcard": {"driver": DRIVER, **settings}}}), strict=True).start()
    try:
        wait_for(lambda: t.device("idcard").status().state == "noDevice", 10, "noDevice")
        assert "cannot load the vendor library" in t.device("idcard").status().reason
    finally:
        t.stop()


def test_killing_the_service_leaves_no_worker(native_sim: Any, tmp_path: Path) -> None:  # noqa: F811
    """kill -9 of the process holding the bridge: its worker dies with it (PR_SET_PDEATHSIG), even in a hang."""
    native_sim.control("hang", {"function": "Read_Content"})
    script = tmp_path / "holder.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys, time
        from gtsdk.runtime import Terminal, parse_config
        settings = json.loads({__import__("json").dumps(__import__("json").dumps(native_sim.settings))})
        t = Terminal(parse_config({{"modules": {{"idcard": {{"driver": "native_bridge", **settings}}}}}})).start()
        while t.device("idcard").status().state != "online":
            time.sleep(0.05)
        print(t.device("idcard").driver.bridge.worker.pid, flush=True)
        t.submit("idcard", "read", {{}}, timeout=60)
        time.sleep(60)
    """))
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline() if p.stdout else ""
        pid = int(line)
        assert alive(pid)
        time.sleep(0.5)  # the read is now hanging inside the vendor library
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
        wait_for(lambda: not alive(pid), 5, "the worker to die with its service")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
