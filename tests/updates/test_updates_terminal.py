"""The terminal side of signed updates with real parts (issue #17; 9.1.1.2 a/b/d, 10.2.2 c): virtual
environments built by pip from wheels only, ``check-config`` and ``certify-driver`` run by the new version's own
code against gtsdk's Modbus lights simulator, a supervised service process, rollback on a failed certification, a
crash loop and a health regression, ``kill -9`` at every step of a switch, the switch waiting for an open 办件,
and the allowed-software report.

One update root is shared by the tests of this module, in order: 1.0 (base) → 1.1 (good) → 1.2 (driver fails
certification) → 1.3 (crash loop) → 1.4 (health regression) → 1.5 (kill -9 mid-switch)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import _updates_fixtures as fx
import _updates_wheels as wheels
import pytest

from gtsdk.errors import GtsdkError
from gtsdk.updates import errors as ue
from gtsdk.updates.installer import Updater
from gtsdk.updates.inventory import report
from gtsdk.updates.layout import read_json
from gtsdk.updates.supervisor import Supervisor

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("updates")
    house = tmp / "base-wheels"
    house.mkdir()
    base = [wheels.repack(d, house) for d in wheels.BASE_DISTRIBUTIONS] + [wheels.gtsdk_wheel(house)]
    root = tmp / "root"
    b = fx.make_bundle(tmp, "1.0", [*base, fx.plugin(tmp, "1.0")], config=fx.CONFIG,
                       requires=["gtsdk", "acme-lights"])
    rec = fx.Recorded()
    u = fx.updater(root, progress=rec)
    assert u.install_base(b) == "1.0"
    return {"tmp": tmp, "root": root, "progress": rec}


def _updater(world: dict[str, Any]) -> Updater:
    return fx.updater(world["root"], progress=world["progress"])


class Running:
    """A supervisor in a thread, stopped (and its service with it) at the end."""

    def __init__(self, u: Updater, status: Path, health: bool = True) -> None:
        self.status = status
        probe = (lambda: (read_json(status) or {}).get("modules")) if health else None
        self.sup = Supervisor(u, fx.service_command(status), records_db=status.parent / "records.sqlite",
                              health=probe, poll=0.1)
        self.thread = threading.Thread(target=self.sup.run, kwargs={"until": time.monotonic() + 120}, daemon=True)

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        pid = self.sup.pid
        self.sup.request_stop()
        self.thread.join(40)
        assert not self.thread.is_alive()
        if pid is not None:  # the service it ran was stopped with it, nothing orphaned
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


def _wait(pred: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not within {timeout} s")


def _request(u: Updater, version: str) -> None:
    from gtsdk.updates.layout import write_json
    from gtsdk.updates.supervisor import REQUEST

    write_json(u.layout.root / REQUEST, {"version": version})


def test_good_update_is_certified_switched_and_confirmed(world: dict[str, Any]) -> None:
    tmp = world["tmp"]
    u = _updater(world)
    status = tmp / "svc-good.json"
    with Running(u, status):
        assert fx.read_status(status, version="1.0")["version"] == "1.0"
        b = fx.make_bundle(tmp, "1.1", [fx.plugin(tmp, "1.1")], drivers=["lights.acme"], requiredTier="silver")
        m = u.stage(b)
        assert m.version == "1.1" and u.current == "1.0"  # side by side: nothing switched yet
        _request(u, "1.1")
        new = fx.read_status(status, timeout=120, version="1.1")
        assert new["python"].startswith(str(u.layout.venv("1.1")))  # the new venv's own interpreter
        _wait(lambda: u.layout.journal() is None, 30, "confirmation")
    assert (u.current, u.layout.previous) == ("1.1", "1.0")
    report_doc = json.loads((u.layout.version_dir("1.1") / "certification/lights.acme/report.json").read_text())
    assert report_doc["tier_reached"] in ("silver", "gold") and report_doc["target"] == "lights.acme"
    phases = world["progress"].phases()
    for p in ("staged", "certifying", "certified", "switched", "confirmed"):
        assert p in phases
    # only the acme wheel was in the bundle: the rest came from 1.0's wheelhouse (hard links, same bytes)
    assert (u.layout.version_dir("1.1") / "wheels").glob("gtsdk-*.whl")
    w10 = read_json(u.layout.version_dir("1.0") / "wheels.json") or {}
    w11 = read_json(u.layout.version_dir("1.1") / "wheels.json") or {}
    assert {k for k in w10 if not k.startswith("acme")} == {k for k in w11 if not k.startswith("acme")}


def test_driver_failing_certification_never_runs(world: dict[str, Any]) -> None:
    tmp = world["tmp"]
    u = _updater(world)
    status = tmp / "svc-broken.json"
    b = fx.make_bundle(tmp, "1.2", [fx.plugin(tmp, "1.2", driver=fx.BROKEN)], drivers=["lights.acme"])
    u.stage(b)  # it installs and its configuration checks out …
    with Running(u, status):
        fx.read_status(status, version="1.1")
        status.unlink()
        with pytest.raises(GtsdkError) as e:  # … but its driver does not meet the device
            u.switch("1.2")
        assert e.value.code == ue.CERTIFICATION_FAILED and "bronze" in e.value.detail
        assert fx.read_status(status)["version"] == "1.1"  # the old version was started again
    assert u.current == "1.1" and u.layout.is_failed("1.2")
    with pytest.raises(GtsdkError) as e:
        u.stage(b)  # never again
    assert e.value.code == ue.CERTIFICATION_FAILED


def test_crash_loop_after_switch_rolls_back(world: dict[str, Any]) -> None:
    tmp = world["tmp"]
    u = _updater(world)
    status = tmp / "svc-crash.json"
    u.stage(fx.make_bundle(tmp, "1.3", [fx.plugin(tmp, "1.3", crash="yes")]))
    with Running(u, status):
        fx.read_status(status, version="1.1")
        t0 = time.monotonic()
        _request(u, "1.3")
        # three starts of the new version (back-off 0.5 s, 1 s) and the rollback: bounded by the starts' cost
        _wait(lambda: u.layout.is_failed("1.3"), 150, "rollback after the crash loop")
        took = time.monotonic() - t0
        assert fx.read_status(status, version="1.1")["version"] == "1.1"
    assert u.current == "1.1" and took < 150
    failed = read_json(u.layout.version_dir("1.3") / "failed.json") or {}
    assert failed["code"] == ue.ROLLED_BACK and "crash loop" in failed["detail"]


def test_health_regression_rolls_back(world: dict[str, Any]) -> None:
    tmp = world["tmp"]
    u = _updater(world)
    status = tmp / "svc-health.json"
    u.stage(fx.make_bundle(tmp, "1.4", [fx.plugin(tmp, "1.4", health="bad")]))
    with Running(u, status):
        fx.read_status(status, version="1.1")
        _request(u, "1.4")
        _wait(lambda: u.layout.is_failed("1.4"), 120, "rollback after the health regression")
        assert fx.read_status(status, version="1.1")["version"] == "1.1"
    assert "lights" in (read_json(u.layout.version_dir("1.4") / "failed.json") or {})["detail"]


def test_configuration_the_new_code_rejects_is_refused(world: dict[str, Any]) -> None:
    tmp = world["tmp"]
    u = _updater(world)
    bad = fx.CONFIG.replace('port = "/dev/null"', 'port = "/dev/null"\nbaudrat = 9600')
    with pytest.raises(GtsdkError) as e:  # check-config of the new version names the misspelt key
        u.stage(fx.make_bundle(tmp, "1.45", [], config=bad))
    assert e.value.code == ue.CONFIG_REJECTED and "baudrat" in e.value.detail
    assert not u.layout.version_dir("1.45").exists() and u.current == "1.1"


def test_switch_waits_for_an_open_transaction(world: dict[str, Any]) -> None:
    from gtsdk.records.clock import SystemClock
    from gtsdk.records.store import RecordStore
    from gtsdk.records.timeline import Timeline
    from gtsdk.records.transactions import TransactionBook

    tmp = world["tmp"]
    u = _updater(world)
    status = tmp / "svc-tx.json"
    store = RecordStore(tmp / "records.sqlite")
    timeline = Timeline(store, SystemClock())
    timeline.start()
    book = TransactionBook(store, timeline, None, idle=600)
    tx = book.begin("S-001", "kiosk")
    u.stage(fx.make_bundle(tmp, "1.5", [fx.plugin(tmp, "1.5")]))
    with Running(u, status):
        fx.read_status(status, version="1.1")
        t0 = time.monotonic()
        with pytest.raises(GtsdkError) as e:
            u.switch("1.5")  # policy: wait at most 3 s
        assert e.value.code == ue.TRANSACTION_OPEN and time.monotonic() - t0 >= 2.9
        assert (read_json(status) or {})["version"] == "1.1"  # never stopped
        from gtsdk.records.schema import TransactionResult

        book.end(tx.id, "kiosk", TransactionResult.COMPLETED, None)
        u.switch("1.5")
        fx.read_status(status, version="1.5")
    assert u.current == "1.5" and "waiting" in world["progress"].phases()


KILLER = r'''
import os, signal, sys
sys.path.insert(0, {tests!r})
import _updates_fixtures as fx
from pathlib import Path

class Control:
    def open_transactions(self): return 0
    def health(self): return {{}}
    def stop(self): pass
    def start(self, version): pass

u = fx.updater(Path({root!r}))
u.control = Control()
def cp(phase):
    if phase == {phase!r}:
        os.kill(os.getpid(), signal.SIGKILL)
u.checkpoint = cp
u.switch({version!r})
'''


@pytest.mark.parametrize("phase", ["certified", "journaled", "previous", "current", "probation"])
def test_kill9_mid_switch_comes_back_on_one_version(world: dict[str, Any], phase: str) -> None:
    tmp = world["tmp"]
    u = _updater(world)
    old = u.current
    assert old is not None
    target = "1.6"
    if not u.layout.is_ready(target):
        u.stage(fx.make_bundle(tmp, target, [fx.plugin(tmp, target)]))
    if u.current == target:  # an earlier case finished the switch: start again from the old version
        u.layout.point(u.layout.current_link, "1.5")
        u.layout.set_journal(None)
        old = "1.5"
    helpers = Path(__file__).resolve().parents[1]  # tests/
    script = KILLER.format(tests=str(helpers), root=str(world["root"]), phase=phase, version=target)
    p = subprocess.run([sys.executable, "-c", script], timeout=120, capture_output=True, text=True)
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
    # the machine comes back: recovery resolves the journal, the pointer names one complete version
    after = _updater(world).recover()
    assert after in (old, target)
    assert after == (target if phase in ("current", "probation") else old)
    assert os.readlink(u.layout.current_link) == f"versions/{after}"
    assert u.layout.is_ready(after) and not u.layout.is_failed(after)
    j = u.layout.journal()
    assert j is None or (j["op"] == "probation" and j["version"] == after)
    code = subprocess.run([str(u.layout.venv(after) / "bin/python"), "-c",
                           "import acme_lights; print(acme_lights.VERSION)"],
                          capture_output=True, text=True, timeout=60, cwd=u.layout.version_dir(after)).stdout.strip()
    assert code == after  # the code that runs is the version the pointer names
    assert not list(u.layout.root.glob(".current.*")) and not list(u.layout.root.glob(".previous.*"))
    u.layout.set_journal(None)


def test_allowed_software_report_flags_what_no_bundle_brought(world: dict[str, Any]) -> None:
    u = _updater(world)
    cur = u.current
    assert cur is not None
    venv = u.layout.venv(cur)
    signed = {k: str(v) for k, v in (read_json(u.layout.version_dir(cur) / "wheels.json") or {}).items()}
    doc = report(venv, signed)
    assert doc["flagged"] == 0, [d for d in doc["distributions"] if d["flags"]] + doc["unowned"]
    names = {d["name"].lower().replace("_", "-") for d in doc["distributions"]}
    assert {"gtsdk", "acme-lights", "numpy"} <= names
    acme = next(d for d in doc["distributions"] if d["name"].lower().startswith("acme"))
    assert acme["wheelSm3"] == signed[acme["wheel"]] and len(acme["recordSm3"]) == 64
    # installed by hand (from a wheel that no bundle carried), a file changed, a stray module dropped in
    tmp = world["tmp"]
    extra = wheels.plugin_wheel(tmp / "w-x", version="9.9", body="VERSION = '9.9'\n",
                                entry="lights.acme")
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin/python"), "install", "-q",
                        "--no-index", "--no-deps", "--force-reinstall", str(extra)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    sp = next(venv.glob("lib/python3*/site-packages"))
    (sp / "numpy" / "version.py").write_text("version = 'patched'\n")
    (sp / "sneaky.py").write_text("import os\n")
    doc = report(venv, signed)
    flags = {d["name"].lower(): d["flags"] for d in doc["distributions"] if d["flags"]}
    assert flags == {"acme-lights": ["notFromBundle"], "numpy": ["modified"]} or \
        flags == {"acme_lights": ["notFromBundle"], "numpy": ["modified"]}
    assert doc["unowned"] == ["sneaky.py"] and doc["flagged"] == 3
