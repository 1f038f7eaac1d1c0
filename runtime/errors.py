"""The package's one error base class, and how an error becomes one safe line.

Every error catsplit reports to a user derives from `CatsplitError` and its message already reads
`<file>: <problem>`; a command catches `CatsplitError` once instead of listing each module's type.

Library messages never name a command-line flag: a message that points at an argument of the call
names the Python parameter in backquotes (`force`) and lists it in `params`; a command line shows the
flag that sets that parameter instead (runtime/cli.py), a Python caller reads the parameter name.
"""
from __future__ import annotations

import unicodedata

# Characters that move the cursor, start a new line or reorder text when printed: a name holding one
# could forge a second error line or rewrite the terminal, so error lines show them escaped.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


class CatsplitError(Exception):
    """Bad input the user can fix; the message is one line naming the file and the problem.

    `params`: the parameters of the library call that the message names in backquotes.
    """

    def __init__(self, message: str, *, params: tuple[str, ...] = ()):
        super().__init__(message)
        self.params = params


class InputError(CatsplitError):
    """A file or value given by the user that cannot be used as it is (labels, specs, CSVs)."""


def unsafe_char(text: str) -> str | None:
    """The first character of `text` that is unsafe to print (control, line break, lone surrogate,
    bidirectional override), or None."""
    for ch in text:
        if ch in _BIDI or unicodedata.category(ch) in _UNSAFE_CATEGORIES:
            return ch
    return None


def printable(text: str) -> str:
    """`text` with every unsafe character escaped (\\n, \\x1b, \\u2028, \\udc80): always one inert line."""
    if unsafe_char(text) is None:
        return text
    return "".join(ch.encode("unicode_escape").decode("ascii") if ch in _BIDI or
                   unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch for ch in text)


def first_line(e: BaseException) -> str:
    """An exception's first line (else its type name): third-party errors (onnxruntime, protobuf,
    quantisation) run to many lines, and every catsplit error must stay one line."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
