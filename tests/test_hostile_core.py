"""Issue 10, the writing side: a corpus of hostile inputs (specs, output paths, tampered edit histories,
labels files, group schemes, CSVs, text encoders, file names). Every case must give exactly one line
`catsplit: error: ...` naming the input, exit status 2, nothing "unexpected", and leave every file
under the test's folder as it was: nothing written, nothing deleted, no leftovers."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import onnx
import pytest
from click.testing import CliRunner

from catsplit.compiler.compile import compile_split
from catsplit.compiler.options import SplitOptions
from catsplit.runtime.cli import catsplit
from tests.edit_bundles import SPLIT, HashedBagOfWords, make_bundle

CASES: dict[str, tuple[Callable[[Path, dict], list[str]], tuple[str, ...]]] = {}


def case(name: str, *expect: str):
    """Register a case: `build(tmp, world) -> argv`; `expect`: substrings of the one error line."""
    def register(build):
        CASES[name] = (build, expect)
        return build
    return register


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    src = make_bundle(root / "src").path
    edited = root / "edited"
    compile_split(src, SPLIT, edited, SPLIT_MR)
    from tests.test_import import _handmade

    model = root / "model.onnx"
    onnx.save(_handmade(root, transpose_b=False)[0], str(model))
    return {"src": src, "edited": edited, "model": model, "cache": root / "cache"}


SPLIT_MR = SplitOptions(method="mr", text_encoder=HashedBagOfWords())


def _copy(world, name: str, tmp: Path) -> Path:
    dst = tmp / name
    shutil.copytree(world[name], dst)
    return dst


def _spec(tmp: Path, doc, name: str = "split.json") -> Path:
    path = tmp / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def _compile(world, tmp, spec: Path, *extra: str, out: str | None = None) -> list[str]:
    return ["compile", str(world["src"]), "--spec", str(spec), "-o", out or str(tmp / "out"), "--method", "mr",
            *extra]


def _split(*labels: str, modifier: str | None = None) -> dict:
    into = [{"label": y} for y in labels]
    if modifier is not None:
        into[0]["modifier"] = modifier
    return {"split": "Moving something", "into": into}


# -- hostile specs ----------------------------------------------------------------------------------
@case("spec: a 300-character label", "split.json", "300 characters long")
def _(tmp, world):
    return _compile(world, tmp, _spec(tmp, _split("x" * 300, "Moving it down")))


@case("spec: a 2 MB file", "big.json", "at most 1,048,576")
def _(tmp, world):
    return _compile(world, tmp, _spec(tmp, _split("a" * 200, "b" * 200) | {"pad": " " * (2 << 20)}, "big.json"))


@case("spec: 1001 subcategories", "split.json", "at most 1000 subcategories", "got 1001")
def _(tmp, world):
    return _compile(world, tmp, _spec(tmp, _split(*(f"Moving something {i}" for i in range(1001)))))


@case("spec: more subcategories than MR has dictionary entries", "split.json", "MR gives each subcategory",
      "--method ma")
def _(tmp, world):
    return _compile(world, tmp, _spec(tmp, _split(*(f"Moving something {i}" for i in range(12)))))


@case("spec: an ANSI escape in a label", "split.json", "control character \\x1b")
def _(tmp, world):
    return _compile(world, tmp, _spec(tmp, _split("\x1b[2J\x1b[31mMoving red", "Moving something down")))


@case("spec: a newline in a label", "split.json", "control character \\n")
def _(tmp, world):
    return _compile(world, tmp, _spec(tmp, _split("Moving\ncatsplit: error: forged", "Moving something down")))


@case("spec: a bidirectional override in a label", "split.json", "control character \\u202e")
def _(tmp, world):
    return _compile(world, tmp, _spec(tmp, _split("Moving \u202eumop", "Moving something down")))


@case("spec: a lone surrogate", "split.json", "\\udc80")
def _(tmp, world):
    return _compile(world, tmp, _spec(tmp, '{"split": "Moving something", "into": [{"label": "a\\udc80"}, '
                                           '{"label": "b"}]}'))


@case("spec: a null byte in a modifier", "split.json", "control character \\x00")
def _(tmp, world):
    return _compile(world, tmp, _spec(tmp, _split("Moving up", "Moving down", modifier="up\x00")))


@case("spec: 200000 nested arrays", "split.json", "nested too deeply")
def _(tmp, world):
    return _compile(world, tmp, _spec(tmp, "[" * 200000 + "]" * 200000))


@case("spec: not UTF-8", "split.json", "not UTF-8")
def _(tmp, world):
    (tmp / "split.json").write_bytes(b'{"split": "\xff\xfe"}')
    return _compile(world, tmp, tmp / "split.json")


@case("spec: a directory", "spec_dir", "is a directory")
def _(tmp, world):
    (tmp / "spec_dir").mkdir()
    return ["compile", str(world["src"]), "--spec", str(tmp / "spec_dir"), "-o", str(tmp / "out")]


@case("spec: a FIFO (would block a reader)", "fifo.json", "not a regular file")
def _(tmp, world):
    os.mkfifo(tmp / "fifo.json")
    return _compile(world, tmp, tmp / "fifo.json")


@case("spec: a symbolic link loop", "loop.json", "symbolic link loop")
def _(tmp, world):
    os.symlink(tmp / "loop.json", tmp / "loop.json")
    return _compile(world, tmp, tmp / "loop.json")


@case("spec: a list, not an object", "split.json", "must be a JSON object")
def _(tmp, world):
    return _compile(world, tmp, _spec(tmp, [1, 2]))


@case("spec: 'into' is a string", "split.json", "'into' must be a list")
def _(tmp, world):
    return _compile(world, tmp, _spec(tmp, {"split": "Moving something", "into": "ab"}))


@case("spec: a label that is a number", "split.json", "into[0]: the label must be a non-empty string")
def _(tmp, world):
    return _compile(world, tmp, _spec(tmp, {"split": "Moving something", "into": [{"label": 5}, {"label": "b"}]}))


@case("spec: a file name with a newline and an escape", "bad\\nname\\x1b[1m.json", "no such file")
def _(tmp, world):
    return _compile(world, tmp, tmp / "bad\nname\x1b[1m.json")


@case("spec: a file name that is not UTF-8 (surrogate-escaped)", "bad\\udcff.json", "no such file")
def _(tmp, world):
    return _compile(world, tmp, tmp / "bad\udcff.json")


# -- hostile output paths -----------------------------------------------------------------------------
@case("-o .: the current folder, not a bundle", "not a catsplit bundle")
def _(tmp, world):
    (tmp / "cwd").mkdir()
    (tmp / "cwd" / "notes.txt").write_text("mine")
    os.chdir(tmp / "cwd")
    return _compile(world, tmp, _spec(tmp, SPLIT), "--force", out=".")


@case("-o /: a file system root", "not a usable output path")
def _(tmp, world):
    return _compile(world, tmp, _spec(tmp, SPLIT), "--force", out="/")


@case("--force on a folder holding the input bundle and another file", "not a catsplit bundle",
      "no bundle.json")
def _(tmp, world):
    holder = tmp / "holder"
    shutil.copytree(world["src"], holder / "bundle")
    (holder / "thesis.tex").write_text("years of work")
    return ["compile", str(holder / "bundle"), "--spec", str(_spec(tmp, SPLIT)), "-o", str(holder), "--method",
            "mr", "--force"]


@case("--force on a bundle with a file of the user's in it", "not a catsplit bundle", "'notes.txt'")
def _(tmp, world):
    out = _copy(world, "edited", tmp)
    (out / "notes.txt").write_text("mine")
    return _compile(world, tmp, _spec(tmp, SPLIT), "--force", out=str(out))


@case("--force on a regular file", "is a file, not a catsplit bundle")
def _(tmp, world):
    (tmp / "out").write_text("a file")
    return _compile(world, tmp, _spec(tmp, SPLIT), "--force")


@case("--force on a symbolic link to a bundle", "is a symbolic link")
def _(tmp, world):
    os.symlink(_copy(world, "edited", tmp), tmp / "current")
    return _compile(world, tmp, _spec(tmp, SPLIT), "--force", out=str(tmp / "current"))


@case("-o below a regular file", "is not a directory")
def _(tmp, world):
    (tmp / "file").write_text("x")
    return _compile(world, tmp, _spec(tmp, SPLIT), out=str(tmp / "file" / "deeper" / "out"))


@case("-o names the input without --force", "already exists", "--force")
def _(tmp, world):
    src = _copy(world, "src", tmp)
    return ["compile", str(src), "--spec", str(_spec(tmp, SPLIT)), "-o", str(src), "--method", "mr"]


@case("-o with a newline in its name", "out\\ncatsplit: error: forged", "already exists")
def _(tmp, world):
    (tmp / "out\ncatsplit: error: forged").mkdir()
    return _compile(world, tmp, _spec(tmp, SPLIT), out=str(tmp / "out\ncatsplit: error: forged"))


@case("import --force on a folder that is not a bundle", "not a catsplit bundle")
def _(tmp, world):
    (tmp / "labels.txt").write_text("a\nb\nc\n")
    (tmp / "out").mkdir()
    (tmp / "out" / "data.csv").write_text("1,2")
    return ["import", str(world["model"]), "--labels", str(tmp / "labels.txt"), "-o", str(tmp / "out"), "--force"]


@case("quantize --force on a folder that is not a bundle", "not a catsplit bundle")
def _(tmp, world):
    (tmp / "out").mkdir()
    (tmp / "out" / "data.csv").write_text("1,2")
    return ["quantize", str(world["src"]), "-o", str(tmp / "out"), "--force"]


@case("undo --force on a folder that is not a bundle", "not a catsplit bundle")
def _(tmp, world):
    (tmp / "out").mkdir()
    (tmp / "out" / "data.csv").write_text("1,2")
    return ["edits", "undo", str(world["edited"]), "-o", str(tmp / "out"), "--force"]


@case("groups propose --force on a file that is not a group scheme", "not a group scheme file")
def _(tmp, world):
    (tmp / "scheme.json").write_text('{"my": "settings"}')
    return ["groups", "propose", str(world["src"]), "--no-embeddings", "-o", str(tmp / "scheme.json"), "--force"]


# -- tampered edit histories ------------------------------------------------------------------------
def _tamper(world, tmp, change: Callable[[dict], None], command: str = "undo") -> list[str]:
    b = _copy(world, "edited", tmp)
    doc = json.loads((b / "bundle.json").read_text())
    change(doc)
    (b / "bundle.json").write_text(json.dumps(doc))
    if command == "list":
        return ["edits", "list", str(b)]
    return ["edits", "undo", str(b), "-o", str(tmp / "out")]


def _swap_history_head(doc: dict, b: Path) -> None:
    """history/head.1.onnx replaced by another valid head with the same shape, checksums updated."""
    from catsplit.models.head import make_head
    from tests.edit_bundles import head_weights

    data = make_head(*head_weights(seed=7)).SerializeToString()
    (b / "history" / "head.1.onnx").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    doc["files"]["history/head.1.onnx"] = doc["edits"][0]["previous"]["sha256"] = digest


TAMPER = {
    "edits is a number": (lambda d: d.update(edits=5), "edits must be a list"),
    "an edit is a number": (lambda d: d.update(edits=[1]), "edits[0]: must be a JSON object"),
    "previous missing": (lambda d: d["edits"][0].pop("previous"), "missing key 'previous'"),
    "previous labels reordered": (lambda d: d["edits"][0]["previous"]["labels"].reverse(),
                                  "does not give the labels that follow"),
    "previous sha256 wrong": (lambda d: d["edits"][0]["previous"].update(sha256="0" * 64),
                              "not listed in files with that sha256"),
    "previous head leaves the bundle": (lambda d: d["edits"][0]["previous"].update(head="../../etc/passwd"),
                                        "previous.head: must be 'history/head.1.onnx'"),
    "n wrong": (lambda d: d["edits"][0].update(n=2), "previous.head: must be 'history/head.2.onnx'"),
    "spec malformed": (lambda d: d["edits"][0]["spec"].update(into="x"), "edits[0].spec: 'into' must be a list"),
    "unknown key": (lambda d: d["edits"][0].update(evil=1), "unknown key 'evil'"),
    "previous groups malformed": (lambda d: d["edits"][0]["previous"].update(groups={"g": 5}),
                                  "group 'g' must list"),
    "previous modifiers malformed": (lambda d: d["edits"][0]["previous"].update(modifiers={"a": 5}),
                                     "previous.modifiers"),
    "a control character in previous labels": (lambda d: d["edits"][0]["previous"]["labels"].__setitem__(
        0, "Pushing\x1b[2J"), "control character \\x1b"),
    "method unknown": (lambda d: d["edits"][0].update(method="xx"), "method: must be one of"),
    "seed a string": (lambda d: d["edits"][0].update(seed="0"), "seed: must be an integer"),
    "a source is malformed": (lambda d: d["edits"][0].update(sources=[{"label": 5, "from": "x"}]),
                              "sources[0].label"),
    "timings malformed": (lambda d: d["edits"][0].update(timings=[1]), "timings: must be an object"),
    "temperature zero": (lambda d: d["edits"][0].update(temperature=0), "temperature: must be a positive number"),
}
for _name, (_change, _expect) in TAMPER.items():
    for _command in ("undo", "list"):
        CASES[f"history ({_command}): {_name}"] = (
            (lambda change, command: lambda tmp, world: _tamper(world, tmp, change, command))(_change, _command),
            ("bundle.json", _expect))


@case("history (undo): the kept head is not the one the edit replaced", "history/head.1.onnx",
      "untouched logits differ")
def _(tmp, world):
    b = _copy(world, "edited", tmp)
    doc = json.loads((b / "bundle.json").read_text())
    _swap_history_head(doc, b)
    (b / "bundle.json").write_text(json.dumps(doc))
    return ["edits", "undo", str(b), "-o", str(tmp / "out")]


@case("history (compile): a tampered history is not appended to", "bundle.json", "unknown key 'evil'")
def _(tmp, world):
    argv = _tamper(world, tmp, lambda d: d["edits"][0].update(evil=1))
    spec = {"split": "Moving something up", "into": [{"label": "Moving something up fast"}, {"label": "slowly"}]}
    return ["compile", argv[2], "--spec", str(_spec(tmp, spec)), "-o", str(tmp / "out2"), "--method", "mr"]


# -- labels files (import) --------------------------------------------------------------------------
def _import(world, tmp, labels: bytes | str | None, name: str = "labels.txt") -> list[str]:
    path = tmp / name
    if labels is not None:
        path.write_bytes(labels if isinstance(labels, bytes) else labels.encode())
    return ["import", str(world["model"]), "--labels", str(path), "-o", str(tmp / "out")]


LABELS_FILES = {
    "an ANSI escape": ("a\nb\x1b[31m\nc\n", "line 2", "control character \\x1b"),
    "a carriage return inside a label": ("a\nb\rc\nd\n", "line 2", "control character \\r"),
    "a line separator": ("a\nb\u2028c\nd\n", "control character \\u2028"),
    "a null byte": ("a\nb\x00\nc\n", "control character \\x00"),
    "a 300-character label": ("a\n" + "b" * 300 + "\nc\n", "300 characters long"),
    "repeated labels": ("a\nb\na\n", "labels repeat: a"),
    "no labels": ("\n  \n", "no labels"),
    "not UTF-8": (b"a\n\xff\xfe\nc\n", "not UTF-8"),
    "20 MB": ("a\n" * (10 << 20), "at most 16,777,216"),
}
for _name, (_text, *_expect) in LABELS_FILES.items():
    CASES[f"labels file: {_name}"] = ((lambda text: lambda tmp, world: _import(world, tmp, text))(_text),
                                      ("labels.txt", *_expect))


@case("labels file: missing", "labels.txt", "no such file")
def _(tmp, world):
    return _import(world, tmp, None)


@case("labels file: a directory", "labels_dir", "is a directory")
def _(tmp, world):
    (tmp / "labels_dir").mkdir()
    return _import(world, tmp, None, "labels_dir")


@case("labels file: a FIFO", "labels.fifo", "not a regular file")
def _(tmp, world):
    os.mkfifo(tmp / "labels.fifo")
    return _import(world, tmp, None, "labels.fifo")


# -- group schemes, CSVs, text encoders -----------------------------------------------------------
@case("groups file: 200000 nested arrays", "groups.json", "nested too deeply")
def _(tmp, world):
    (tmp / "groups.json").write_text("[" * 200000 + "]" * 200000)
    return _compile(world, tmp, _spec(tmp, SPLIT), "--groups", str(tmp / "groups.json"))


@case("groups file: a control character in a group name", "groups.json", "group name", "\\x07")
def _(tmp, world):
    (tmp / "groups.json").write_text(json.dumps({"Pushing\x07": ["a", "b"]}))
    return _compile(world, tmp, _spec(tmp, SPLIT), "--groups", str(tmp / "groups.json"))


@case("groups file: 20 MB", "groups.json", "at most 16,777,216")
def _(tmp, world):
    (tmp / "groups.json").write_text(json.dumps({"g": ["a" * 200] * (100 << 10)}))
    return _compile(world, tmp, _spec(tmp, SPLIT), "--groups", str(tmp / "groups.json"))


@case("shots CSV: a null byte in a video path", "shots.csv", "\\x00", "does not exist")
def _(tmp, world):
    (tmp / "shots.csv").write_text("a\x00b.mp4,Moving something up\n")
    return _compile(world, tmp, _spec(tmp, SPLIT), "--shots", str(tmp / "shots.csv"), "--init", "coarse")


@case("calibration CSV: a null byte in a video path", "calib.csv", "null byte")
def _(tmp, world):
    (tmp / "calib.csv").write_text("a\x00b.mp4\n")
    return ["quantize", str(world["src"]), "-o", str(tmp / "out"), "--calib", str(tmp / "calib.csv")]


def _encoder_dir(tmp: Path, spec: dict, model: bytes = b"\x08\x01garbage") -> Path:
    enc = tmp / "encoder"
    enc.mkdir()
    (enc / "encoder.json").write_text(json.dumps(spec))
    (enc / "model.onnx").write_bytes(model)
    (enc / "tokenizer.json").write_text("{}")
    return enc


ENCODER_SPEC = {"format": "catsplit.text_encoder", "name": "x", "dim": 8, "pooling": "mean", "max_length": 16}


@case("text encoder: a model.onnx onnxruntime refuses (Fail)", "model.onnx", "onnxruntime cannot load it")
def _(tmp, world):
    return _compile(world, tmp, _spec(tmp, SPLIT), "--text-encoder", str(_encoder_dir(tmp, ENCODER_SPEC)))


@case("text encoder: dim is not a number", "encoder.json", "'dim' must be a positive integer")
def _(tmp, world):
    return _compile(world, tmp, _spec(tmp, SPLIT), "--text-encoder",
                    str(_encoder_dir(tmp, ENCODER_SPEC | {"dim": "x"})))


# -- names that try to forge lines --------------------------------------------------------------------
@case("bundle: a name with a newline and an escape", "nowhere\\ncatsplit: error: forged\\x1b[0m",
      "not a bundle directory")
def _(tmp, world):
    return ["edits", "list", str(tmp / "nowhere\ncatsplit: error: forged\x1b[0m")]


def _tree(root: Path) -> dict[str, str]:
    """Every entry under `root`: files by content hash, folders and links by kind."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = f"link -> {os.readlink(p)}"
            elif p.is_dir():
                out[rel] = "folder"
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[rel] = "special"
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_is_one_line_and_changes_nothing(name, world, tmp_path, monkeypatch):
    monkeypatch.setenv("CATSPLIT_CACHE", str(world["cache"]))  # outside tmp_path: embeddings may be cached
    monkeypatch.chdir(tmp_path)
    build, expect = CASES[name]
    argv = build(tmp_path, world)
    before = _tree(tmp_path)
    result = CliRunner().invoke(catsplit, argv)
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output and result.stdout == ""
    lines = result.stderr.split("\n")
    assert len(lines) == 2 and lines[1] == "" and lines[0].startswith("catsplit: error: "), result.stderr
    line = lines[0]
    assert "unexpected" not in line, line
    for text in expect:
        assert text in line, (text, line)
    assert _tree(tmp_path) == before  # nothing written, deleted or left behind


def test_read_only_file_system_is_one_line(world, tmp_path):
    """-o on a read-only file system (a read-only tmpfs mounted in a private mount namespace)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    spec = _spec(tmp_path, SPLIT)
    script = (f"mount -t tmpfs -o ro none {ro} && exec {sys.executable} -c 'from catsplit.runtime.cli import "
              f"catsplit; catsplit()' compile {world['src']} --spec {spec} -o {ro / 'out'} --method mr")
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot make a mount namespace here (unshare --mount needs CAP_SYS_ADMIN)")
    proc = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == f"catsplit: error: {ro / 'out'}: cannot be written: {ro} is on a read-only file system\n"
    assert os.listdir(ro) == []
