"""Unlabelled clips (docs/method.md §8): a folder or CSV of videos, or a saved feature file, turned into
the bundle's backbone features. No label is ever read: a CSV's columns after the first are ignored.

A feature file (.npz, written by `save_features` / `catsplit features`) holds `features` [N, D] and the
sha256 of the backbone that computed them, so a device can send features instead of video and a
compile refuses features of another backbone.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from catsplit.compiler.clip_csv import read_clip_csv
from catsplit.compiler.errors import CompileError
from catsplit.runtime.bundle import BACKBONE, Bundle
from catsplit.runtime.inputs import MIB
from catsplit.runtime.output import Kind, staged_output

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".ts", ".m4v")
MAX_FEATURE_BYTES = 1024 * MIB


def _feature_file_problem(path: Path) -> str | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            return None if {"features", "backbone_sha256"} <= set(f.files) else "not a catsplit feature file"
    except (OSError, ValueError, zipfile.BadZipFile):
        return "not a catsplit feature file"


FEATURES_KIND = Kind("feature file", False, _feature_file_problem)


def _csv_videos(path: Path) -> list[Path]:
    rows, problems = read_clip_csv(path, None, "unlabelled clips CSV")
    if problems:
        raise CompileError(f"{path}: {problems[0].problem}")
    return [r.file for r in rows]


def list_videos(path: str | Path) -> list[Path]:
    """The videos of a folder (its files with a video suffix, sorted) or of a CSV (first column)."""
    path = Path(path)
    if path.is_dir():
        videos = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
    elif path.suffix.lower() == ".csv":
        videos = _csv_videos(path)
    else:
        raise CompileError(f"{path}: unlabelled clips must be a folder of videos, a .csv or a .npz feature file")
    if not videos:
        raise CompileError(f"{path}: no video in it")
    return videos


def video_features(bundle: Bundle | str | Path, videos: list[Path], views: tuple[int, int] = (1, 1),
                   progress: bool = False) -> np.ndarray:
    """[N, D] backbone features of the videos, each clip's views averaged (as shot clips are)."""
    from catsplit.compiler.lowshot import shot_features

    return shot_features(bundle, [(v, "") for v in videos], views, progress)


def load_features(path: str | Path, bundle: Bundle) -> np.ndarray:
    """A saved feature file's [N, D] features, refused unless the bundle's backbone computed them."""
    path = Path(path)
    if path.stat().st_size > MAX_FEATURE_BYTES:
        raise CompileError(f"{path}: larger than {MAX_FEATURE_BYTES // MIB} MiB")
    try:
        with np.load(path, allow_pickle=False) as f:
            feats, sha = f["features"], str(f["backbone_sha256"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise CompileError(f"{path}: not a feature file with `features` and `backbone_sha256` ({e})") from None
    if sha != bundle.files[BACKBONE]:
        raise CompileError(f"{path}: computed by another backbone (sha256 {sha[:12]}..., the bundle's is "
                           f"{bundle.files[BACKBONE][:12]}...)")
    if feats.ndim != 2 or feats.shape[1] != bundle.feature_dim or len(feats) == 0:
        raise CompileError(f"{path}: features must be [N >= 1, {bundle.feature_dim}], got {list(feats.shape)}")
    if feats.dtype.kind != "f" or not np.isfinite(feats).all():
        raise CompileError(f"{path}: features must be finite floats")
    return feats.astype(np.float32)


def read_unlabelled(bundle: Bundle, path: str | Path, views: tuple[int, int] = (1, 1),
                    progress: bool = False) -> np.ndarray:
    """[N, D] features of the unlabelled clips at `path` (videos through the backbone, or a feature file)."""
    if Path(path).suffix.lower() == ".npz":
        return load_features(path, bundle)
    return video_features(bundle, list_videos(path), views, progress)


def save_features(out: str | Path, feats: np.ndarray, bundle: Bundle, force: bool = False) -> Path:
    """Write a feature file for `read_unlabelled` (staged: it appears whole or not at all)."""
    with staged_output(out, FEATURES_KIND, force) as stage:
        with open(stage.path, "wb") as f:
            np.savez(f, features=np.asarray(feats, np.float32), backbone_sha256=np.str_(bundle.files[BACKBONE]))
    return Path(out)
