"""The Makefile's cleaning targets, run by `make` in a copy of the repository's layout: a target
that is offered must never destroy the users' data."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def layout(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    files = [
        ".venv/bin/python",
        "whatsapp_inbox.egg-info/PKG-INFO",
        ".pytest_cache/README.md",
        ".ruff_cache/CACHEDIR.TAG",
        "server/__pycache__/app.cpython-311.pyc",
        "server/app.py",
        "data/chat.db",
        "data/chat.db-wal",
        "data/media/ab/abcdef",
        "data/demo.db",
        "data/demo.db-wal",
        "data/demo.db-shm",
        "data/demo-media/cd/cdef01",
    ]
    for name in files:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    return tmp_path


def make(cwd: Path, target: str) -> None:
    done = subprocess.run(["make", "-s", target], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_make_clean_keeps_the_database(tmp_path: Path) -> None:
    repo = layout(tmp_path)
    make(repo, "clean")
    for gone in [".venv", "whatsapp_inbox.egg-info", ".pytest_cache", ".ruff_cache", "server/__pycache__"]:
        assert not (repo / gone).exists(), gone
    # The real inbox's data, and the demo's, are untouched.
    for kept in ["data/chat.db", "data/chat.db-wal", "data/media/ab/abcdef", "data/demo.db", "server/app.py"]:
        assert (repo / kept).is_file(), kept


def test_make_demo_reset_deletes_only_the_demo(tmp_path: Path) -> None:
    repo = layout(tmp_path)
    make(repo, "demo-reset")
    for gone in ["data/demo.db", "data/demo.db-wal", "data/demo.db-shm", "data/demo-media"]:
        assert not (repo / gone).exists(), gone
    for kept in ["data/chat.db", "data/chat.db-wal", "data/media/ab/abcdef", ".venv/bin/python"]:
        assert (repo / kept).is_file(), kept
