"""docs/paper_settings.md: generated from the declarations and the paper preset, current, and
with every difference from a paper explained."""

from pathlib import Path

import pytest

from galprior.paper_settings import PaperSetting, all_settings, config_value, is_same, paper_config, \
    settings_markdown

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def config():
    return paper_config()


def test_every_declared_key_exists_in_the_paper_preset(config):
    for system, settings in all_settings().items():
        for setting in settings:
            assert isinstance(setting, PaperSetting)
            assert setting.source, f"{system}: {setting.key} names no section of the paper"
            config_value(config, setting.key)  # KeyError naming the key


def test_no_difference_from_a_paper_is_left_unexplained(config):
    unexplained = [s.key for settings in all_settings().values() for s in settings
                   if not s.why and not is_same(config_value(config, s.key), s.paper)]
    assert not unexplained, f"the paper preset differs from the paper without a reason: {unexplained}"


def test_is_same_compares_numbers_lists_and_strings():
    assert is_same(1e-6, 0.000001) and is_same([1, 2.0], (1.0, 2)) and is_same("a", "a")
    assert not is_same(1e-6, 1e-5) and not is_same([1, 2], [1, 2, 3]) and not is_same(True, 1.0001)
    assert not is_same({"a": 1}, {"a": 2})


def test_the_documentation_is_current(config):
    text = settings_markdown(config)
    assert "**UNEXPLAINED**" not in text
    on_disk = (ROOT / "docs" / "paper_settings.md").read_text()
    assert on_disk == text, ("docs/paper_settings.md is stale: "
                             ".venv/bin/python -m galprior.paper_settings > docs/paper_settings.md")
