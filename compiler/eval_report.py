"""What `catsplit eval` shows and writes: eval.md (also its plain output), eval.json, eval.png.

OUTDIR is written through runtime/output.py's staged writer: it must not exist, or with `force` must be
an eval report folder (eval.json and nothing but the three report files), which is then replaced
atomically. The PNG (the confusion matrix as a heat map) needs matplotlib, which only the `bench` extra
installs: without it the PNG is left out and `write_report` says why.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from catsplit.compiler.evaluate import EvalReport
from catsplit.runtime.errors import printable
from catsplit.runtime.output import Kind, staged_output

FILES = ("eval.json", "eval.md", "eval.png")


def _report_dir_problem(path: Path) -> str | None:
    names = {p.name for p in path.iterdir()}
    if "eval.json" not in names:
        return "no eval.json"
    extra = sorted(names - set(FILES))
    return f"holds {extra[0]!r}" if extra else None


EVAL_KIND = Kind("catsplit eval report", True, _report_dir_problem)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _cell(text: str) -> str:
    """A label as a markdown table cell: escaped like every shown name, `|` kept out of the table syntax."""
    return printable(text).replace("|", "\\|")


def _temperature(e) -> str:
    return "" if e.temperature is None else f" (temperature {e.temperature:g})"


def _unlabelled_line(e) -> list[str]:
    u = e.unlabelled
    if u is None:
        return []
    cal = (f"; calibrated: bias offset {u.offset:+.3f}, pool locality {100 * u.pool_locality:.1f}%"
           if u.pool_locality is not None else "")
    return [f"- unlabelled clips: {u.clips} ({u.called_coarse} called the split label)"
            f"{', refined' if u.refined else ''}{cal}"]


def markdown(r: EvalReport) -> str:
    """The report as markdown: what `catsplit eval` prints and writes to eval.md."""
    e, s = r.record, r.score
    if e.lowshot is None:
        how = e.method
    elif e.method:
        how = f"{e.method} + low-shot on {e.lowshot.clips} clips"
    else:
        how = f"low-shot on {e.lowshot.clips} clips ({e.lowshot.init} init)"
    enc = f"{e.text_encoder.name} (sha256 {e.text_encoder.sha256[:12]})" if e.text_encoder else "none"
    out = [f'# Edit {e.n} of {_cell(r.edited)}: split "{_cell(r.coarse)}" into {len(r.subcategories)}', "",
           f"- original: {_cell(r.original)}; clips: {_cell(r.clips_csv)} ({len(r.clips)} evaluated, "
           f"{len(r.skipped)} skipped); views {r.views[0]}x{r.views[1]}",
           f"- method: {how}, mode {e.mode}{_temperature(e)}, seed {e.seed}, text encoder {enc}, "
           f"bias offset {e.bias_offset:g}",
           *_unlabelled_line(e), "",
           "| metric | value | clips |", "|---|---|---|",
           f"| generality (pooled) | {_pct(r.generality)} | {s.correct}/{s.clips} |"]
    for t in r.per_subcategory:
        out.append(f"| generality: {_cell(t.target)} | {_pct(t.generality if t.clips else None)} | "
                   f"{t.correct}/{t.clips} |")
    acc = (lambda x: _pct(x) if r.other_clips else "n/a")  # noqa: E731
    out += [f"| locality = acc(edited) / acc(original) | {_pct(r.locality)} | {r.other_clips} |",
            f"| accuracy of the edited model on the other clips | {acc(s.edited_acc)} | {r.other_clips} |",
            f"| accuracy of the original model on the other clips | {acc(s.original_acc)} | {r.other_clips} |", ""]
    out.append(f'The original model gives "{_cell(r.coarse)}" to {r.coarse_hits} of the {s.clips} subcategory '
               "clips. With it masked, it gives them (c's nearest neighbours): "
               + (", ".join(f"{_cell(y)} ({n})" for y, n in r.neighbours) or "none") + ".")
    c = r.confusion
    out += ["", "## Confusion of the edited model (rows: truth, columns: prediction)", "",
            "| truth \\ predicted | " + " | ".join(_cell(y) for y in c.columns) + " |",
            "|---" * (len(c.columns) + 1) + "|"]
    out += [f"| {_cell(y)} | " + " | ".join(map(str, row)) + " |" for y, row in zip(c.rows, c.counts)]
    out += ["", f"## Clips whose prediction changed ({len(r.changed)})", ""]
    if r.changed:
        out += ["| clip | original | edited | truth |", "|---|---|---|---|"]
        out += [f"| {_cell(x.path)} | {_cell(x.original)} | {_cell(x.edited)} | {_cell(x.truth)} |" for x in r.changed]
    else:
        out.append("none")
    if r.skipped:
        out += ["", f"## Skipped rows ({len(r.skipped)})", ""] + [f"- {_cell(p.problem)}" for p in r.skipped]
    return "\n".join(out) + "\n"


def heat_map(r: EvalReport, path: Path) -> str | None:
    """Draw the confusion matrix into `path`; a note instead when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "eval.png left out: matplotlib is not installed (pip install 'catsplit[bench]')"
    c = r.confusion
    n_r, n_c = len(c.rows), len(c.columns)
    fig, ax = plt.subplots(figsize=(2.5 + 0.9 * n_c, 1.5 + 0.5 * n_r))
    ax.imshow(c.counts, cmap="Blues", aspect="auto", vmin=0)
    ax.set_xticks(range(n_c), [y[:40] for y in c.columns], rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(n_r), [y[:40] for y in c.rows], fontsize=8)
    peak = max(max(row) for row in c.counts) or 1
    for i, row in enumerate(c.counts):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8, color="white" if v > peak / 2 else "black")
    ax.set_xlabel("edited model's prediction")
    ax.set_ylabel("truth")
    ax.set_title(f"split of {r.coarse[:60]!r}: generality {_pct(r.generality)}, locality {_pct(r.locality)}",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None


def write_report(r: EvalReport, out: str | os.PathLike, force: bool = False) -> list[str]:
    """Write OUTDIR (eval.json, eval.md, eval.png); returns notes about what was left out."""
    with staged_output(out, EVAL_KIND, force) as stage:
        (stage.path / "eval.json").write_text(json.dumps(r.to_json(), indent=2) + "\n", encoding="utf-8")
        (stage.path / "eval.md").write_text(markdown(r), encoding="utf-8")
        note = heat_map(r, stage.path / "eval.png")
    return [note] if note else []
