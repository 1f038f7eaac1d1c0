"""Session options the runtime chooses, and what swap_head reads (the head only)."""
from __future__ import annotations

import pytest

from catsplit.runtime import Runtime
from catsplit.runtime.bundle import BundleError
from tests.tiny_bundle import head_bytes, make_bundle

SPIN = "session.intra_op.allow_spinning"


@pytest.fixture
def bundles(tmp_path):
    first = make_bundle(tmp_path / "a")
    second = make_bundle(tmp_path / "b", labels=["x", "y", "z"], backbone=first.backbone_path,
                         head=head_bytes(3, seed=5))
    return first, second


def _config(session, key: str) -> str | None:
    try:
        return session.get_session_options().get_session_config_entry(key)
    except RuntimeError:  # not set: onnxruntime's default (spinning allowed)
        return None


def test_backbone_spins_only_without_decoder_threads(bundles):
    first, _ = bundles
    overlapped = Runtime(first.path, provider="cpu", threads=2)
    inline = Runtime(first.path, provider="cpu", threads=2, decode_threads=0)
    assert _config(overlapped._backbone, SPIN) == "0"
    assert _config(inline._backbone, SPIN) in (None, "1")
    head = overlapped.head.session.get_session_options()
    assert head.intra_op_num_threads == 1  # a Gemm of microseconds: no thread pool to start


def test_swap_head_checks_the_head_and_never_reads_the_other_backbone(bundles):
    first, second = bundles
    rt = Runtime(first.path, provider="cpu")
    second.backbone_path.unlink()  # the running backbone is used; the new bundle's copy is not even read
    rt.swap_head(second.path)
    assert rt.labels == ["x", "y", "z"]
    second.head_path.write_bytes(head_bytes(3, seed=6))  # same shape, different bytes: sha256 mismatch
    with pytest.raises(BundleError, match="head.onnx: sha256 does not match"):
        rt.swap_head(second.path)
    assert rt.labels == ["x", "y", "z"]  # the refused swap changed nothing
