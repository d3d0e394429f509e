"""Progress bars: redrawn on a terminal, logged as plain lines in a job's log (no carriage
returns that would fill a SLURM output file)."""

import logging
import time

from galprior.progress import progress_bar as progress


def test_off_a_terminal_a_bar_logs_lines_without_carriage_returns(capsys, caplog):
    caplog.set_level(logging.INFO, logger="galprior.progress")
    for _ in progress(range(20), desc="drawing", log_interval=0.01):
        time.sleep(0.002)
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "\r" not in captured.out  # nothing redrawn on stderr
    lines = [r.getMessage() for r in caplog.records if r.name == "galprior.progress"]
    assert len(lines) >= 3 and all("\r" not in line for line in lines)
    assert lines[-1].startswith("drawing: 20/20 (100 %)")


def test_an_unknown_total_is_not_reported_as_a_percentage(caplog):
    caplog.set_level(logging.INFO, logger="galprior.progress")
    bar = progress(desc="drawn", log_interval=0.0)
    for _ in range(3):
        bar.update(1)
    bar.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "galprior.progress"]
    assert lines and all("%" not in line for line in lines) and lines[-1].startswith("drawn: 3 ")


def test_a_disabled_bar_logs_nothing(caplog):
    caplog.set_level(logging.INFO, logger="galprior.progress")
    for _ in progress(range(5), desc="hidden", disable=True):
        pass
    assert not [r for r in caplog.records if r.name == "galprior.progress"]
