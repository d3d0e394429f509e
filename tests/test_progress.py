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


def test_nested_bars_log_no_cursor_moves(caplog):
    """An inner bar (an epoch's batches inside the epochs) makes tqdm write cursor moves
    (ESC [ A) between the lines; none reaches the log."""
    caplog.set_level(logging.INFO, logger="galprior.progress")
    for _ in progress(range(3), desc="epochs", log_interval=0.0):
        for _ in progress(range(3), desc="batches", leave=False, log_interval=0.0):
            pass
    lines = [r.getMessage() for r in caplog.records if r.name == "galprior.progress"]
    assert any(line.startswith("batches") for line in lines)
    assert lines and all("\x1b" not in line and line.strip() for line in lines)



def test_a_postfix_per_step_does_not_log_a_line_per_step(caplog):
    """A loop that sets the loss on its bar every step (the MAP's Adam steps) logs at the
    bar's interval, not once per step; the last line carries the last postfix."""
    caplog.set_level(logging.INFO, logger="galprior.progress")
    bar = progress(total=200, desc="MAP", log_interval=60.0)
    for step in range(200):
        bar.update(1)
        bar.set_postfix(loss=step)
    bar.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "galprior.progress"]
    assert len(lines) <= 3, lines[:5]
    assert lines[-1].startswith("MAP: 200/200") and "loss=199" in lines[-1]
