"""Command-line inputs -> video files: local paths or any URI pyarrow's filesystems read
(s3://, gs://, hdfs://, ...), folders expanded to the videos under them.

An input that names nothing is reported, not raised: a batch job over an archive turns it into an
error row instead of failing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from pyarrow import fs as pafs

from catsplit.runtime.video import VIDEO_SUFFIXES


@dataclass
class Inputs:
    """Video files grouped by filesystem (one Ray read per filesystem), and the inputs not found."""

    files: list[tuple[pafs.FileSystem, list[str]]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(paths) for _, paths in self.files) + len(self.missing)


def _filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), uri


def expand(inputs: Iterable[str]) -> Inputs:
    """Files as given, folders as their video files (recursively, sorted); unknown paths as missing."""
    found = Inputs()
    for uri in inputs:
        fs, path = _filesystem(uri)
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.File:
            paths = [path]
        elif info.type == pafs.FileType.Directory:
            listing = fs.get_file_info(pafs.FileSelector(path, recursive=True))
            paths = sorted(i.path for i in listing
                           if i.type == pafs.FileType.File and i.extension.lower() in {s[1:] for s in VIDEO_SUFFIXES})
        else:
            found.missing.append(uri)
            continue
        group = next((g for f, g in found.files if f.equals(fs)), None)
        if group is None:
            found.files.append((fs, paths))
        else:
            group.extend(paths)
    return found
