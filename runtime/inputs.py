"""Reading the small text files a user hands catsplit (specs, label lists, group schemes, CSVs).

One reader, so that every such file gets the same checks and the same one-line errors naming it: a
regular file (a FIFO would block, a device never ends), at most a stated size (a spec is bytes, not
gigabytes), UTF-8, and for JSON a nesting depth Python can parse (a deeply nested array raises
RecursionError inside `json`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from catsplit.runtime.errors import InputError
from catsplit.runtime.paths import PathProblem, os_problem, regular_file

KIB, MIB = 1 << 10, 1 << 20


def read_text(path: str | os.PathLike, what: str, max_bytes: int) -> str:
    """The UTF-8 text of the `what` file at `path` (InputError naming it otherwise)."""
    path = Path(path)
    try:
        st = regular_file(path)
    except PathProblem as e:
        raise InputError(f"{path}: cannot read the {what}: {e}") from None
    if st.st_size > max_bytes:
        raise InputError(f"{path}: is {st.st_size:,} bytes; a {what} may have at most {max_bytes:,}")
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise InputError(f"{path}: cannot read the {what} ({os_problem(e)})") from None
    if len(data) > max_bytes:
        raise InputError(f"{path}: a {what} may have at most {max_bytes:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: the {what} is not UTF-8 text (byte {e.start})") from None


def read_json(path: str | os.PathLike, what: str, max_bytes: int) -> Any:
    """The decoded JSON of the `what` file at `path` (InputError naming it otherwise)."""
    text = read_text(path, what, max_bytes)
    if not text.strip():
        raise InputError(f"{path}: is empty")
    return parse_json(text, f"{path}")


def parse_json(text: str, source: str) -> Any:
    """`json.loads` with its failures (syntax, absurd nesting) as one line naming `source`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{source}: not valid JSON ({e})") from None
    except RecursionError:
        raise InputError(f"{source}: JSON nested too deeply") from None
