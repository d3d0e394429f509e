"""Tests marked ``shared_data`` skip without ../shared/data in a user's clone and fail in CI."""

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT_CONFTEST = Path(__file__).resolve().parent / "conftest.py"


def _hook():
    """A private copy of tests/conftest.py (the name ``conftest`` is shared by every
    sub-folder's conftest, so ``import conftest`` may give another one)."""
    spec = importlib.util.spec_from_file_location("root_conftest_under_test", ROOT_CONFTEST)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _item(marked: bool):
    return SimpleNamespace(nodeid="tests/x.py::test_x",
                           get_closest_marker=lambda name: object() if marked and name == "shared_data" else None)


def test_missing_shared_data_skips_without_ci_and_fails_with_it(tmp_path, monkeypatch):
    conftest = _hook()
    monkeypatch.setattr(conftest, "SHARED_DATA", tmp_path / "absent")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs the real data sets"):
        conftest.pytest_runtest_setup(_item(marked=True))
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        conftest.pytest_runtest_setup(_item(marked=True))
    conftest.pytest_runtest_setup(_item(marked=False))  # unmarked tests are left alone


def test_present_shared_data_runs_the_test(tmp_path, monkeypatch):
    conftest = _hook()
    monkeypatch.setattr(conftest, "SHARED_DATA", tmp_path)
    monkeypatch.setenv("CI", "1")
    conftest.pytest_runtest_setup(_item(marked=True))  # no exception
