"""Drivers' temporary folders are in the leftovers ledger, so a successor of a killed host removes them
(gtsdk/leftovers.py; the kill -9 family in tests/server/test_crash_consistency.py checks the whole service)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gtsdk import leftovers


def _recorded() -> set[str]:
    return set(leftovers.ledger().dirs)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_espeak_records_its_utterance_folder_and_removes_it() -> None:
    from gtsdk.drivers.espeak.driver import EspeakSettings, EspeakVoiceDriver

    d = EspeakVoiceDriver(EspeakSettings(player="none"))
    d.connect()
    try:
        folder = d._tmp
        assert folder is not None and folder.name.startswith("gtsdk-voice-") and folder.is_dir()
        assert str(folder) in _recorded()
    finally:
        d.disconnect()
    assert not folder.exists() and str(folder) not in _recorded()


def test_cups_spools_documents_in_a_recorded_folder() -> None:
    pytest.importorskip("cups")
    from gtsdk.drivers.cups.driver import CupsDriver, CupsSettings
    from gtsdk.modules.a4_printer import DocumentFormat, PrintRequest

    d = CupsDriver(CupsSettings(queue="kiosk"))
    path = Path(d._document_file(PrintRequest(document=b"%PDF-1.4\n%%EOF\n", format=DocumentFormat.PDF)))
    try:
        assert path.parent.name.startswith("gtsdk-a4-") and str(path.parent) in _recorded()
    finally:
        d.disconnect()
    assert not path.exists() and str(path.parent) not in _recorded()
