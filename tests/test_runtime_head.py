"""The head contract (docs/runtime.md, "Heads, swaps and threads") on the shipped model A and an edit of
it: one immutable `Head`, swaps that are checked before they happen, containment of every file a swap
reads, and classification from several threads while another thread swaps between heads of different
label counts.

Needs only the runtime's dependencies, so `make test-floor` also runs it on the oldest onnxruntime.
"""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from catsplit.runtime import BundleError, Runtime
from catsplit.runtime.bundle import load_bundle
from catsplit.runtime.video import load_views
from tests.runtime_fixtures import MODEL_A, SAMPLES

VIDEOS = [str(SAMPLES / d / "val_000.mp4") for d in ("pushing_something_from_left_to_right",
                                                     "showing_something_behind_something",
                                                     "something_falling_like_a_rock")]


@pytest.fixture(scope="module")
def edited(runtime_fixtures) -> Path:
    return runtime_fixtures / "edited"


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_head_is_one_unit_with_its_labels_and_edit_id(edited):
    rt = Runtime(MODEL_A, provider="cpu")
    a = rt.head
    bundle = load_bundle(edited)
    e = rt.swap_head(bundle)
    assert rt.head is e and a is not e
    assert a.labels == load_bundle(MODEL_A).labels and len(a.labels) == 64
    assert e.labels == bundle.labels and len(e.labels) == 66
    assert a.edit_id == f"0-{a.bundle.files['head.onnx'][:12]}"
    assert e.edit_id == f"1-{bundle.files['head.onnx'][:12]}"
    bundle.labels.append("changed afterwards")  # the caller's Bundle is not the head's
    assert len(e.labels) == 66
    feats = rt.features(load_views(VIDEOS[0], rt.preprocess))
    assert a.logits(feats).shape == (1, 64) and e.logits(feats).shape == (1, 66)  # the old head still runs


def test_failed_swap_keeps_the_old_head(edited, tmp_path):
    rt = Runtime(MODEL_A, provider="cpu")
    before = rt.head
    broken = _copy(edited, tmp_path / "broken")
    with open(broken / "head.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(BundleError, match=r"head\.onnx: sha256 does not match"):
        rt.swap_head(broken)
    assert rt.head is before


def test_swap_head_refuses_a_head_symlinked_outside_the_bundle(edited, tmp_path):
    """Issue 10 item 1: the outside file must be neither hashed nor loaded, even with a matching sha256."""
    bundle = _copy(edited, tmp_path / "linked")
    outside = tmp_path / "outside_head.onnx"
    os.replace(bundle / "head.onnx", outside)  # the same bytes: its sha256 matches bundle.json
    os.symlink(outside, bundle / "head.onnx")
    rt = Runtime(MODEL_A, provider="cpu")
    before = rt.head
    with pytest.raises(BundleError, match="head.onnx: lies outside the bundle"):
        rt.swap_head(bundle)
    with pytest.raises(BundleError, match="head.onnx: lies outside the bundle"):
        rt.swap_head(load_bundle(bundle, verify=False))
    assert rt.head is before


def test_swap_head_through_a_directory_symlink(edited, tmp_path):
    """A deploy's `current` link to a release directory is how a head is usually swapped in."""
    release = _copy(edited, tmp_path / "releases" / "v2")
    current = tmp_path / "current"
    os.symlink(release, current)
    rt = Runtime(MODEL_A, provider="cpu")
    head = rt.swap_head(current)
    assert len(head.labels) == 66 and head.bundle.path == current
    inside = release / "linked_head.onnx"  # a symlink that stays inside the bundle is fine
    os.replace(release / "head.onnx", inside)
    os.symlink("linked_head.onnx", release / "head.onnx")
    assert rt.swap_head(current).labels == head.labels


def _reference(bundle) -> dict[str, dict[str, float]]:
    """Each video's probability of every label, from a Runtime nobody swaps."""
    rt = Runtime(bundle, provider="cpu", decode_threads=0)
    return {p.video: dict(p.top_k) for p in rt.classify(VIDEOS, top_k=1000)}


def test_classify_while_another_thread_swaps(edited):
    """Issue 10 item 2: every prediction comes from exactly one head, and nothing raises."""
    refs = {len(load_bundle(b).labels): _reference(b) for b in (MODEL_A, edited)}
    rt = Runtime(MODEL_A, provider="cpu", batch_size=2)
    feats = rt.features(np.concatenate([load_views(v, rt.preprocess) for v in VIDEOS]))
    done, errors, seen = threading.Event(), [], []

    def classify() -> None:
        try:
            for _ in range(12):
                for pred in rt.classify(VIDEOS, top_k=1000):
                    assert pred.error is None, pred.error
                    ref = refs[len(pred.top_k)][pred.video]
                    assert dict(pred.top_k).keys() == ref.keys()
                    np.testing.assert_allclose([p for _, p in pred.top_k], [ref[lab] for lab, _ in pred.top_k],
                                               atol=1e-5)
                    seen.append(pred.edit_id)
                head = rt.head  # a unit of work that takes the head once
                assert head.logits(feats).shape == (len(VIDEOS), len(head.labels))
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    def swap() -> None:
        try:
            while not done.is_set():
                for b in (edited, MODEL_A):
                    rt.swap_head(b)
        except BaseException as e:
            errors.append(e)

    swapper = threading.Thread(target=swap)
    workers = [threading.Thread(target=classify) for _ in range(3)]
    swapper.start()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    done.set()
    swapper.join()
    assert not errors, errors[0]
    assert len(seen) == 3 * 12 * len(VIDEOS)
    assert len(set(seen)) == 2  # both heads scored videos while the other thread swapped
