"""Convert a transformers checkpoint directory into a catsplit text encoder (see text_encoder.py).

Two kinds:
- "bert": a sentence encoder loaded with AutoModel (BERT, MiniLM, RoBERTa, MPNet, ...). The graph
  outputs the last hidden state; pooling follows the sentence-transformers `1_Pooling/config.json`
  when the directory has one (mean or cls), else mean pooling.
- "clip": a CLIP text tower (CLIPTextModelWithProjection; a full CLIP checkpoint works too, its
  vision half is ignored). The graph outputs `text_embeds`, the projection of the EOS token's pooled
  output, so no pooling is left to do.

The graph is exported with torch.onnx (dynamo) with dynamic batch and sequence axes and written with
catsplit's save_onnx. The tokenizer is the checkpoint's own, saved as a `tokenizers` tokenizer.json.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
import warnings
from pathlib import Path

from catsplit.compiler.errors import CompileError
from catsplit.compiler.text_encoder import ENCODER_JSON, FORMAT, MODEL, TEXT_ENCODER_KIND, TOKENIZER, OnnxTextEncoder
from catsplit.runtime.output import check_output, staged_output

KINDS = ("auto", "bert", "clip")
CLIP_TYPES = ("clip", "clip_text_model")


def detect_kind(src: Path) -> str:
    """"clip" for CLIP checkpoints, else "bert" (any AutoModel sentence encoder)."""
    cfg = src / "config.json"
    try:
        model_type = json.loads(cfg.read_text(encoding="utf-8")).get("model_type")
    except FileNotFoundError:
        raise CompileError(f"{cfg}: missing (not a transformers checkpoint directory)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CompileError(f"{cfg}: not valid JSON ({e})") from None
    return "clip" if model_type in CLIP_TYPES else "bert"


def _st_pooling(src: Path) -> str:
    """The pooling a sentence-transformers directory declares (mean unless it says cls)."""
    cfg = src / "1_Pooling" / "config.json"
    if cfg.is_file() and json.loads(cfg.read_text(encoding="utf-8")).get("pooling_mode_cls_token"):
        return "cls"
    return "mean"


def _max_length(src: Path, tokenizer, config) -> int:
    st = src / "sentence_bert_config.json"
    if st.is_file():
        n = json.loads(st.read_text(encoding="utf-8")).get("max_seq_length")
        if n:
            return int(n)
    limit = int(getattr(config, "max_position_embeddings", 512))
    n = getattr(tokenizer, "model_max_length", limit) or limit
    return int(min(n, limit))


def _output_module(model, output: str):
    """`model` as a module of (input_ids, attention_mask) returning one tensor of its output: the
    exporter needs positional tensor inputs and a tensor result, not transformers' ModelOutput."""
    import torch

    class Output(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = model

        def forward(self, input_ids, attention_mask):
            return getattr(self.m(input_ids=input_ids, attention_mask=attention_mask), output)

    return Output()


def _load(src: Path, kind: str):
    """(transformers model, output to export, dim, pooling, hf config) for one kind of checkpoint."""
    from transformers import AutoConfig, AutoModel, CLIPTextModelWithProjection

    if kind == "clip":
        config = AutoConfig.from_pretrained(src)
        if config.model_type == "clip":  # a full CLIP model: its projection size sits beside text_config
            config.text_config.projection_dim = config.projection_dim
            config = config.text_config
        model = CLIPTextModelWithProjection.from_pretrained(src, config=config, attn_implementation="eager")
        return model, "text_embeds", model.config.projection_dim, "none", model.config
    model = AutoModel.from_pretrained(src, attn_implementation="eager")
    return model, "last_hidden_state", model.config.hidden_size, _st_pooling(src), model.config


def export_text_encoder(src: str | os.PathLike, out: str | os.PathLike, kind: str = "auto",
                        name: str | None = None, force: bool = False, note: str | None = None) -> OnnxTextEncoder:
    """Export checkpoint `src` to the text encoder directory `out` (written atomically)."""
    import torch
    import transformers
    from transformers import AutoTokenizer

    from catsplit.models.onnx_io import save_onnx

    src, out = Path(src), Path(out)
    if kind not in KINDS:
        raise CompileError(f"{src}: kind must be one of {KINDS}, got {kind!r}")
    if not src.is_dir():
        raise CompileError(f"{src}: not a directory")
    check_output(out, TEXT_ENCODER_KIND, force)
    kind = detect_kind(src) if kind == "auto" else kind
    t0 = time.perf_counter()
    print(f"catsplit: exporting text encoder {src} ({kind}) to ONNX"
          f"{f' ({note})' if note else ''}; this takes a minute, once", file=sys.stderr)
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # a full CLIP's vision weights are "unexpected": expected
    try:
        tokenizer = AutoTokenizer.from_pretrained(src)
        model, output, dim, pooling, config = _load(src, kind)
        wrapper = _output_module(model, output).eval()
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise CompileError(f"{src}: cannot load as a {kind} checkpoint ({str(e).splitlines()[0]})") from None
    finally:
        transformers.logging.set_verbosity(verbosity)
    example = tokenizer(["a short text", "a somewhat longer text to export with"], padding=True,
                        return_tensors="pt")
    args = (example["input_ids"], example["attention_mask"])
    names = ["input_ids", "attention_mask"]
    max_length = _max_length(src, tokenizer, config)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence", max=max_length)
    shapes = {n: {0: batch, 1: seq} for n in names}
    log = io.StringIO()  # the exporter's chatter goes to stdout; keep it out of --json output
    with torch.no_grad(), contextlib.redirect_stdout(log), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about the checkpoint's code; the tests check the graph
        program = torch.onnx.export(wrapper, args, input_names=names, output_names=[output],
                                    dynamic_shapes=shapes, dynamo=True, opset_version=18)
    with staged_output(out, TEXT_ENCODER_KIND, force) as stage:
        save_onnx(program.model_proto, stage.path / MODEL)
        backend = tokenizer.backend_tokenizer
        backend.no_padding()
        backend.no_truncation()
        backend.save(str(stage.path / TOKENIZER))
        spec = {"format": FORMAT, "name": name or src.name, "kind": kind, "dim": int(dim),
                "pooling": pooling, "output": output, "max_length": max_length,
                "pad_id": int(tokenizer.pad_token_id or 0), "normalize": False,
                "source": {"path": str(src.resolve()), "model_type": config.model_type}}
        (stage.path / ENCODER_JSON).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    print(f"catsplit: text encoder written to {out} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return OnnxTextEncoder(out)
