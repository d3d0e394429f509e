"""Logging set-up shared by the workflow scripts: one log file per rule, plus stderr."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from galprior.store import faults

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_file: str | Path | None = None, level: int = logging.INFO) -> None:
    """Send log records of every module to ``log_file`` (created) and to stderr.

    Uncaught exceptions are logged too, so the rule's log file says why a job failed.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(level=level, format=FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)

    def _log_uncaught(exc_type, exc, tb):
        logging.getLogger("galprior").error("failed: %s", exc, exc_info=(exc_type, exc, tb))

    sys.excepthook = _log_uncaught
    faults.arm(log_file)  # no-op unless the reliability tests planned to kill this job
