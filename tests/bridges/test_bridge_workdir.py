"""The library's files in the bridge's private folder: read whole, never through a link, never past max_size —
also when the file grows after it was measured — and the folder emptied of whatever the library left."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gtsdk.drivers.bridge_common import workdir
from gtsdk.errors import GtsdkError


def test_reads_a_file_whole_and_refuses_links_folders_and_oversize(tmp_path: Path) -> None:
    (tmp_path / "wz.txt").write_bytes(b"x" * 5000)
    assert workdir.read(tmp_path, "wz.txt", 5000) == b"x" * 5000
    assert workdir.read(str(tmp_path), "absent.bmp", 10) is None
    (tmp_path / "link").symlink_to(tmp_path / "wz.txt")
    (tmp_path / "dir").mkdir()
    for name, limit, words in [("link", 9999, "cannot open"), ("dir", 9999, "not a regular file"),
                               ("wz.txt", 4999, "larger than 4999 bytes")]:
        with pytest.raises(GtsdkError) as ei:
            workdir.read(tmp_path, name, limit)
        assert ei.value.code == "hardwareError" and words in ei.value.detail


@pytest.mark.parametrize("limit,ok", [(10_000, True), (8_000, False)])
def test_a_file_still_growing_is_read_on_within_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          limit: int, ok: bool) -> None:
    (tmp_path / "zp.bmp").write_bytes(bytes(range(256)) * 36)  # 9216 bytes, measured as 1000 below
    real = os.fstat

    def measured_early(fd: int) -> Any:
        st = real(fd)
        return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid, 1000,
                               int(st.st_atime), int(st.st_mtime), int(st.st_ctime)))

    monkeypatch.setattr(os, "fstat", measured_early)  # the module reads os.fstat at call time
    if ok:
        assert workdir.read(tmp_path, "zp.bmp", limit) == bytes(range(256)) * 36
    else:
        with pytest.raises(GtsdkError, match="larger than 8000 bytes"):
            workdir.read(tmp_path, "zp.bmp", limit)


def test_wipe_empties_the_folder_without_following_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not the library's")
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "wz.txt").write_text("张示例")
    (folder / "sub").mkdir()
    (folder / "sub" / "fp.dat").write_bytes(b"\x01")
    (folder / "elsewhere").symlink_to(outside)
    workdir.wipe(folder)
    assert list(folder.iterdir()) == [] and (outside / "keep.txt").exists()
