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
EDIT_WORDS = (1, 2, 3, 4, 6)

NOTES = """\
Notes (written for the committed run; the tables above are recomputed on every run, these words are not):

- **The goal (F1 >= 0.85 on both authors' schemes) is not reached: 0.75 on SSv2-Split, 0.58 on
  FineGym-Split** (0.74 and 0.49 with the shared-leading-words proposer this replaced). What is new:
  modifiers are learnt from the label set (minimal pairs of labels, and MiniLM to tell a modifier from
  a head; the table above lists what is learnt). On FineGym-Split that is the rotation counts, the body
  shapes, "double", "with # turn" and "with # twist", so "(FX) double salto backward tucked with 1
  twist" and "(FX) salto backward stretched" now share the group "(FX) salto backward" (18 of its 19
  labels), and the vaults group by their entry and salto direction. On SSv2-Split the prepositions
  ("behind", "onto", "next to", ...) are learnt and the verbs are not; its groups were already shared
  leading words, so SSv2 is where it was.
- **Why 0.85 is out of reach for a rule over label texts.** (1) The contiguous-edit oracle above: even
  linking *exactly* the same-group pairs whose words differ in one place by at most 3 words per side
  (what a modifier-span rule can reach, however well it decides) gives FineGym-Split 0.78 and
  SSv2-Split 0.71; 0.85 needs groups of labels that differ in 5 or more words, i.e. in their element
  or action name: "(FX) split jump with 1 turn", "(FX) tuck hop or jump with 1 turn" and "(FX) stag jump
  with 0.5 turn" are one group, so are five different circle names in "(UB) circle backward with turn"
  (these two groups and "(BB) split and straddle jump", "(FX) jump or hop" are the largest losses
  left: about 240 of FineGym-Split's 1027 same-group pairs). (2) The authors' rules differ between
  apparatus for the same texts: floor saltos are grouped by direction, beam saltos by body shape with
  both directions together; with shapes learnt as modifiers the beam saltos are grouped by direction
  (about 100 wrong pairs). The parameter ceiling above (the gym parser's true element parameters, the
  key fitted greedily to the authors' scheme itself) stops at 0.70; with a key fitted for each apparatus
  on its own, at 0.80. A proposer that reads only label texts, with no parameter list and nothing fitted
  to this scheme, would have to beat both.
- **Tuned on one scheme, tested on the other.** The shipped defaults are the setting tuned on SSv2-Split;
  FineGym-Split reaches 0.577 with them, the best any setting of the grid gives there (0.578); tuned on
  FineGym-Split the setting gives SSv2-Split 0.725 (best 0.747). The old proposer's transfer was 0.49
  and 0.61. Nine settings tie on SSv2-Split and they span 0.48-0.58 on FineGym-Split; the tie-break
  (stricter modifier learning: learn nothing the tuning set gives no evidence for) is a rule, but it was
  written after the grid had been seen, so read 0.58 as the top of that range.
- **Held out.** Jester 0.80 (was 0.73): the directions (left/right/up/down, in/out) are learnt as
  modifiers. Figure skating 0.54 (was 0.10): most jumps are grouped by jump type (by the similarity
  join: their rotation counts lead the labels, and the first-word rule below keeps those from being
  learnt), but the spin positions (upright, sit, layback, combination) swap at cosine ~0.78 and are
  learnt as modifiers, so the spins are grouped by entry (flying, change of foot), not by position.
- **A swap of the first word is a change of head**, never evidence of a modifier ("Pushing something
  onto something" / "Pulling something onto something"). Without this rule the encoder alone decides,
  and "pushing"/"pulling" (cosine ~0.80) become modifiers wherever they are the only verbs that swap:
  on the SSv2 labels that start with "Pu", "Pretending" or "Squeez" (tests/test_groups.py's CLI case)
  F1 is 0.45 without the rule, 0.79 with it (0.83 when nothing is learnt). It costs skating its
  rotation counts, which lead its labels.
- **Words only** (no encoder) learns no modifiers: the shared-leading-words rule as before, except that
  a leading "(TAG)" no longer counts as one of the `min_words` words.
- **Shipped bundles.** The SSv2-Split-Synth models' proposals are unchanged (same groups and names);
  both FineGym-Split-Synth models' proposals changed (F1 0.50 -> 0.60 and 0.56 -> 0.62), so the
  edit-quality benchmark's proposed-scheme rows for FineGym need a rerun.
- **What else we tried** (throw-away scripts; none kept): writing a placeholder for a removed modifier
  word instead of deleting it, so that its paradigm is not closed ("stretched" then stays a head word):
  FineGym-Split 0.43-0.47; linking labels whose leading words differ while a long rest is shared (the
  circle and jump names): more recall, less precision, F1 0.56; grouping by equal skeletons without the
  leading-words rule: FineGym-Split 0.49-0.58 but SSv2-Split 0.40. Before this work: IDF-weighted token
  overlap, alignment distances, modularity communities and prefix-or-suffix keys (see git history).
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
    doc["edit_ceiling"] = {name: {k: B.edit_ceiling(ref, k) for k in EDIT_WORDS}
                           for name, ref in B.schemes().items() if name in ("SSv2-Split", "FineGym-Split")}
    lines += ["", "## How far grouping by contiguous edits can go (an oracle)", "",
              "Same-group pairs (per the authors' scheme) whose words differ in one place by at most k words on "
              "each side are linked, and the linked components are scored (`edit_ceiling`): what a perfect "
              "modifier-span rule can reach.", "",
              "| label set | " + " | ".join(f"k = {k}" for k in EDIT_WORDS) + " |",
              "|---|" + "---:|" * len(EDIT_WORDS)]
    for name, by_k in doc["edit_ceiling"].items():
        lines.append(f"| {name} | " + " | ".join(f"{by_k[k]['f1']:.3f}" for k in EDIT_WORDS) + " |")
    doc["parameter_ceiling"] = B.parameter_ceiling()
    doc["apparatus_ceiling"] = B.parameter_ceiling(per_apparatus=True)
    lines += ["", "## FineGym-Split: how far a grouping by element parameters can go", "",
              "Greedy forward selection over the gym world's parsed element parameters (benchmarks/gym/parse.py), "
              "each step adding the parameter whose joint value best reproduces the authors' groups (F1):", "",
              "| F1 | key (parameters that must agree) |", "|---:|---|"]
    lines += [f"| {f1:.3f} | {', '.join(keys[''])} |" for f1, keys in doc["parameter_ceiling"]]
    f1, keys = doc["apparatus_ceiling"][-1]
    lines += ["", f"With a key of its own for each apparatus (each step adds one parameter to one apparatus's key), "
              f"the greedy search stops at F1 **{f1:.3f}** after {len(doc['apparatus_ceiling'])} steps, with "
              + "; ".join(f"{a}: {', '.join(k) or '(none)'}" for a, k in keys.items()) + "."]
    doc["meta"]["seconds"] = round(time.perf_counter() - t0, 1)
    lines += ["", f"Run time {doc['meta']['seconds']} s.", "", NOTES]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")
    out.write_text("\n".join(lines) + "\n")
    click.echo(out)


if __name__ == "__main__":
    main()
