"""The tool's exceptions.

Every error the tool raises on purpose derives from :class:`GsfInferError`. Errors about the
user's input (:class:`InputError`) carry one :class:`Problem` per offending cell so that the CLI
can print them all at once, one line each, and exit with code 2. Imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class GsfInferError(Exception):
    """Base class of every error raised on purpose by gsf-infer."""

    exit_code: int = 1


@dataclass(frozen=True)
class Problem:
    """One problem with one place of an input file.

    Parameters
    ----------
    path : str
        File the problem is in.
    message : str
        What is wrong, in words.
    line : int or None
        Line number in the file (header = line 1); ``None`` for whole-file problems.
    column : str or None
        Column name as written in the file, if the problem is about one column.
    value : object
        The offending value, if any.
    """

    path: str
    message: str
    line: int | None = None
    column: str | None = None
    value: object = None

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
        parts = [where]
        if self.column is not None:
            parts.append(f"column '{self.column}'")
        if self.value is not None:
            parts.append(f"value {self.value!r}")
        return ": ".join([", ".join(parts), self.message])


class InputError(GsfInferError):
    """Bad input or usage: one or more problems, reported together (exit code 2)."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | Problem | str, path: str | Path | None = None):
        if isinstance(problems, str):
            source = str(path) if path is not None else "gsf-infer"
            problems = [Problem(path=source, message=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class OutputExistsError(InputError):
    """The output folder exists and is not empty, and ``--force`` was not given."""


class NotConvergedError(GsfInferError):
    """The sampler did not converge and ``--strict`` was given (exit code 3)."""

    exit_code = 3
