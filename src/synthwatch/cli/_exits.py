"""Exit codes of every ``synthwatch`` command, and the one place the error tree becomes them.

  0  success: every item handled, nothing found
  1  a finding: ``scan`` saw an item that is likely synthetic; ``label check --strict`` saw an
     invalid or unverifiable label; ``label diff`` saw a label removed, altered or duplicated
  2  usage or configuration error (bad option, unknown detector, unreadable option file)
  3  model error (a required model is missing, corrupt or cannot be loaded)
  4  at least one item could not be processed (its error is reported; a batch went on)
  5  both 1 and 4 (``scan``)

``scan``, ``label``, ``models`` and ``eval`` all map a :class:`~synthwatch.errors.SynthwatchError`
with :func:`exit_code_for`; commands report it with :func:`fail` or inside :func:`errors`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import ConfigError, ModelError, UnknownDetector

__all__ = ["EXIT_CLEAN", "EXIT_FINDING", "EXIT_SYNTHETIC", "EXIT_USAGE", "EXIT_MODEL", "EXIT_ITEM_ERRORS",
           "exit_code_for", "fail", "errors"]

EXIT_CLEAN = 0
EXIT_FINDING = 1
EXIT_SYNTHETIC = EXIT_FINDING
EXIT_USAGE = 2
EXIT_MODEL = 3
EXIT_ITEM_ERRORS = 4

_stderr = Console(stderr=True)


def exit_code_for(exc: BaseException) -> int:
    """2 for usage / configuration errors, 3 for model errors, 4 for anything else (an item failed)."""
    if isinstance(exc, ConfigError | UnknownDetector):
        return EXIT_USAGE
    if isinstance(exc, ModelError):
        return EXIT_MODEL
    return EXIT_ITEM_ERRORS


def fail(exc: BaseException) -> NoReturn:
    """Print ``exc`` on stderr (with its error code when it has one) and exit with its code."""
    code = getattr(exc, "code", None)
    tag = f" ({code})" if isinstance(code, str) and code else ""
    _stderr.print(f"[bold red]error:[/] {escape(str(exc))}{escape(tag)}", markup=True, highlight=False,
                  soft_wrap=True)
    raise typer.Exit(exit_code_for(exc))


@contextmanager
def errors() -> Iterator[None]:
    """Turn a :class:`~synthwatch.errors.SynthwatchError` raised inside into :func:`fail`."""
    from ..errors import SynthwatchError

    try:
        yield
    except SynthwatchError as exc:
        fail(exc)
