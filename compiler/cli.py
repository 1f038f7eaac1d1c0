"""The compiler's command line: `catsplit-compile` and `catsplit edits` (thin shells over the library)."""
from __future__ import annotations

import json

import click

from catsplit.runtime.cli import OneLineCommand, one_line_errors


# OneLineCommand: `catsplit-compile` runs this command on its own, and its usage errors are one line too.
@click.command("compile", cls=OneLineCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("bundle", type=click.Path(file_okay=False))
@click.option("--spec", "spec", required=True, type=click.Path(dir_okay=False),
              help='SPLIT.json: {"split": COARSE, "into": [{"label": ..., "modifier": ...}, ...]}.')
@click.option("-o", "--out", required=True, type=click.Path(), help="Output bundle directory.")
@click.option("--method", type=click.Choice(["mr", "ma"]), default="ma", show_default=True,
              help="Zero-shot rows: modifier retrieval (deterministic) or modifier alignment.")
@click.option("--mode", type=click.Choice(["flat", "hierarchical"]), default="flat", show_default=True,
              help="flat: replace row c by the new rows; hierarchical: new rows share c's probability "
                   "(every other prediction unchanged).")
@click.option("--shots", type=click.Path(dir_okay=False),
              help="CSV of 'video path,subcategory label' for low-shot fine-tuning of the new rows.")
@click.option("--init", type=click.Choice(["ma", "mr", "coarse", "random"]),
              help="Start of low-shot training (with --shots; default: --method).")
@click.option("--text-encoder", default="minilm", show_default=True, help="Built-in name or encoder directory.")
@click.option("--groups", "groups_file", type=click.Path(dir_okay=False),
              help="Group scheme JSON to use instead of the bundle's.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for MA and low-shot training.")
@click.option("--bias-offset", type=float, default=0.0, show_default=True,
              help="Added to the new rows' biases (flat mode): lower trades generality for locality.")
@click.option("--hier-temperature", "temperature", type=click.FloatRange(0, 1000, min_open=True), default=None,
              help="Hierarchical mode: the new rows share c's probability as softmax(rows / T); below 1 the best "
                   "row takes more of it [default: 0.25].")
@click.option("--ma-epochs", type=click.IntRange(min=1), default=200, show_default=True, help="MA's maximum epochs.")
@click.option("--ma-ensemble", type=click.IntRange(min=1), default=1, show_default=True,
              help="Train this many MA maps (seeds SEED, SEED+1, ...) and average their rows.")
@click.option("--ma-rescale", is_flag=True, help="Rescale each MA row to the coarse row's norm (MA's rows are longer).")
@click.option("--ma-with-mr", is_flag=True,
              help="Average each MA row with modifier retrieval's row for the same subcategory.")
@click.option("--shot-epochs", type=click.IntRange(min=1), default=300, show_default=True, help="Low-shot maximum epochs.")
@click.option("--shot-min-steps", type=click.IntRange(min=0), default=50, show_default=True,
              help="Low-shot optimiser steps before early stopping may stop training.")
@click.option("--shot-penalty", type=click.FloatRange(min=0), default=0.005, show_default=True,
              help="Low-shot L2 pull of the new rows towards their start, per mean squared feature norm and per "
                   "clip a subcategory: higher keeps more locality, 0 turns it off.")
@click.option("--shot-cap/--no-shot-cap", default=True, show_default=True,
              help="Keep each new row's norm and bias at most the coarse row's (from the start) while fine-tuning.")
@click.option("--shot-init-weight", type=click.FloatRange(0, 1), default=0.25, show_default=True,
              help="An MA/MR start: the coarse row moved this far towards the zero-shot rows (1 = those rows, "
                   "at the coarse row's norm).")
@click.option("--shots-keep-coarse", is_flag=True,
              help="Keep c among the logits while fine-tuning (flat mode; default leaves it out).")
@click.option("--clips", type=click.IntRange(min=1), default=1, show_default=True, help="Temporal clips per shot video.")
@click.option("--crops", type=click.Choice(["1", "3"]), default="1", show_default=True,
              help="Spatial crops per shot video: 1 = centre; 3 = left, centre, right along the long side.")
@click.option("--unlabelled", type=click.Path(),
              help="Clips without labels (a folder or CSV of videos, or a .npz from `catsplit features`): the "
                   "new rows are refined on the ones the model calls the split label, then calibrated.")
@click.option("--refine/--no-refine", default=True, show_default=True,
              help="With --unlabelled: refine the rows before calibrating (--no-refine: calibrate only).")
@click.option("--locality-target", type=click.FloatRange(0.0, 1.0, min_open=True), default=0.995, show_default=True,
              help="With --unlabelled (flat mode): the fraction of other-label clips that must keep their prediction.")
@click.option("--force", is_flag=True, help="Replace OUT if it is a bundle (atomically; anything else is refused).")
@click.option("--json", "as_json", is_flag=True, help="Print the edit record as JSON.")
@one_line_errors
def compile_cmd(bundle, spec, out, method, mode, shots, init, text_encoder, groups_file, seed, bias_offset,
                temperature, ma_epochs, ma_ensemble, ma_rescale, ma_with_mr, shot_epochs, shot_min_steps,
                shot_penalty, shot_cap, shot_init_weight, shots_keep_coarse, clips, crops, unlabelled, refine,
                locality_target, force, as_json):
    """Split one coarse label of BUNDLE into the subcategories of SPLIT.json, writing a new bundle.

    The new bundle shares BUNDLE's backbone, has a new head.onnx and label list, and records the edit
    (undo it with `catsplit edits undo`). It is written only after verification: the untouched labels'
    logits are bit-identical to BUNDLE's.
    """
    from catsplit.compiler.compile import compile_split
    from catsplit.compiler.options import AlignConfig, ShotConfig, SplitOptions, UnlabelledConfig

    options = SplitOptions(method=method, mode=mode, init=init, seed=seed, bias_offset=bias_offset,
                           temperature=temperature, text_encoder=text_encoder,
                           align=AlignConfig(max_epochs=ma_epochs, ensemble=ma_ensemble, rescale=ma_rescale,
                                             with_mr=ma_with_mr),
                           shot_config=ShotConfig(max_epochs=shot_epochs, min_steps=shot_min_steps,
                                                  penalty=shot_penalty, cap=shot_cap, init_weight=shot_init_weight,
                                                  keep_coarse=shots_keep_coarse),
                           views=(clips, int(crops)),
                           unlabelled=UnlabelledConfig(refine=refine, locality_target=locality_target))
    report = compile_split(bundle, spec, out, options, shots=shots, groups_file=groups_file, force=force,
                           unlabelled=unlabelled, progress=not as_json)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    rec = report.record
    click.echo(f"{report.bundle}: split {rec.spec.split!r} into {len(rec.sources)} labels "
               f"({rec.method or 'low-shot'}, {rec.mode}, seed {rec.seed}) in {rec.timings['total']:.2f} s")
    for s in rec.sources:
        extra = f"  <- {s.entry} ({s.score:.3f})" if s.entry else ""
        click.echo(f"  {s.label}{extra}")
    u = rec.unlabelled
    if u is not None:
        cal = (f"; bias offset {u.offset:+.3f}: {100 * u.pool_locality:.1f}% of the other clips keep their label"
               if u.pool_locality is not None else "")
        click.echo(f"  unlabelled: {u.clips} clips, {u.called_coarse} called {rec.spec.split!r}"
                   f"{f', refined ({100 * u.moved:.0f}% moved)' if u.refined else ''}{cal}")


@click.command("features", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("bundle", type=click.Path(file_okay=False))
@click.argument("clips", type=click.Path())
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="The feature file (.npz).")
@click.option("--clips-per-video", "n_clips", type=click.IntRange(min=1), default=1, show_default=True,
              help="Temporal clips per video.")
@click.option("--crops", type=click.Choice(["1", "3"]), default="1", show_default=True, help="Spatial crops per video.")
@click.option("--force", is_flag=True, help="Replace OUT if it is a feature file.")
@one_line_errors
def features_cmd(bundle, clips, out, n_clips, crops, force):
    """Save BUNDLE's backbone features of CLIPS (a folder or CSV of videos) for `compile --unlabelled`.

    A device can send these instead of its videos; the file records the backbone's sha256, and a compile
    against another backbone refuses it.
    """
    from catsplit.compiler.unlabelled import list_videos, save_features, video_features
    from catsplit.runtime.bundle import load_bundle

    b = load_bundle(bundle)
    videos = list_videos(clips)
    feats = video_features(b, videos, (n_clips, int(crops)), progress=True)
    save_features(out, feats, b, force)
    click.echo(f"{out}: features of {len(videos)} clips, {feats.shape[1]} dims")


class _ListByDefault(click.Group):
    """`catsplit edits BUNDLE` lists; `catsplit edits undo BUNDLE -o OUT` undoes."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@click.group("edits", cls=_ListByDefault, context_settings={"help_option_names": ["-h", "--help"]})
def edits():
    """List a bundle's edits (`catsplit edits BUNDLE`) or undo the last one (`catsplit edits undo`)."""


@edits.command("list")
@click.argument("bundle", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the edits as JSON.")
@one_line_errors
def list_edits(bundle, as_json):
    """List BUNDLE's edits, oldest first."""
    from catsplit.compiler.edits import listed

    rows = listed(bundle)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"{bundle}: no edits")
    for r in rows:
        how = r["method"] or "low-shot"
        shots = " + shots" if r["shots"] and r["method"] else ""
        click.echo(f"{r['n']}. split {r['split']!r} into {r['into']} ({how}{shots}, {r['mode']}, "
                   f"seed {r['seed']}, {r['created']})")


@edits.command("undo")
@click.argument("bundle", type=click.Path(file_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(), help="Output bundle directory.")
@click.option("--force", is_flag=True, help="Replace OUT if it is a bundle (atomically; OUT may be BUNDLE).")
@one_line_errors
def undo_cmd(bundle, out, force):
    """Write BUNDLE with its last edit reverted to OUT (the previous head, byte for byte)."""
    from catsplit.compiler.edits import undo

    restored = undo(bundle, out, force=force)
    click.echo(f"{restored.path}: undid edit {len(restored.edits) + 1}; {restored.num_classes} labels")


@click.command("eval", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("original", type=click.Path(file_okay=False))
@click.argument("edited", type=click.Path(file_okay=False))
@click.option("--clips", "clips", required=True, type=click.Path(dir_okay=False),
              help="CSV of 'video path,label' (labels of EDITED; relative paths relative to the CSV).")
@click.option("-o", "--out", type=click.Path(), help="Write eval.json, eval.md and eval.png to this folder.")
@click.option("--views", default="1x1", show_default=True, metavar="CLIPSxCROPS",
              help="Temporal clips x spatial crops (1 or 3) per video; probabilities are averaged over views.")
@click.option("--provider", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Execution provider for the backbone and heads.")
@click.option("--force", is_flag=True, help="Replace OUT if it is an eval report folder (anything else is refused).")
@click.option("--json", "as_json", is_flag=True, help="Print eval.json instead of the markdown report.")
@click.option("--quiet", is_flag=True, help="No progress bar on stderr.")
@one_line_errors
def eval_cmd(original, edited, clips, out, views, provider, force, as_json, quiet):
    """Measure EDITED's last edit against ORIGINAL (the bundle it was made from) on labelled clips.

    Prints generality per subcategory and pooled, locality, the confusion among the subcategories and
    the coarse label's nearest neighbours, and the clips whose prediction changed, scored as the
    edit-quality benchmark scores (docs/method.md §6). A row that cannot be used gets one line on stderr
    and is skipped; the others are evaluated (exit status 1 when any row was skipped).
    """
    from catsplit.compiler.eval_report import EVAL_KIND, markdown, write_report
    from catsplit.compiler.evaluate import evaluate_edit
    from catsplit.runtime.cli import EXIT_VIDEO, _parse_views, error_line
    from catsplit.runtime.output import check_output

    clips_crops = _parse_views(views)
    if out is not None:
        check_output(out, EVAL_KIND, force)
    report = evaluate_edit(original, edited, clips, views=clips_crops, provider=provider, progress=not quiet,
                           on_skip=lambda p: error_line(f"{clips}: skipped {p.problem}"))
    notes = write_report(report, out, force) if out is not None else []
    for note in notes:
        click.echo(f"catsplit: note: {note}", err=True)
    click.echo(json.dumps(report.to_json(), indent=2) if as_json else markdown(report), nl=as_json)
    return EXIT_VIDEO if report.skipped else 0


# --- text encoders and group schemes -------------------------------------------------------------

@click.group("text-encoder", context_settings={"help_option_names": ["-h", "--help"]})
def text_encoder():
    """Text encoders for MR/MA: export a transformers checkpoint to ONNX + tokenizer.json."""


@text_encoder.command("export")
@click.option("--from", "src", required=True, type=click.Path(),
              help="transformers checkpoint directory (a sentence encoder or a CLIP model).")
@click.option("-o", "--out", required=True, type=click.Path(), help="Output text encoder directory.")
@click.option("--kind", type=click.Choice(["auto", "bert", "clip"]), default="auto", show_default=True,
              help="bert: AutoModel + mean (or the checkpoint's cls) pooling; clip: "
                   "CLIPTextModelWithProjection's text_embeds; auto: clip for CLIP configs, else bert.")
@click.option("--name", help="Name recorded in edits (default: the checkpoint directory's name).")
@click.option("--force", is_flag=True, help="Replace OUT if it is a text encoder (anything else is refused).")
@click.option("--json", "as_json", is_flag=True, help="Print the encoder's description as JSON.")
@one_line_errors
def export_text_encoder_cmd(src, out, kind, name, force, as_json):
    """Export the checkpoint in --from to OUT, for `catsplit-compile --text-encoder OUT`."""
    from catsplit.compiler.text_export import export_text_encoder

    enc = export_text_encoder(src, out, kind=kind, name=name, force=force)
    info = {**enc.spec, "path": str(enc.path), "sha256": enc.sha256}
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        click.echo(f"{enc.path}: {info['kind']} text encoder {enc.name!r}, {enc.dim}-d, "
                   f"{enc.pooling} pooling, max {enc.max_length} tokens")


@text_encoder.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def list_text_encoders(as_json):
    """List the built-in encoders and the encoders exported into the cache."""
    from catsplit.compiler.text_encoder import BUILTIN, cache_root

    exported = sorted(str(p.parent) for p in (cache_root() / "text").glob("*/encoder.json"))
    if as_json:
        click.echo(json.dumps({"builtin": list(BUILTIN), "cached": exported}, indent=2))
        return
    click.echo("built in: " + ", ".join(BUILTIN))
    for p in exported:
        click.echo(f"cached:   {p}")


@click.group("groups", context_settings={"help_option_names": ["-h", "--help"]})
def groups():
    """Group schemes (which labels share a base concept) and the modifier texts derived from them."""


def _print_scheme(scheme, labels, overrides, as_json):
    """The scheme as an edit of a bundle with `labels` sees it: each group's labels that are rows, with
    the modifier text the edit uses (groups.modifiers, the one place it is decided)."""
    from catsplit.compiler.groups import modifiers, rows_per_group

    mods = modifiers(scheme, labels, overrides)
    if as_json:
        click.echo(json.dumps({"group_scheme": scheme, "modifiers": mods}, indent=2))
        return
    for name, rows in rows_per_group(scheme, labels).items():
        click.echo(name)
        for y in rows:
            click.echo(f"    {y}  [{mods[y]}]")


_DEFAULT = "ProposerSettings"  # catsplit.compiler.propose's defaults (not imported here: the CLI loads lazily)


@groups.command("propose")
@click.argument("bundle", type=click.Path(file_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False),
              help='Write {"group_scheme": ...} here, for review and `catsplit-compile --groups`.')
@click.option("--text-encoder", default="minilm", show_default=True,
              help="Built-in name or encoder directory: it tells modifiers from heads and joins leftover labels.")
@click.option("--no-embeddings", is_flag=True, help="Shared leading words only (no modifiers learnt, no join).")
@click.option("--min-words", type=click.IntRange(min=1), default=None, show_default=_DEFAULT,
              help="Leading words (past function words and the namespace tag) that skeletons must share.")
@click.option("--max-size", type=click.IntRange(min=1), default=None, show_default=_DEFAULT,
              help="Split larger word-groups by one more leading word.")
@click.option("--join-threshold", type=float, default=None, show_default=_DEFAULT,
              help="Cosine (average linkage) at which leftover labels join a group or each other.")
@click.option("--modifier-similarity", type=float, default=None, show_default=_DEFAULT,
              help="Mean cosine of the minimal pairs of a word or phrase for it to count as a modifier.")
@click.option("--swap-rate", type=float, default=None, show_default=_DEFAULT,
              help="Minimal pairs per label holding a word for it to count as a modifier word.")
@click.option("--force", is_flag=True, help="Replace -o FILE if it is a group scheme file.")
@click.option("--json", "as_json", is_flag=True, help="Print the scheme and derived modifiers as JSON.")
@one_line_errors
def propose_cmd(bundle, out, text_encoder, no_embeddings, min_words, max_size, join_threshold, modifier_similarity,
                swap_rate, force, as_json):
    """Suggest a group scheme for BUNDLE's labels: modifier words learnt from the labels are set aside, labels
    sharing the leading words of the rest are grouped, then leftovers join by text similarity (labels with
    different leading "(TAG)"s are never grouped)."""
    from catsplit.compiler.groups import SCHEME_FILE_KIND, write_scheme
    from catsplit.compiler.propose import ProposerSettings, propose_groups
    from catsplit.compiler.text_encoder import load_text_encoder
    from catsplit.runtime.bundle import load_bundle
    from catsplit.runtime.output import check_output

    b = load_bundle(bundle, verify=False)
    if out is not None:
        check_output(out, SCHEME_FILE_KIND, force)
    encoder = None if no_embeddings else load_text_encoder(text_encoder)
    given = {"min_words": min_words, "max_size": max_size, "join_threshold": join_threshold,
             "modifier_similarity": modifier_similarity, "swap_rate": swap_rate}
    settings = ProposerSettings(**{k: v for k, v in given.items() if v is not None})
    scheme = propose_groups(b.labels, encoder, settings)
    if out is not None:
        write_scheme(scheme, out, force)
    _print_scheme(scheme, b.labels, b.modifiers, as_json)


@groups.command("show")
@click.argument("bundle", type=click.Path(file_okay=False))
@click.option("--groups", "groups_file", type=click.Path(dir_okay=False), help="Scheme JSON instead of the bundle's.")
@click.option("--json", "as_json", is_flag=True, help="Print the scheme and modifiers as JSON.")
@one_line_errors
def show_cmd(bundle, groups_file, as_json):
    """Show the group scheme an edit of BUNDLE uses, with each label's modifier text."""
    from catsplit.compiler.groups import resolve_groups
    from catsplit.runtime.bundle import load_bundle

    b = load_bundle(bundle, verify=False)
    _print_scheme(resolve_groups(b, groups_file), b.labels, b.modifiers, as_json)
