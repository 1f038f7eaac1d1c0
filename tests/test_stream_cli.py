"""`catsplit-run BUNDLE --stream ...`, `catsplit deploy` and `catsplit send` as a user runs them: a pipe
on stdin, a JSON list of sources, SIGHUP and SIGTERM/SIGINT, exit statuses and one-line errors.

The stdin tests drive the stream themselves (they write the next bytes only after reading what they
wait for), so nothing depends on how fast this machine is.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading

import pytest

from catsplit.runtime.stream import Source, StreamOptions, StreamRunner
from catsplit.scale.processes import free_port
from tests.stream_media import (BUNDLE_A, SAMPLES, STRIDE, WINDOW, collect, encode, mpegts, sample_frames,
                                same_windows, windows)

WINDOW_ARGS = ["--window", str(WINDOW), "--stride", str(STRIDE)]


def _catsplit(*args: str) -> list[str]:
    return [sys.executable, "-c", "from catsplit.runtime.cli import catsplit; catsplit()", *args]


class Running:
    """catsplit-run in a child process, its stdout read line by line as JSON."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen(_catsplit("run", *args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=False)
        self.lines: queue.Queue = queue.Queue()
        self.docs: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def until(self, check) -> dict:
        """Read documents until `check(doc)`; the read blocks on the child, never on a clock."""
        while True:
            doc = self.lines.get(timeout=60)
            assert doc is not None, self.proc.stderr.read().decode()
            self.docs.append(doc)
            if check(doc):
                return doc

    def write(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def finish(self) -> tuple[int, str]:
        while (doc := self.lines.get(timeout=60)) is not None:
            self.docs.append(doc)
        return self.proc.wait(60), self.proc.stderr.read().decode()


def _is_window(index: int):
    return lambda d: d["type"] == "window" and d["index"] == index


@pytest.fixture(scope="module")
def reference(runtime_a, clip64):
    return windows(collect(StreamRunner(runtime_a, [Source("f", str(clip64))],
                                        StreamOptions(window=WINDOW, stride=STRIDE))))


def test_stdin_pipe_gives_the_files_windows(clip64, reference):
    run = Running(str(BUNDLE_A), "--stream", "-", *WINDOW_ARGS)
    run.write(mpegts(clip64))
    run.proc.stdin.close()
    code, err = run.finish()
    assert code == 0 and err == ""
    assert run.docs[-1]["type"] == "summary" and run.docs[-2]["event"] == "ended"
    same_windows(windows(run.docs), reference)


def test_sighup_swaps_the_deployed_head_and_sigterm_flushes(heads, clip64, reference):
    ts = mpegts(clip64)
    part = len(ts) // 188 * 3 // 4 * 188  # FFmpeg reads ~40 frames of MPEG-TS before it opens the stream
    run = Running(str(heads["current"]), "--stream", "cam=-", *WINDOW_ARGS, "--poll", "0")
    run.write(ts[:part])
    run.until(_is_window(5))
    subprocess.run(_catsplit("deploy", str(heads["a2"]), "--link", str(heads["current"])), check=True,
                   capture_output=True)
    run.proc.send_signal(signal.SIGHUP)
    reload = run.until(lambda d: d["type"] in ("reload", "error"))
    assert reload["type"] == "reload"
    run.write(ts[part:])
    run.until(_is_window(23))  # the last frame's packet ends only when the next begins: window 24 never closes
    run.proc.send_signal(signal.SIGTERM)  # stdin is still open: only the signal ends it
    code, err = run.finish()
    assert code == 0 and err == ""
    got = windows(run.docs)
    assert [w["index"] for w in got] == list(range(24)) and {w["stream"] for w in got} == {"cam"}
    ids = [w["edit_id"] for w in got]
    first_new = ids.index(reload["edit_id"])
    assert ids[first_new:] == [reload["edit_id"]] * (24 - first_new) and len(set(ids[:first_new])) == 1
    (head,) = [d for d in run.docs if d["type"] == "head"]
    assert head["labels_changed"] and run.docs.index(head) == run.docs.index(got[first_new]) - 1
    same_windows(got[:first_new], reference[:first_new])
    assert run.docs[-1]["type"] == "summary" and run.docs[-1]["swaps"] == 1


def test_sigint_classifies_what_was_cut_and_exits_0(clip64):
    run = Running(str(BUNDLE_A), "--stream", "-", *WINDOW_ARGS)
    run.write(mpegts(clip64))
    run.until(_is_window(23))
    run.proc.send_signal(signal.SIGINT)
    code, err = run.finish()
    assert code == 0 and err == ""
    assert run.docs[-1]["type"] == "summary" and run.docs[-1]["windows"] == 24


def test_a_json_list_of_sources_runs_them_together(tmp_path, clip64, reference):
    other = encode(tmp_path / "other.mp4", sample_frames([3, 7]))
    listing = tmp_path / "streams.json"
    listing.write_text(json.dumps([{"id": "door", "url": str(clip64)}, str(other)]))
    proc = subprocess.run(_catsplit("run", str(BUNDLE_A), "--streams", str(listing), *WINDOW_ARGS, "--smooth", "3",
                                    "--events", "--threshold", "0.3", "--min-duration", "0.25"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    same_windows(windows(docs, "door"), reference)
    assert len(windows(docs, "s1")) == 9
    assert all("smoothed" in w for w in windows(docs))
    labels = [d for d in docs if d["type"] == "label"]
    assert labels and all(d["at"] - d["since"] >= 0.25 for d in labels)


def test_a_source_that_cannot_be_opened_is_one_line_and_exit_2():
    port = free_port()
    proc = subprocess.run(_catsplit("run", str(BUNDLE_A), "--stream", f"tcp://127.0.0.1:{port}", "--retries", "1",
                                    "--backoff", "0.01", "--timeout", "2"), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"catsplit: error: tcp://127.0.0.1:{port}: cannot open (Connection refused) after 1 retries"]
    assert [json.loads(line)["event"] for line in proc.stdout.splitlines()] == ["retry", "failed"]


def test_a_camera_device_that_cannot_be_used_is_one_line_and_exit_2():
    proc = subprocess.run(_catsplit("run", str(BUNDLE_A), "--stream", "/dev/video9", "--retries", "0"),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()  # no v4l2 in this FFmpeg, or no such device: one line either way
    assert line.startswith("catsplit: error: /dev/video9: cannot open (")


def test_deploy_switches_the_link_and_refuses_what_a_runtime_would(heads, tmp_path):
    link = heads["current"]
    proc = subprocess.run(_catsplit("deploy", str(heads["a2"]), "--link", str(link), "--json"), capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    done = json.loads(proc.stdout)
    assert os.path.realpath(link) == str(heads["a2"]) and done["target"] == "a2"  # relative: the folder can move
    for bad in ("wide", "bad"):
        proc = subprocess.run(_catsplit("deploy", str(heads[bad]), "--link", str(link)), capture_output=True, text=True)
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith(f"catsplit: error: {heads[bad]}")
        assert os.path.realpath(link) == str(heads["a2"])  # untouched
    (tmp_path / "plain").mkdir()
    proc = subprocess.run(_catsplit("deploy", str(heads["a2"]), "--link", str(tmp_path / "plain")),
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "is not a symlink" in proc.stderr


def test_send_refuses_files_that_cannot_share_a_stream(tmp_path):
    odd = encode(tmp_path / "odd.mp4", sample_frames([0])[:, :32, :32])
    proc = subprocess.run(_catsplit("send", str(SAMPLES[0]), str(odd), "--to", str(tmp_path / "out.ts")),
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"catsplit: error: {odd}: codec parameters differ from {SAMPLES[0]}'s; "
                                        "they cannot share one stream"]
    assert not (tmp_path / "out.ts").exists()
