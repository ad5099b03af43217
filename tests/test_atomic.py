"""Artefacts appear whole or not at all, with ordinary file permissions."""

from __future__ import annotations

import os
import stat

import pytest

from edgetl.atomic import atomic_path, current_umask, write_text


def test_a_written_file_gets_the_permissions_open_would_give(tmp_path):
    dest = write_text(tmp_path / "card.json", "{}\n")
    assert stat.S_IMODE(dest.stat().st_mode) == 0o666 & ~current_umask()
    assert dest.read_text() == "{}\n"


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    dest = write_text(tmp_path / "labels.txt", "old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert dest.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["labels.txt"]
