"""Progress of the loops a person waits for: a bar on a terminal, log lines elsewhere.

Every long loop of the package goes through :func:`progress_bar`, a ``tqdm`` with one
difference: when standard error is not a terminal (a Snakemake job's log, a SLURM job's
output file, CI), the bar is not redrawn with carriage returns, which fill such files
with thousands of overwritten lines; instead its state is written through ``logging``
(logger ``galprior.progress``) at most every ``log_interval`` seconds (default 30), one
ordinary line each, so the rule's log shows where a job is. ``leave=False`` bars write
no closing line.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from tqdm.auto import tqdm

__all__ = ["progress_bar", "LOG_INTERVAL"]

#: Seconds between two log lines of one bar when standard error is not a terminal.
LOG_INTERVAL = 30.0

#: One log line of a bar: no drawn bar, the counts, the time spent and left, the rate.
LOG_FORMAT = "{desc}: {n_fmt}/{total_fmt} ({percentage:.0f} %) {elapsed} spent, {remaining} left, {rate_fmt}{postfix}"

LOG_FORMAT_NO_TOTAL = "{desc}: {n_fmt} {elapsed} spent, {rate_fmt}{postfix}"

_logger = logging.getLogger("galprior.progress")

#: Terminal control sequences (cursor moves) that tqdm writes between nested bars.
_CONTROL = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class _LogStream:
    """A file for tqdm that logs each redraw as one line (carriage returns dropped)."""

    def write(self, text: str) -> int:
        # carriage returns and the cursor moves of nested bars (ESC [ A) dropped
        line = _CONTROL.sub("", text.replace("\r", "")).strip()
        if line:
            _logger.info(line)
        return len(text)

    def flush(self) -> None:
        pass


class _LoggedBar(tqdm):
    """A bar whose postfix and description wait for its next logged line: tqdm redraws on
    every ``set_postfix`` (a loss per optimiser step), which would log a line per step."""

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        super().set_postfix(ordered_dict, refresh=False, **kwargs)

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        super().set_description(desc, refresh=False)


def progress_bar(iterable: Any = None, *, log_interval: float = LOG_INTERVAL, **kwargs: Any) -> tqdm:
    """``tqdm(iterable, **kwargs)`` on a terminal; elsewhere a bar that logs its state every
    ``log_interval`` seconds instead of redrawing it (see the module docstring)."""
    if kwargs.get("disable") or sys.stderr.isatty():
        return tqdm(iterable, **kwargs)
    kwargs.setdefault("mininterval", log_interval)
    kwargs.setdefault("maxinterval", max(log_interval, kwargs["mininterval"]))
    known = kwargs.get("total") is not None or hasattr(iterable, "__len__")
    kwargs.setdefault("bar_format", LOG_FORMAT if known else LOG_FORMAT_NO_TOTAL)
    return _LoggedBar(iterable, file=_LogStream(), **kwargs)
