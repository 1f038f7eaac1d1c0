"""The package's one error base class, and how an error becomes one line.

Every error catsplit reports to a user derives from `CatsplitError` and its message already reads
`<file>: <problem>`; a command catches `CatsplitError` once instead of listing each module's type.
"""
from __future__ import annotations


class CatsplitError(Exception):
    """Bad input the user can fix; the message is one line naming the file and the problem."""


def first_line(e: BaseException) -> str:
    """An exception's first line (else its type name): third-party errors (onnxruntime, protobuf,
    quantisation) run to many lines, and every catsplit error must stay one line."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
