"""No command shows a user a traceback: unexpected failures are one line too (exit status 2)."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from catsplit.compiler.cli import compile_cmd
from catsplit.runtime.cli import catsplit

MODEL_A = Path(__file__).resolve().parents[1] / "models" / "bundles" / "ssv2_split_A_synth"


def _one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("catsplit: error: "), result.stderr
    return lines[0]


def test_compile_into_an_unusable_output_is_one_line(minilm, tmp_path):
    spec = tmp_path / "split.json"
    spec.write_text(json.dumps({"split": "Showing something with spatial relation",
                                "into": [{"label": "Showing a thing high"}, {"label": "Showing a thing low"}]}))
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    line = _one_error_line(CliRunner().invoke(compile_cmd, [str(MODEL_A), "--spec", str(spec), "--method", "mr",
                                                            "-o", str(blocker / "out")]))
    assert "unexpected" not in line and line.startswith(f"catsplit: error: {blocker / 'out'}: ")
    assert f"{blocker} is not a directory" in line and not (blocker / "out").exists()


def test_import_of_a_non_onnx_file_is_one_line(tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"\x00not a protobuf")
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")
    line = _one_error_line(CliRunner().invoke(catsplit, ["import", str(model), "--labels", str(labels),
                                                         "-o", str(tmp_path / "b")]))
    assert str(model) in line and not (tmp_path / "b").exists()
