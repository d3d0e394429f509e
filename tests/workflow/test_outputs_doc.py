"""docs/outputs.md: generated from the rules, current, and complete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from galprior.outputs import PATH_TABLES, load_workflow, outputs_markdown, rule_outputs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def workflow():
    return load_workflow()


@pytest.fixture(scope="module")
def page(workflow):
    return outputs_markdown(workflow)


def test_the_outputs_page_is_current(page):
    on_disk = (ROOT / "docs" / "outputs.md").read_text()
    assert on_disk == page, "docs/outputs.md is stale: .venv/bin/python -m galprior.outputs > docs/outputs.md"


def test_every_rule_has_a_row_with_its_outputs(workflow, page):
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| (.*?) \|", page, re.M)}
    rules = {rule.name for rule in workflow.rules} - {"all"}
    assert set(rows) == rules
    for entry in rule_outputs(workflow):
        assert entry.outputs, entry.name
        for path, _, _ in entry.outputs:
            assert f"`{path}`" in rows[entry.name], (entry.name, path)


def test_every_path_of_the_path_tables_is_on_the_page(workflow, page):
    """Each path of CHIANESE, ADAM, NGUYEN and LANUSSE (but the checkpoint folder, described
    in prose) is on the page as written, or as the paths it stands for (its {wildcards}
    filled, e.g. {split} by train and val)."""
    output_dir = workflow.globals["config"]["output_dir"] + "/"
    shown = re.findall(r"`([^`]+)`", page)
    for table in PATH_TABLES.values():
        for key, value in workflow.globals[table].items():
            if "/checkpoints/" in value:
                continue
            path = value.removeprefix(output_dir)
            regex = re.compile("".join("[^/]+" if re.fullmatch(r"\{\w+\}", part) else re.escape(part)
                                       for part in re.split(r"(\{\w+\})", path)))
            assert any(path in s or regex.search(s) for s in shown), f'{table}["{key}"]: {path}'
