"""run_benchmark: both models' tables as one JSON-able document; write_results: .md, .json and .png.

One document per world and group scheme (the authors' or the proposer's, `scheme`); write_results
writes its .json and .png and re-renders the .md from every document beside it (sections.page).
"""
from __future__ import annotations

import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from benchmarks.edit_quality import encoders as E
from benchmarks.edit_quality import full_model as F
from benchmarks.edit_quality import methods as M
from benchmarks.edit_quality.clusters import cluster_purity
from benchmarks.edit_quality.data import World, load_world
from benchmarks.edit_quality.report import to_json
from benchmarks.edit_quality.run import Table, run_table
from benchmarks.edit_quality.sections import draw, page, result_paths
from benchmarks.world.domain import Domain, get
from catsplit.compiler.options import AlignConfig, ShotConfig


def proposed_scheme(world: World) -> dict[str, list[str]]:
    """What `catsplit groups propose BUNDLE` suggests for the bundle's labels (minilm)."""
    from catsplit.compiler.propose import propose_groups
    from catsplit.compiler.text_encoder import load_text_encoder

    return propose_groups(world.bundle.labels, load_text_encoder("minilm"))


def run_model(model: str, path: Path, keys: Sequence[str], seeds: Sequence[int], views: tuple[int, int],
              n_val: int | None, n_train: int | None, targets: Sequence[str] | None, full_n_val: int,
              cache: Path | None, progress: bool, align: AlignConfig,
              full_config: ShotConfig = F.CONFIG, domain: str | Domain | None = None,
              scheme: str = "authors") -> tuple[dict, Table, dict, dict]:
    """One model's table: (world info, Table, timings, encoder names). domain: the rendered world or its
    name (default: the bundle's); scheme: "authors" (the bundle's group scheme) or "proposed" (`proposed_scheme`)."""
    chosen = [M.BY_KEY[k] for k in keys if k != F.METHOD.key]
    needed = {m.encoder for m in chosen if m.init in ("ma", "mr") or m.init is None}
    encoders = {name: E.load(name) for name in sorted(needed)}
    timings = {}
    t = time.perf_counter()
    world = load_world(path, model, views, targets, n_train, n_val, cache, progress,
                       get(domain) if isinstance(domain, str) else domain,
                       n_deploy=max((m.unlabelled for m in chosen), default=0))
    timings[f"{model}: features (render + backbone, or cache)"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    groups = proposed_scheme(world) if scheme == "proposed" else None
    table = run_table(world, chosen, seeds, encoders, progress, align, groups)
    subset = [x for x in F.FULL_TARGETS.get(model, ()) if x in world.targets]
    if F.METHOD.key in keys and subset:
        idx, val_views = F.val_subset(world, full_n_val)
        for seed in seeds:
            for target in subset:
                ts = time.perf_counter()
                score = F.finetune(world, target, seed, val_views, idx, full_config)
                table.scores.setdefault(F.METHOD.key, {}).setdefault(seed, []).append(score)
                table.seconds[F.METHOD.key] = table.seconds.get(F.METHOD.key, 0.0) + time.perf_counter() - ts
        table.notes[F.METHOD.key] = (f"subset: targets {', '.join(subset)}; scored on the first {full_n_val} "
                                     f"val clips of every label ({len(idx)} clips); at most "
                                     f"{full_config.max_epochs} epochs")
    timings[f"{model}: edits"] = round(time.perf_counter() - t, 1)
    info = {"bundle": str(path), "backbone_sha256": world.bundle.files.get("backbone.onnx"),
            "scheme": _scheme_info(world, groups),
            "world": {"seed": world.splits.seed, "n_train": world.splits.n_train, "n_val": world.splits.n_val,
                      "n_deploy": max((r.index + 1 for r in world.deploy), default=0)},
            "targets": world.targets, "k": {t: len(world.fine(t)) for t in world.targets},
            "val_clips": len(world.val), "original_top1": round(_original_top1(world) * 100, 2),
            **({"clusters": cluster_purity(world)} if world.deploy else {})}
    return info, table, timings, {k: v.name for k, v in encoders.items()}


def run_benchmark(bundles: dict[str, Path], seeds: Sequence[int] = (0, 1, 2),
                  methods: Sequence[str] | None = None, views: tuple[int, int] = (2, 3),
                  n_val: int | None = None, n_train: int | None = None, targets: Sequence[str] | None = None,
                  full_n_val: int = 4, cache: Path | None = None, progress: bool = False, command: str = "",
                  align: AlignConfig = AlignConfig(), full_config: ShotConfig = F.CONFIG, jobs: int = 1,
                  world: str | Domain = "ssv2", scheme: str = "authors") -> dict:
    """Every chosen method x target x seed for each model's bundle, as the document `write_results` writes.

    align: MA's training settings (the compiler's defaults; tests pass fewer epochs); full_config: the
    whole-model fine-tuning's (full_model.CONFIG). jobs: models run
    in parallel processes (MA and low-shot training use one thread each, so 2 models fill 2 cores).
    world: "ssv2" or "gym"; scheme: "authors" or "proposed" (see run_model)."""
    t0 = time.perf_counter()
    keys = list(methods or M.BY_KEY)
    args = [(m, Path(p), keys, list(seeds), views, n_val, n_train, targets, full_n_val, cache, progress, align,
             full_config, world, scheme)
            for m, p in bundles.items()]
    if jobs > 1 and len(args) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(jobs, len(args)), mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(run_model, *zip(*args)))
    else:
        results = [run_model(*a) for a in args]
    tables, timings, names = {}, {}, {}
    for (model, *_), (info, table, times, enc) in zip(args, results):
        tables[model] = (info, table)
        timings.update(times)
        names.update(enc)
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": command,
            "world": world if isinstance(world, str) else world.name, "scheme": scheme,
            "load_avg": [round(x, 2) for x in os.getloadavg()],
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores visible, {platform.processor() or 'cpu'}; "
                       f"python {platform.python_version()}",
            "seeds": list(seeds), "views": list(views), "encoders": names, "jobs": jobs,
            "timings_s": {**timings, "total": round(time.perf_counter() - t0, 1)}}
    return to_json(tables, meta)


def _scheme_info(world: World, groups: dict[str, list[str]] | None) -> dict:
    """Which group scheme the edits learned from; a proposed one with its agreement with the bundle's."""
    if groups is None:
        return {"source": "authors"}
    from catsplit.compiler.propose import pairwise_agreement

    agreement = pairwise_agreement(groups, world.bundle.groups or {})
    return {"source": "proposed", "groups": len(groups), "multi_label_groups": sum(len(v) > 1 for v in groups.values()),
            "agreement_with_authors": {k: round(v, 4) for k, v in agreement.items()}}


def _original_top1(world) -> float:
    from catsplit.compiler.metrics import predictions

    cls = world.splits.world.class_of(world.model)
    pred = predictions(world.original)
    return float(sum(world.bundle.labels[p] == cls[r.label] for p, r in zip(pred, world.val)) / len(world.val))


def write_results(doc: dict, out: Path) -> list[Path]:
    """The document's .json (every per-target count) and .png (generality vs locality) beside out.md,
    named by world and scheme (sections.result_paths), then out.md re-rendered from every document there."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    js, png = result_paths(out, doc["meta"])
    js.write_text(json.dumps(doc, indent=1) + "\n")
    draw(doc, png)
    out.write_text(page(out))
    return [out, js, png]
