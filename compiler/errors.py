"""The compiler's one error type: bad input the user can fix, reported as one line naming the file."""


class CompileError(Exception):
    """An edit that cannot be compiled; the message reads `<file>: <problem>`."""
