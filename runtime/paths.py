"""Paths a user names: why one cannot be opened, said plainly, before anything is read from it.

Pathlib's `exists()` / `is_file()` answer False for a missing file, a symlink loop, a path through a
regular file and a name with a NUL byte alike, so every one of them read "no such file". `regular_file`
asks the operating system once and names the actual problem; it also refuses what is not a regular
file (a FIFO would block a reader forever, a device never ends).
"""
from __future__ import annotations

import errno
import os
import stat

_PROBLEMS = {
    errno.ENOENT: "no such file",
    errno.ELOOP: "symbolic link loop",
    errno.ENOTDIR: "no such file (a component of the path is not a directory)",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENAMETOOLONG: "file name too long",
}


class PathProblem(ValueError):
    """Why a path cannot be used, as a phrase without the path (the caller puts its own name first)."""


def os_problem(e: OSError) -> str:
    """A plain phrase for an OSError about a path."""
    return _PROBLEMS.get(e.errno or 0) or e.strerror or type(e).__name__


def regular_file(path: str | os.PathLike) -> os.stat_result:
    """`os.stat(path)` (symlinks followed) when it is a regular file; else PathProblem saying why."""
    if "\0" in os.fsdecode(path):
        raise PathProblem("path contains a NUL byte")
    try:
        st = os.stat(path)
    except OSError as e:
        raise PathProblem(os_problem(e)) from None
    if stat.S_ISDIR(st.st_mode):
        raise PathProblem("is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise PathProblem("not a regular file (a FIFO, socket or device)")
    return st
