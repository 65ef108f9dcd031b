"""Errors shared by the command-line modules."""


class UserError(Exception):
    """A mistake in the command line: reported in one line, exit status 2, no traceback."""
