"""The compiler's command line: `catsplit-compile` and `catsplit edits` (thin shells over the library)."""
from __future__ import annotations

import functools
import json
import sys

import click

from catsplit.compiler.errors import CompileError
from catsplit.runtime.bundle import BundleError


def _one_line_errors(fn):
    """Bad input becomes `catsplit: error: <file>: <problem>` on stderr and exit status 2, no traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (CompileError, BundleError) as e:
            click.echo(f"catsplit: error: {e}", err=True)
            sys.exit(2)
    return wrapper


@click.command("compile", context_settings={"help_option_names": ["-h", "--help"]})
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
@click.option("--ma-epochs", type=int, default=200, show_default=True, help="MA's maximum epochs.")
@click.option("--shot-epochs", type=int, default=300, show_default=True, help="Low-shot maximum epochs.")
@click.option("--shots-keep-coarse", is_flag=True,
              help="Keep c among the logits while fine-tuning (flat mode; default leaves it out).")
@click.option("--clips", type=int, default=1, show_default=True, help="Temporal clips per shot video.")
@click.option("--crops", type=int, default=1, show_default=True, help="Spatial crops per shot video.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the edit record as JSON.")
@_one_line_errors
def compile_cmd(bundle, spec, out, method, mode, shots, init, text_encoder, groups_file, seed, bias_offset,
                ma_epochs, shot_epochs, shots_keep_coarse, clips, crops, force, as_json):
    """Split one coarse label of BUNDLE into the subcategories of SPLIT.json, writing a new bundle.

    The new bundle shares BUNDLE's backbone, has a new head.onnx and label list, and records the edit
    (undo it with `catsplit edits undo`). It is written only after verification: the untouched labels'
    logits are bit-identical to BUNDLE's.
    """
    from catsplit.compiler.compile import compile_split
    from catsplit.compiler.lowshot import ShotConfig
    from catsplit.compiler.ma import AlignConfig

    report = compile_split(bundle, spec, out, method=method, mode=mode, shots=shots, init=init,
                           text_encoder=text_encoder, seed=seed, bias_offset=bias_offset,
                           groups_file=groups_file, force=force, align=AlignConfig(max_epochs=ma_epochs),
                           shot_config=ShotConfig(max_epochs=shot_epochs, keep_coarse=shots_keep_coarse),
                           views=(clips, crops))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    rec = report.record
    how = rec["method"] or "low-shot"
    click.echo(f"{report.bundle}: split {rec['spec']['split']!r} into {len(rec['sources'])} labels "
               f"({how}, {rec['mode']}, seed {rec['seed']}) in {rec['timings']['total']:.2f} s")
    for s in rec["sources"]:
        extra = f"  <- {s['entry']} ({s['score']:.3f})" if "entry" in s else ""
        click.echo(f"  {s['label']}{extra}")


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
@_one_line_errors
def list_edits(bundle, as_json):
    """List BUNDLE's edits, oldest first."""
    from catsplit.compiler.edits import summary
    from catsplit.runtime.bundle import load_bundle

    rows = [summary(r) for r in load_bundle(bundle).edits]
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
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@_one_line_errors
def undo_cmd(bundle, out, force):
    """Write BUNDLE with its last edit reverted to OUT (the previous head, byte for byte)."""
    from catsplit.compiler.edits import undo

    restored = undo(bundle, out, force=force)
    click.echo(f"{restored.path}: undid edit {len(restored.edits) + 1}; {restored.num_classes} labels")
