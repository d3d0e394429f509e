"""benchmarks/bench_blends.py pairs its timings (no timing here: fake timers record the order)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_blends.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_blends", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pairs_alternate_after_a_warm_up_and_give_one_ratio_each():
    calls = []
    rates = {"a": 10.0, "b": 5.0}

    def timer(name):
        def run(k):
            calls.append((name, k))
            return rates[name] * (1 + k)
        return run

    rates_a, rates_b, ratios = _bench().paired_ratios(timer("a"), timer("b"), pairs=5)
    assert calls[:2] == [("a", 0), ("b", 0)]  # the warm-up, not kept
    order = [name for name, _ in calls[2:]]
    assert order == ["a", "b", "b", "a", "a", "b", "b", "a", "a", "b"]  # alternating
    assert len(rates_a) == len(rates_b) == len(ratios) == 5 and ratios == pytest.approx([2.0] * 5)
    with pytest.raises(ValueError, match="at least 5"):
        _bench().paired_ratios(timer("a"), timer("b"), pairs=4)
