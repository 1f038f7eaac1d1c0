"""The compiler's one error type: bad input the user can fix, reported as one line naming the file."""

from catsplit.runtime.errors import CatsplitError


class CompileError(CatsplitError):
    """An edit that cannot be compiled; the message reads `<file>: <problem>`."""
