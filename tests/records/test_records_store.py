"""The records store: file modes, WAL + synchronous=FULL, one transaction for a record and its outbox envelope;
the comment masking and the catalogue loader as properties (hypothesis)."""

from __future__ import annotations

import re
import sqlite3
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtsdk.errors import ConfigError
from gtsdk.modules import MODULES
from gtsdk.records import catalogue
from gtsdk.records.outbox import Outbox
from gtsdk.records.ratings import mask_text
from gtsdk.records.schema import Rating, RecordKind
from gtsdk.records.store import RecordStore


def test_files_are_private_from_the_first_byte(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = RecordStore(home / "records.sqlite", "T-1")
    store.write(lambda c: store.emit(c, RecordKind.RATING, "r" * 32, Rating(level=5, service_code="x")))
    for name in ("records.sqlite", "records.sqlite-wal", "records.sqlite-shm"):
        assert (home / name).stat().st_mode & 0o777 == 0o600, name
    assert home.stat().st_mode & 0o777 == 0o700
    with store.reader() as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()


def test_loose_modes_are_tightened(tmp_path: Path) -> None:
    p = tmp_path / "records.sqlite"
    RecordStore(p).close()
    p.chmod(0o644)
    RecordStore(p).close()
    assert p.stat().st_mode & 0o777 == 0o600


def test_record_and_envelope_commit_together(tmp_path: Path) -> None:
    store = RecordStore(tmp_path / "records.sqlite", "T-1")

    def failing(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO ratings (id, level, tags, time, day) VALUES ('a', 5, '[]', 0, '2026-01-01')")
        store.emit(conn, RecordKind.RATING, "a" * 32, Rating(level=5, service_code="x"))
        raise RuntimeError("crash between the two")

    with pytest.raises(RuntimeError):
        store.write(failing)
    db = sqlite3.connect(tmp_path / "records.sqlite")
    assert db.execute("SELECT count(*) FROM ratings").fetchone()[0] == 0
    assert Outbox(db).size() == 0  # rolled back together: nothing queued for a record that does not exist
    db.close()
    assert store.meta("terminal_id") is None and store.terminal_id == "T-1"
    store.close()
    generated = RecordStore(tmp_path / "other.sqlite")
    tid = generated.terminal_id
    generated.close()
    assert RecordStore(tmp_path / "other.sqlite").terminal_id == tid  # made once, kept


# ---- masking ------------------------------------------------------------------------------------------------
DIGIT_RUN = re.compile(r"[0-9](?:[ .\-]?[0-9]){6,}")


@given(st.text(alphabet=st.sampled_from([*"0123456789 -.Xx@abc张三，。", "\uff11", "\uff18"]), max_size=200))
@settings(max_examples=300, deadline=None)
def test_no_seven_digit_run_survives(text: str) -> None:
    out = mask_text(text)
    assert not DIGIT_RUN.search(out)
    assert len(out) <= len(text) * 3  # NFKC and the e-mail mask never blow it up


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.from_regex(r"[0-9]{17}[0-9X]", fullmatch=True),
       st.text(alphabet="谢服务很好快", max_size=20))
@settings(max_examples=100, deadline=None)
def test_phone_and_id_numbers_are_masked(phone: str, idno: str, words: str) -> None:
    out = mask_text(f"{words}电话{phone}，身份证{idno}。{words}")
    assert phone not in out and idno not in out and idno[:-1] not in out
    assert out.startswith(words) and out.endswith(words)  # the rest of the comment is kept


def test_mask_examples() -> None:
    assert mask_text("call 138-0013-8000") == "call ***-****-****"
    assert mask_text("护照E12345678") == "护照*********"
    assert mask_text("mail me: zhang.san@example.gov.cn ok") == "mail me: ***@*** ok"
    assert mask_text("等了 15 分钟，2 号窗口") == "等了 15 分钟,2 号窗口"  # short numbers stay


# ---- catalogue --------------------------------------------------------------------------------------------
codes = st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=20)
entries = st.fixed_dictionaries({
    "code": codes, "name_zh": st.text(min_size=1, max_size=10),
    "modules": st.lists(st.sampled_from(list(MODULES)), max_size=4, unique=True)},
    optional={"on_terminal": st.booleans(), "typical_duration": st.floats(0, 3600),
              "department": st.text(max_size=20)})


@given(st.lists(entries, min_size=1, max_size=8, unique_by=lambda e: e["code"]))
@settings(max_examples=150, deadline=None)
def test_catalogue_round_trip(items: list[dict[str, Any]]) -> None:
    cat = catalogue.parse({"entries": items}, "catalogue.toml")
    assert [e.code for e in cat.entries] == [i["code"] for i in items]
    again = catalogue.parse({"entries": [e.model_dump() for e in cat.entries]}, "catalogue.toml")
    assert again.version == cat.version  # an unversioned catalogue is versioned by its content
    need = catalogue.needed_by_all(cat)
    assert all(need <= set(e.modules) for e in cat.entries if e.on_terminal)


@given(st.lists(entries, min_size=1, max_size=5, unique_by=lambda e: e["code"]), st.data())
@settings(max_examples=100, deadline=None)
def test_catalogue_errors_name_the_entry(items: list[dict[str, Any]], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(items) - 1))
    broken = [dict(x) for x in items]
    fault = data.draw(st.sampled_from(["module", "code", "key", "duration"]))
    if fault == "module":
        broken[i]["modules"] = ["printer9000"]
    elif fault == "code":
        broken[i]["code"] = "has space"
    elif fault == "key":
        broken[i]["colour"] = "red"
    else:
        broken[i]["typical_duration"] = -1
    with pytest.raises(ConfigError) as e:
        catalogue.parse({"version": "1", "entries": broken}, "catalogue.toml")
    assert f"entries[{i}]" in e.value.key and e.value.key.startswith("catalogue.toml")


def test_catalogue_files(tmp_path: Path) -> None:
    cat, source = catalogue.load(tmp_path, None)
    assert source == "example" and {e.code for e in cat.entries} == {"social", "residence", "housing", "tax"}
    assert catalogue.needed_by_all(cat) == {"idcard", "camera"}
    (tmp_path / "catalogue.toml").write_text('version = "x"\n[[entries]]\ncode = "a"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"entries\[0\] \(a\)\.name_zh"):
        catalogue.load(tmp_path, None)
    j = tmp_path / "c.json"
    j.write_text('{"version": "j1", "entries": [{"code": "a", "name_zh": "甲", "modules": ["idcard"]}]}')
    cat, source = catalogue.load(tmp_path, j)
    assert (cat.version, source) == ("j1", "config")
    j.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        catalogue.load(tmp_path, j)
