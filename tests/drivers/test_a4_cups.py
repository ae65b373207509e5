"""A4 printer end to end against a real cupsd + ippeveprinter (started here, in temp dirs, in a netns).

Clauses 8.4 f) (A4 colour printer), 7.1.2 c (A4, duplex), 10.2.2 a/h (paper, toner, jams)."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from gtsdk.driver import DeviceState
from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.a4_printer import JobState
from gtsdk.simulated import SimulatedTerminal, simulated_terminal

pytest.importorskip("cups")
pytestmark = pytest.mark.peer


def _pdf(pages: int) -> bytes:
    imgs = []
    for i in range(pages):
        im = Image.new("RGB", (595, 842), "white")
        ImageDraw.Draw(im).text((72, 72), f"gtsdk A4 test page {i + 1}", fill="black")
        imgs.append(im)
    buf = io.BytesIO()
    imgs[0].save(buf, "PDF", resolution=72, save_all=True, append_images=imgs[1:])
    return buf.getvalue()


@pytest.fixture
def term(tmp_path: Path) -> Iterator[SimulatedTerminal]:
    t = simulated_terminal(tmp_path, modules=["a4_printer"])
    if "a4_printer" not in t.simulations:
        t.stop()
        pytest.skip(t.devices["a4_printer"].disabled_reason or "CUPS stack unavailable")
    t.config.modules["a4_printer"].reconnect_interval = 0.2
    with t:
        yield t


def _until(pred, what: str, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def _events(t: SimulatedTerminal, since: int, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in t.events.since(since)[0] if e.module == "a4_printer" and e.type == kind]


def test_two_page_pdf_duplex(term: SimulatedTerminal) -> None:
    seq = term.events.last_seq
    doc = _pdf(2)
    job = term.a4_printer.print(document=doc, sides="two-sided-long-edge", color=False, copies=1, media="A4",
                                title="duplex", wait=True, timeout=30)
    assert job.state == JobState.COMPLETED and job.error is None
    assert any(e["jobId"] == job.job_id and e["state"] == "completed" for e in _events(term, seq, "jobCompleted"))
    sim = term.simulations["a4_printer"]
    printed = [Path(p) for p in sim.control("printed", {})["printed"]]
    assert len(printed) == 1
    data = printed[0].read_bytes()
    assert data.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page(?!s)", data)) == 2  # both pages arrived
    env = (printed[0].parent / "env-0.txt").read_text()
    assert "IPP_SIDES=two-sided-long-edge" in env           # duplex reached the printer
    assert "IPP_PRINT_COLOR_MODE=monochrome" in env
    assert "x-dimension=21000 y-dimension=29700" in env     # A4 media
    assert term.a4_printer.job_status(job_id=job.job_id).state == JobState.COMPLETED


def test_paper_out_holds_the_job_until_paper_is_loaded(term: SimulatedTerminal) -> None:
    sim = term.simulations["a4_printer"]
    seq = term.events.last_seq
    sim.control("paper_out", {})
    with pytest.raises(GtsdkError) as e:
        term.a4_printer.print(document=_pdf(1), title="paper-out", wait=True, timeout=30)
    assert e.value.code == ErrorCode.NO_MEDIA
    job_id = e.value.data["jobId"]
    st = term.a4_printer.job_status(job_id=job_id)
    assert st.state == JobState.PROCESSING and st.error == ErrorCode.NO_MEDIA
    assert any(ev["code"] == "noMedia" for ev in _events(term, seq, "printerStatusChanged"))
    assert term.a4_printer.status().detail["code"] == "noMedia"
    # paper is loaded: the held job completes (jobCompleted event) and the next job prints
    sim.control("load_paper", {})
    _until(lambda: any(ev["jobId"] == job_id and ev["state"] == "completed"
                       for ev in _events(term, seq, "jobCompleted")), "jobCompleted after loading paper")
    job = term.a4_printer.print(document=_pdf(1), title="after refill", wait=True, timeout=30)
    assert job.state == JobState.COMPLETED and job.error is None


def test_jam_holds_the_job_until_cleared_then_next_job_prints(term: SimulatedTerminal) -> None:
    sim = term.simulations["a4_printer"]
    seq = term.events.last_seq
    sim.control("jam", {})
    with pytest.raises(GtsdkError) as e:
        term.a4_printer.print(document=_pdf(1), title="jam", wait=True, timeout=30)
    assert e.value.code == ErrorCode.MEDIA_JAM
    job_id = e.value.data["jobId"]
    st = term.a4_printer.job_status(job_id=job_id)
    assert st.state == JobState.PROCESSING and st.error == ErrorCode.MEDIA_JAM
    _until(lambda: term.a4_printer.status().state == DeviceState.HARDWARE_ERROR, "hardwareError while jammed")
    sim.control("clear_fault", {})
    _until(lambda: any(ev["jobId"] == job_id and ev["state"] == "completed"
                       for ev in _events(term, seq, "jobCompleted")), "the jammed job completes once cleared")
    job = term.a4_printer.print(document=_pdf(1), title="after jam", wait=True, timeout=30)
    assert job.state == JobState.COMPLETED and job.error is None
    assert _until(lambda: term.a4_printer.status().state == DeviceState.ONLINE, "online after the jam")


def test_toner_empty_and_text_and_image_documents(term: SimulatedTerminal) -> None:
    sim = term.simulations["a4_printer"]
    seq = term.events.last_seq
    sim.control("toner_empty", {})
    job = term.a4_printer.print(document="政务服务 A4 文本打印\nsecond line".encode(), format="text",
                                wait=True, timeout=30)
    assert job.state == JobState.COMPLETED
    assert term.a4_printer.status().detail["code"] == ErrorCode.CONSUMABLE_EMPTY
    assert any(ev["code"] == "consumableEmpty" for ev in _events(term, seq, "printerStatusChanged"))
    png = io.BytesIO()
    Image.new("RGB", (400, 300), (200, 30, 30)).save(png, "PNG")
    job = term.a4_printer.print(document=png.getvalue(), format="png", color=True, copies=2, wait=True, timeout=30)
    assert job.state == JobState.COMPLETED
    printed = sim.control("printed", {})["printed"]
    assert len(printed) == 2 and all(Path(p).read_bytes()[:4] in (b"%PDF", b"\x89PNG", b"\xff\xd8\xff\xe0")
                                     for p in printed)


def test_offline_printer_then_back(term: SimulatedTerminal) -> None:
    sim = term.simulations["a4_printer"]
    sim.control("offline", {})
    with pytest.raises(GtsdkError) as e:
        term.a4_printer.print(document=_pdf(1), title="offline", wait=True, timeout=30)
    assert e.value.code == ErrorCode.NO_DEVICE
    job_id = e.value.data["jobId"]
    sim.control("online", {})
    _until(lambda: term.a4_printer.job_status(job_id=job_id).state == JobState.COMPLETED, "held job completes")


def test_print_server_gone_and_back(term: SimulatedTerminal) -> None:
    from gtsdk.driver import DeviceState

    sim = term.simulations["a4_printer"]
    drv = term.devices["a4_printer"].driver
    assert drv is not None
    drv.poll_interval = 0.2  # type: ignore[misc]
    seq = term.events.last_seq
    sim.control("unplug", {})
    _until(lambda: term.a4_printer.status().state in (DeviceState.NO_DEVICE, DeviceState.OFFLINE), "noDevice")
    assert any(e.type == "statusChanged" for e in term.events.since(seq)[0])
    with pytest.raises(GtsdkError) as e:
        term.a4_printer.print(document=_pdf(1), timeout=10)
    assert e.value.code == ErrorCode.NO_DEVICE
    sim.control("replug", {})
    _until(lambda: term.a4_printer.status().state == DeviceState.ONLINE, "reconnected")
    job = term.a4_printer.print(document=_pdf(1), wait=True, timeout=30)
    assert job.state == JobState.COMPLETED


def test_cancel_and_bad_documents(term: SimulatedTerminal) -> None:
    sim = term.simulations["a4_printer"]
    sim.control("paper_out", {})
    job = term.a4_printer.print(document=_pdf(1), title="to cancel")  # answers at once with the job id
    assert job.state in (JobState.PENDING, JobState.PROCESSING)
    out = term.a4_printer.cancel_job(job_id=job.job_id)
    assert out.state in (JobState.CANCELED, JobState.ABORTED)
    sim.control("load_paper", {})
    for doc, fmt, media, code in ((b"not a pdf", "pdf", "A4", ErrorCode.INVALID_DATA),
                                  (b"\xff\xfe", "text", "A4", ErrorCode.INVALID_DATA),
                                  (_pdf(1), "pdf", "B99", ErrorCode.UNSUPPORTED_DATA)):
        with pytest.raises(GtsdkError) as e:
            term.a4_printer.print(document=doc, format=fmt, media=media)  # type: ignore[arg-type]  # bad on purpose
        assert e.value.code == code
    with pytest.raises(GtsdkError) as e:
        term.a4_printer.job_status(job_id=999_999)
    assert e.value.code == ErrorCode.NOT_FOUND


def test_cups_own_lp_prints_to_the_simulator(term: SimulatedTerminal, tmp_path: Path) -> None:
    """CUPS' own client (lp) prints through the simulated queue: the simulator is a plain CUPS server."""
    import shutil
    import subprocess

    if shutil.which("lp") is None:
        pytest.skip("lp (cups-client) not installed")
    sim = term.simulations["a4_printer"]
    f = tmp_path / "lp.pdf"
    f.write_bytes(_pdf(1))
    r = subprocess.run(["lp", "-h", sim.settings["server"], "-d", "kiosk", "-o", "sides=two-sided-short-edge",
                        str(f)], capture_output=True, text=True, timeout=20, check=False)
    assert r.returncode == 0, r.stderr
    m = re.search(r"kiosk-(\d+)", r.stdout)  # "request id is kiosk-1 (1 file(s))"
    assert m is not None, r.stdout
    job_id = int(m.group(1))
    _until(lambda: term.a4_printer.job_status(job_id=job_id).state == JobState.COMPLETED, "lp job completes")
    env = (Path(sim.control("printed", {})["printed"][0]).parent / "env-0.txt").read_text()
    assert "IPP_SIDES=two-sided-short-edge" in env


def test_a_busy_queue_still_forgets_jobs_that_ended(tmp_path: Path) -> None:
    """The runtime polls only after an idle second; prints back to back must not keep every job for ever.

    Before, jobs seen pending stayed in the driver's active set until an idle poll, which a busy queue never
    had: one Job per print was kept (the soak's growth attributed to pycups' answers).  ``print`` now
    refreshes the tracked jobs itself when a poll is overdue.
    """
    import cups

    from gtsdk.driver import OpContext
    from gtsdk.drivers.cups.driver import CupsDriver, CupsSettings
    from gtsdk.modules.a4_printer import PrintRequest
    from gtsdk.simulators.a4_printer.stack import CupsStack, StackError

    try:
        stack = CupsStack(tmp_path, print_delay=0.0).start()
    except StackError as e:
        pytest.skip(str(e))
    events: list[tuple[str, dict[str, Any]]] = []
    drv = CupsDriver(CupsSettings(queue=CupsStack.QUEUE, server=str(stack.sock)),
                     emit=lambda kind, data: events.append((kind, data)))
    try:
        drv.connect()
        first = drv.print(PrintRequest(document=_pdf(1)), OpContext("first", 30.0))
        cups.setServer(str(stack.sock))
        peer = cups.Connection()  # CUPS' own answer, not the driver's: the job ends unseen by the driver
        _until(lambda: peer.getJobAttributes(first.job_id, requested_attributes=["job-state"])["job-state"] >= 7,
               "the first job to end")
        time.sleep(drv.poll_interval or 1.0)
        drv.print(PrintRequest(document=_pdf(1)), OpContext("second", 30.0))
        assert first.job_id not in drv.status_detail()["activeJobs"]
        assert [d["jobId"] for kind, d in events if kind == "jobCompleted"][:1] == [first.job_id]
    finally:
        drv.disconnect()
        stack.stop()
