"""python -m benchmarks.proposer: score the group proposer, write benchmarks/results/proposer.{md,json}."""
from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import click
from tqdm import tqdm

from benchmarks.proposer import bench as B

GOAL = 0.85

NOTES = """\
Notes (written for the committed run; the tables above are recomputed on every run, these words are not):

- **The goal (F1 >= 0.85 on both authors' schemes) is not reached: 0.74 on SSv2-Split, 0.49 on
  FineGym-Split** (issue 12 measured 0.78 / 0.70 and 0.61 / 0.40 precision / recall before this work;
  the namespace rule below is a small gain on FineGym and none on SSv2). SSv2-Split's groups are mostly a
  verb with its object and a trailing modifier ("Pushing something" + "from left to right"): shared
  leading words find them. FineGym-Split's follow no one rule: direction separates floor saltos ("(FX)
  salto forward" / "(FX) salto backward") but body shape separates beam saltos ("(BB) salto tucked" /
  "(BB) salto stretched", forward and backward together); the number of turns separates floor
  pirouettes ("(FX) 1 turn", "(FX) 2 turn or more") but the free leg separates beam turns; leaps and
  jumps with and without a turn are apart on the floor and together on the beam; the bars' circles are
  grouped by direction and turn while the circle's own name varies inside. The parameter ceiling
  measures it: grouping by the true element parameters that the gym world's parser reads from every
  label, with the key chosen greedily to fit the authors' scheme itself, stops at 0.70. A rule stated
  over label texts cannot make such per-apparatus choices without being written for this vocabulary,
  which the brief rules out.
- **Tuned on one scheme, tested on the other** (the grid above): the SSv2-tuned setting is the shipped
  one and gives FineGym 0.489, within 0.02 of the best any setting reaches there (0.507); the
  FineGym-tuned setting costs SSv2 0.13. The shipped setting is not fitted to FineGym.
- **Held out.** On Jester's gestures (groups: one gesture, its directions) the shipped rules reach 0.73:
  shared leading words plus similarity join "Swiping Left/Right/Up/Down". On the skating elements they
  fail (0.10): "(JUMP) triple Lutz" leads with its modifier, the rotation count, so shared leading words
  group the triples together, and the namespace blocks nothing there. Text similarity alone does well
  on both held-out sets (0.85, 0.76) and badly on the authors' schemes (0.56, 0.35): which signal works
  depends on where a vocabulary puts its modifiers, the thing a general proposer does not know. That is
  the proposer's main limit for a user's own label set, and the reason it is a proposal to review.
- **What else we tried** (throw-away scripts; none beat the shipped rules on both authors' schemes, so
  none was kept): IDF-weighted token overlap, token-alignment distances weighted by how often a token is
  what minimal pairs of labels differ in, modularity communities of the alignment graph, removing
  optional modifiers ("double", "with # twist": phrases by which several pairs of otherwise equal labels
  differ) and numbers before the prefix rule, prefix-or-suffix keys, and splitting a large word group
  only when its labels' embeddings are not cohesive. The one change kept is general and free: a leading
  bracketed tag is a namespace that the embedding join does not cross.
"""


def _row(name: str, n: int, ref: dict, s_words: dict, s_enc: dict) -> str:
    multi = sum(len(v) > 1 for v in ref.values())
    cell = lambda s: f"{s['precision']:.2f} / {s['recall']:.2f} / **{s['f1']:.2f}** ({s['multi_label_groups']})"  # noqa: E731
    return f"| {name} | {n} | {multi} | {cell(s_words)} | {cell(s_enc)} |"


@click.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("benchmarks/results/proposer.md"), show_default=True)
@click.option("--no-grid", is_flag=True, help="Skip the leave-one-data-set-out grid (minutes).")
def main(out: Path, no_grid: bool) -> None:
    """Score `catsplit groups propose` against the authors' and held-out group schemes."""
    from catsplit.compiler.text_encoder import load_text_encoder

    t0 = time.perf_counter()
    enc = B.CachedEncoder(load_text_encoder("minilm"))
    doc: dict = {"meta": {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                          "command": "python -m benchmarks.proposer " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
                          "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores visible; python "
                                     f"{platform.python_version()}", "defaults": B.DEFAULTS, "encoder": enc.name}}
    lines = ["# The group proposer against hand-made group schemes", "",
             "`catsplit groups propose` (catsplit.compiler.propose): modifier words and optional phrases learnt from "
             "minimal pairs of labels (MiniLM tells a modifier from a head), labels grouped by the leading words of "
             "what is left (their skeleton), then MiniLM similarity for labels left alone; a leading bracketed tag "
             "is a namespace. Words only: the skeleton is the label (no encoder). Scored by same-group label pairs "
             "(`pairwise_agreement`): precision / recall / **F1** (groups of 2+ labels proposed). Goal: F1 >= "
             f"{GOAL} on both authors' schemes.", "",
             f"- command: `{doc['meta']['command']}`; date {doc['meta']['date']}; {doc['meta']['machine']}",
             f"- proposer settings: {B.DEFAULTS}; text encoder {enc.name}", "",
             "| label set | labels | reference groups of 2+ | words only: P / R / F1 | words + minilm (shipped): P / R / F1 "
             "| minilm similarity alone, best threshold: P / R / F1 |",
             "|---|---:|---:|---|---|---|"]
    doc["schemes"] = {}
    for name, ref in tqdm(B.schemes().items(), desc="schemes"):
        labels = B.labels_of(ref)
        s_words, s_enc = B.score(labels, ref, None, **B.DEFAULTS), B.score(labels, ref, enc, **B.DEFAULTS)
        alone = B.similarity_alone(labels, ref, enc)
        doc["schemes"][name] = {"labels": len(labels), "words": s_words, "minilm": s_enc, "similarity_alone": alone}
        lines.append(_row(name, len(labels), ref, s_words, s_enc) + f" {alone['precision']:.2f} / "
                     f"{alone['recall']:.2f} / {alone['f1']:.2f} (at {alone['threshold']}) |")
    for name in ("SSv2-Split", "FineGym-Split"):
        f1 = doc["schemes"][name]["minilm"]["f1"]
        lines.append(f"\n- {name}: F1 {f1:.2f} {'meets' if f1 >= GOAL else 'misses'} the goal {GOAL}")
    lines += ["", "## What the default settings learn as modifiers", "",
              "| label set | modifier words | optional phrases |", "|---|---|---|"]
    doc["modifiers"] = {}
    for name, ref in B.schemes().items():
        mods = doc["modifiers"][name] = B.learnt_modifiers(B.labels_of(ref), enc)
        lines.append(f"| {name} | {', '.join(mods['words'])} | {'; '.join(mods['phrases'])} |")
    lines += ["", "## The shipped base models' label spaces", "",
              "What `catsplit groups propose BUNDLE` sees (collapsed group names plus fine labels) against the authors' "
              "scheme the bundle stores; the edit-quality benchmark's proposed-scheme rows use these proposals.", "",
              "| bundle | labels | reference groups of 2+ | words only: P / R / F1 | words + minilm: P / R / F1 |",
              "|---|---:|---:|---|---|"]
    doc["bundles"] = {}
    for name, (labels, ref) in B.bundle_label_sets().items():
        present = {g: [y for y in ys if y in labels] for g, ys in ref.items()}
        present = {g: ys for g, ys in present.items() if ys}
        s_words, s_enc = B.score(labels, present, None, **B.DEFAULTS), B.score(labels, present, enc, **B.DEFAULTS)
        doc["bundles"][name] = {"words": s_words, "minilm": s_enc}
        lines.append(_row(name, len(labels), present, s_words, s_enc))
    if not no_grid:
        refs = {n: r for n, r in B.schemes().items() if n in ("SSv2-Split", "FineGym-Split")}
        grids = {n: B.grid(r, enc) for n, r in tqdm(refs.items(), desc="grid")}
        doc["leave_one_out"] = B.leave_one_out(grids)
        lines += ["", f"## Leave one data set out (grid {B.GRID})", "",
                  "The best setting on one scheme, ties broken toward stricter modifier learning (higher "
                  "modifier_similarity, then swap_rate), tested on the other; the shipped defaults are the setting "
                  "tuned on SSv2-Split.", "",
                  "| tuned on | best setting there | F1 there | tested on | F1 there (P / R) | F1 there over the tied settings "
                  "| best F1 on the test set, any setting |",
                  "|---|---|---:|---|---|---|---:|"]
        for r in doc["leave_one_out"]:
            lo, hi = r["f1_tested_over_ties"]
            lines.append(f"| {r['tuned_on']} | {r['params']} | {r['f1_tuned']:.3f} | {r['tested_on']} | "
                         f"{r['f1_tested']:.3f} ({r['precision_tested']:.2f} / {r['recall_tested']:.2f}) | "
                         f"{lo:.3f} - {hi:.3f} ({r['ties']} settings) | {r['best_f1_on_test_any_setting']:.3f} |")
        ssv2 = next(r["params"] for r in doc["leave_one_out"] if r["tuned_on"] == "SSv2-Split")
        shipped = all(B.DEFAULTS[k] == v for k, v in ssv2.items())
        lines.append(f"\n- The shipped defaults {'are' if shipped else 'are NOT'} the setting tuned on SSv2-Split.")
    doc["parameter_ceiling"] = B.parameter_ceiling()
    lines += ["", "## FineGym-Split: how far a grouping by element parameters can go", "",
              "Greedy forward selection over the gym world's parsed element parameters (benchmarks/gym/parse.py), "
              "each step adding the parameter whose joint value best reproduces the authors' groups (F1):", "",
              "| F1 | key (parameters that must agree) |", "|---:|---|"]
    lines += [f"| {f1:.3f} | {', '.join(key)} |" for f1, key in doc["parameter_ceiling"]]
    doc["meta"]["seconds"] = round(time.perf_counter() - t0, 1)
    lines += ["", f"Run time {doc['meta']['seconds']} s.", "", NOTES]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")
    out.write_text("\n".join(lines) + "\n")
    click.echo(out)


if __name__ == "__main__":
    main()
