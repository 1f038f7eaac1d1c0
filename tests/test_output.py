"""The one writer (runtime/output.py): refuse or replace, atomic publication, nothing left behind, stale
workspaces of dead runs removed and live ones kept (issue 10 items 3, 4 and 6)."""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from catsplit.runtime.bundle import BUNDLE_KIND, Bundle, load_bundle, write_bundle
from catsplit.runtime.output import LOCK, WORKSPACE_TAG, OutputError, clean_stale, staged_output
from tests.edit_bundles import PRE


def _bundle(path: Path, labels=("a", "b"), force: bool = True) -> Bundle:
    b = Bundle(path=path, labels=list(labels), feature_dim=4, preprocess=PRE, files={})
    return write_bundle(b, path, {"backbone.onnx": b"backbone", "head.onnx": b"head " + "".join(labels).encode()},
                        force=force)


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_new_output_in_missing_folders_and_nothing_left_on_failure(tmp_path):
    with pytest.raises(RuntimeError):
        with staged_output(tmp_path / "a" / "b" / "out", BUNDLE_KIND) as stage:
            (stage.path / "bundle.json").write_text("{}")
            raise RuntimeError("the run fails after writing")
    assert os.listdir(tmp_path) == []  # no workspace, no parent folder made for it
    written = _bundle(tmp_path / "a" / "b" / "out")
    assert load_bundle(written.path).labels == ["a", "b"] and _hidden(tmp_path) == []


def test_replacing_swaps_in_one_step_and_refuses_what_is_not_a_bundle(tmp_path):
    out = tmp_path / "out"
    _bundle(out)
    inode = out.stat().st_ino
    with pytest.raises(OutputError, match="already exists"):
        _bundle(out, ("c",), force=False)
    _bundle(out, ("c", "d"))
    assert load_bundle(out).labels == ["c", "d"] and out.stat().st_ino != inode and _hidden(tmp_path) == []
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="also holds 'notes.txt'"):
        _bundle(out, ("e",))
    assert (out / "notes.txt").read_text() == "mine" and load_bundle(out).labels == ["c", "d"]


def test_a_dead_runs_workspace_goes_and_a_live_ones_stays(tmp_path):
    out = tmp_path / "out"
    dead, live, empty, young = (tmp_path / f".out{WORKSPACE_TAG}{n}" for n in ("dead", "live", "empty", "young"))
    for w in (dead, live, young):
        (w / "new").mkdir(parents=True)
        (w / "new" / "head.onnx").write_bytes(b"partial")
    for w in (dead, live):
        (w / LOCK).touch()
    empty.mkdir()  # a run killed between making its workspace and creating the lock
    fd = os.open(live / LOCK, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a live concurrent run holds this one
    try:
        _bundle(out)  # the next run on the same output
        assert _hidden(tmp_path) == sorted([live.name, young.name])
    finally:
        os.close(fd)
    old = time.time() - 3600
    os.utime(young, (old, old))  # a lockless workspace with files: removed once a minute old
    assert sorted(clean_stale(tmp_path, "out")) == sorted([live, young]) and _hidden(tmp_path) == []


def test_a_killed_writer_leaves_a_workspace_that_the_next_run_removes(tmp_path):
    """A real process holding the lock dies with SIGKILL: its flock is released with it."""
    out = tmp_path / "out"
    code = (f"from catsplit.runtime.output import staged_output\nfrom catsplit.runtime.bundle import BUNDLE_KIND\n"
            f"import os, signal\nwith staged_output({str(out)!r}, BUNDLE_KIND) as s:\n"
            f"    (s.path / 'x').write_text('x')\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == -9 and len(_hidden(tmp_path)) == 1 and not out.exists()
    _bundle(out)
    assert _hidden(tmp_path) == [] and load_bundle(out).labels == ["a", "b"]
