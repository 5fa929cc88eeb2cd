"""Errors a user can act on. The CLI prints them as one line and exits non-zero, without a traceback."""

from __future__ import annotations

from pathlib import Path


class FacexError(Exception):
    """Base class: anything the user can fix (bad input, missing model, unwritable output)."""

    exit_code = 2


class InputError(FacexError):
    """An input file that cannot be used; the message always names the file and the problem."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class OutputError(FacexError):
    """An output that cannot be written (folder missing or read-only, unsupported extension)."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class ModelError(FacexError):
    """A model file that is missing or corrupt; the message names the command that fixes it."""
