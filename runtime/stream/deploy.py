"""`catsplit deploy NEW_BUNDLE --link CURRENT`: publish a bundle to running `catsplit-run`s, atomically.

A device runs `catsplit-run CURRENT --stream ...` where CURRENT is a directory symlink. Deploying
checks NEW_BUNDLE completely (every sha256), checks that a running runtime can take its head (same
backbone sha256, preprocessing and feature dimension as the bundle CURRENT points to now), then
points CURRENT at it in one rename(2): a watcher sees the old bundle or the new one, never a
half-switched link. The shell equivalent:

    ln -sfn NEW_BUNDLE CURRENT.tmp && mv -T CURRENT.tmp CURRENT

(`ln -sfn NEW CURRENT` alone removes the link before making the new one: not atomic.)
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from catsplit.runtime.bundle import BACKBONE, HEAD, Bundle, BundleError, load_bundle
from catsplit.runtime.cli import one_line_errors


def deploy(new: str | os.PathLike, link: str | os.PathLike, force: bool = False) -> dict[str, Any]:
    """Point the symlink `link` at the bundle `new`; returns what was switched."""
    bundle = load_bundle(new)
    link = Path(link)
    previous = None
    if link.is_symlink():
        previous = os.readlink(link)
        if link.exists() and not force:
            _check_compatible(bundle, load_bundle(link, verify=False), link)
    elif link.exists():
        raise BundleError(f"{link}: exists and is not a symlink (deploy switches a directory symlink)")
    here, there = os.path.realpath(link.parent), os.path.realpath(new)
    target = os.path.relpath(there, here) if Path(there).is_relative_to(here) else there  # relative: movable
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp, target_is_directory=True)
    try:
        os.replace(tmp, link)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise BundleError(f"{link}: cannot switch the link: {e.strerror or e}") from None
    return {"link": str(link), "target": target, "previous": previous, "labels": len(bundle.labels),
            "head_sha256": bundle.files[HEAD]}


def _check_compatible(new: Bundle, old: Bundle, link: Path) -> None:
    """What Runtime.swap_head would refuse, refused here before anything is switched."""
    meta = new.path / "bundle.json"
    if new.files.get(BACKBONE) != old.files.get(BACKBONE):
        raise BundleError(f"{meta}: backbone sha256 differs from the deployed {link}'s; running runtimes "
                          "cannot swap it in (use --force, then restart them)")
    if new.preprocess != old.preprocess:
        raise BundleError(f"{meta}: preprocess differs from the deployed {link}'s")
    if new.feature_dim != old.feature_dim:
        raise BundleError(f"{meta}: feature_dim {new.feature_dim} differs from the deployed {link}'s "
                          f"{old.feature_dim}")


@click.command("deploy", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("new_bundle", type=click.Path(path_type=str))
@click.option("--link", required=True, type=click.Path(path_type=str),
              help="The directory symlink running catsplit-run processes were given as BUNDLE.")
@click.option("--force", is_flag=True, help="Deploy even if its backbone differs (running runtimes refuse "
                                            "the head and keep the old one until restarted).")
@click.option("--json", "as_json", is_flag=True, help="Print what was switched as one JSON object.")
@one_line_errors
def deploy_cmd(new_bundle: str, link: str, force: bool, as_json: bool) -> None:
    """Publish NEW_BUNDLE: check it, then switch the symlink --link to it atomically.

    Running `catsplit-run LINK --stream ...` processes notice within --poll seconds (or at once on
    SIGHUP) and swap in the new head without dropping a window.
    """
    done = deploy(new_bundle, link, force)
    if as_json:
        click.echo(json.dumps(done))
    else:
        click.echo(f"{done['link']} -> {done['target']} (was {done['previous'] or 'absent'})")
