"""Writing an output atomically: the one refuse-or-replace rule and the one staging writer.

Every catsplit command that writes (compile, edits undo, eval -o, import, export, quantize, text-encoder
export, groups propose -o) goes through `staged_output`:

1. The rule (`check_output`, also run early by commands, before heavy work): `out` must not exist,
   or, when replacing is asked for, must be something of the kind being written (a catsplit bundle,
   a text encoder, a group scheme file) as that kind's `recognise` says. Anything else is refused:
   a folder holding other files, a symbolic link, a file where a folder goes.
2. The new output is assembled in a private workspace beside `out`'s nearest existing ancestor,
   `.<name>.catsplit-tmp.<random>/`, which holds `lock` (flock'ed while the run lives), `new` (what
   becomes `out`) and `scratch/`.
3. Publishing is one rename: `new` -> `out` with RENAME_NOREPLACE when `out` does not exist (its
   missing parent folders are made just before), or an exchange of `new` and `out` with
   RENAME_EXCHANGE (Linux renameat2) when replacing. At every instant `out` is the old output or the
   new one, never missing or partial; the old one ends up in the workspace and goes with it.
4. A failure deletes the workspace and any parent folder the run made. A run killed with SIGKILL
   leaves its workspace behind; the next write to the same output deletes each workspace of that
   name whose lock is free (the kernel releases a dead process's flock), so a concurrent live run's
   workspace, whose lock is held, is never touched. A workspace is never without its lock except empty,
   in the instants after it is made and before it is removed; an empty lockless one is deleted at once
   (its creator, if alive, makes another), a non-empty lockless one (a removal that failed part-way)
   once it is a minute old.

Linux only for replacing (RENAME_EXCHANGE); elsewhere, or on a file system without it, replacing
is refused with a one-line error rather than done in two non-atomic steps.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from catsplit.runtime.errors import CatsplitError

WORKSPACE_TAG = ".catsplit-tmp."
LOCK = "lock"
LOCKLESS_GRACE_S = 60.0
_AT_FDCWD = -100
_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2


class OutputError(CatsplitError):
    """An output path that cannot be written or replaced; the message names it."""


@dataclass(frozen=True)
class Kind:
    """What a command writes. `recognise(path)` is None when an existing `path` is one of this kind's
    outputs (so replacing it loses nothing the user made by hand), else the reason it is not."""

    name: str
    is_dir: bool
    recognise: Callable[[Path], str | None]


@dataclass(frozen=True)
class Staging:
    """Where a run assembles its output: `path` becomes `out` on success; `scratch` never does."""

    path: Path
    scratch: Path
    out: Path


def _renameat2(src: Path, dst: Path, flags: int) -> None:
    fn = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if fn is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(dst))


def _absolute(out: str | os.PathLike) -> Path:
    try:
        path = Path(os.path.abspath(os.fspath(out)))
    except ValueError as e:  # an embedded null byte
        raise OutputError(f"{os.fspath(out)!r}: not a usable output path ({e})") from None
    if not path.name:
        raise OutputError(f"{os.fspath(out)}: not a usable output path (a file system root)")
    return path


def _anchor(path: Path) -> tuple[Path, list[str]]:
    """The nearest existing ancestor of `path` and the folder names missing below it."""
    missing: list[str] = []
    parent = path.parent
    while not os.path.lexists(parent):
        missing.insert(0, parent.name)
        parent = parent.parent
    return parent, missing


def _unwritable(folder: Path) -> str | None:
    if not folder.is_dir():
        return "is not a directory"
    if os.access(folder, os.W_OK | os.X_OK):
        return None
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "is on a read-only file system"
    except OSError:
        pass
    return "is not writable (permission denied)"


def check_output(out: str | os.PathLike, kind: Kind, force: bool = False) -> Path:
    """Apply the refuse-or-replace rule to `out` (see the module docstring); its absolute path."""
    path = _absolute(out)
    shown = os.fspath(out)
    if os.path.lexists(path):
        if not force:
            raise OutputError(f"{shown}: already exists (pass `force` to replace it)", params=("force",))
        if path.is_symlink():
            raise OutputError(f"{shown}: is a symbolic link; catsplit replaces only a {kind.name} itself "
                              "(write to a new path and point the link there)")
        if path.is_dir() != kind.is_dir:
            raise OutputError(f"{shown}: is a {'folder' if path.is_dir() else 'file'}, not a {kind.name}; "
                              "refusing to replace it")
        problem = kind.recognise(path)
        if problem is not None:
            raise OutputError(f"{shown}: not a {kind.name} ({problem}); refusing to replace it")
        anchor = path.parent
    else:
        anchor, _ = _anchor(path)
    problem = _unwritable(anchor)
    if problem is not None:
        raise OutputError(f"{shown}: cannot be written: {anchor} {problem}")
    return path


def _workspaces(anchor: Path, first: str) -> list[Path]:
    prefix = f".{first}{WORKSPACE_TAG}"
    try:
        return [p for p in anchor.iterdir() if p.name.startswith(prefix) and p.is_dir() and not p.is_symlink()]
    except OSError:
        return []


def _remove_workspace(work: Path) -> None:
    """Delete a workspace, its lock last, so that a kill part-way leaves a workspace the lock rule still
    recognises as dead."""
    for child in work.iterdir():
        if child.name == LOCK:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
    (work / LOCK).unlink(missing_ok=True)
    work.rmdir()


def _remove_lockless(work: Path) -> bool:
    """A workspace without its lock: empty, it is a run's first or last instant (a creator that loses it
    makes another, see `_workspace`), so it goes now; otherwise once it is a minute old."""
    try:
        os.rmdir(work)
        return True
    except OSError:
        pass
    try:
        if time.time() - work.stat().st_mtime > LOCKLESS_GRACE_S:
            shutil.rmtree(work, ignore_errors=True)
            return True
    except OSError:
        pass
    return False


def _workspace(anchor: Path, prefix: str) -> tuple[Path, int]:
    """A new workspace and the descriptor of its lock, held. A concurrent `clean_stale` may remove the
    folder before its lock exists, or take the lock first; then this makes another."""
    for _ in range(100):
        work = Path(tempfile.mkdtemp(prefix=prefix, dir=anchor))
        fd = -1
        try:
            fd = os.open(work / LOCK, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_ino == os.stat(work / LOCK).st_ino:  # still the lock in that folder
                return work, fd
        except (FileNotFoundError, FileExistsError, BlockingIOError):
            pass
        if fd >= 0:
            os.close(fd)
    raise OSError(errno.EAGAIN, "no workspace could be made and locked", str(anchor))


def clean_stale(anchor: Path, first: str) -> list[Path]:
    """Delete the workspaces named for `first` in `anchor` that no live run holds; the ones deleted."""
    removed = []
    for work in _workspaces(anchor, first):
        try:
            fd = os.open(work / LOCK, os.O_RDWR)
        except FileNotFoundError:
            if _remove_lockless(work):
                removed.append(work)
            continue
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # a live run's workspace
        try:
            _remove_workspace(work)
            removed.append(work)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _publish(new: Path, path: Path, shown: str, kind: Kind, force: bool) -> None:
    """Move `new` to `path` in one step (see the module docstring); refuses what the rule refuses."""
    check_output(path, kind, force)
    if os.path.lexists(path):
        try:
            _renameat2(new, path, _RENAME_EXCHANGE)
        except OSError as e:
            raise OutputError(f"{shown}: cannot be replaced in one atomic step here ({e.strerror}); "
                              "write to a new path instead") from None
        return
    _, missing = _anchor(path)
    made: list[Path] = []
    try:
        for i in range(len(missing)):
            folder = path.parents[len(missing) - 1 - i]
            try:
                folder.mkdir()
                made.append(folder)
            except FileExistsError:
                pass
        try:
            _renameat2(new, path, _RENAME_NOREPLACE)
        except OSError as e:
            if e.errno == errno.EEXIST:
                raise OutputError(f"{shown}: already exists (made by something else while this ran)") from None
            if e.errno not in (errno.ENOSYS, errno.EINVAL):
                raise
            if os.path.lexists(path):  # no RENAME_NOREPLACE here: check, then rename
                raise OutputError(f"{shown}: already exists (made by something else while this ran)") from None
            os.rename(new, path)
    except BaseException:
        for folder in reversed(made):
            try:
                folder.rmdir()
            except OSError:
                break
        raise


@contextmanager
def staged_output(out: str | os.PathLike, kind: Kind, force: bool = False) -> Iterator[Staging]:
    """Assemble an output in a private workspace and publish it atomically when the block succeeds.

    Fill `Staging.path` (a folder already made for a folder kind; for a file kind, write the file),
    use `Staging.scratch` for anything else. On any exception nothing is published and nothing is
    left behind.
    """
    path = check_output(out, kind, force)
    shown = os.fspath(out)
    anchor, missing = _anchor(path)
    first = missing[0] if missing else path.name
    clean_stale(anchor, first)
    try:
        work, fd = _workspace(anchor, f".{first}{WORKSPACE_TAG}")
    except OSError as e:
        raise OutputError(f"{shown}: cannot be written in {anchor} ({e.strerror})") from None
    try:
        stage = Staging(work / "new", work / "scratch", Path(out))
        stage.scratch.mkdir()
        if kind.is_dir:
            stage.path.mkdir()
        yield stage
        if not os.path.lexists(stage.path):
            raise OutputError(f"{shown}: nothing was written")
        _publish(stage.path, path, shown, kind, force)
    except OSError as e:  # writing the output failed (disk full, read-only, ...); other files' errors pass
        if e.filename is not None and not _within(Path(os.fsdecode(e.filename)), (work, path)):
            raise
        raise OutputError(f"{shown}: cannot be written ({e.strerror or e})") from None
    finally:
        try:
            _remove_workspace(work)
        except OSError:
            shutil.rmtree(work, ignore_errors=True)
        os.close(fd)


def _within(file: Path, roots: tuple[Path, ...]) -> bool:
    file = Path(os.path.abspath(file))
    return any(file == r or r in file.parents for r in roots)
