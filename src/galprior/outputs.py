"""Every output path of the workflow, by paper system: the page ``docs/outputs.md``.

The paths are read from the workflow itself, not retyped: the Snakefile is loaded with
the quick default (``config/config.yaml``; the rules and their output patterns do not
depend on the preset), and each rule's outputs are listed with the rule's own comment
(the ``# ...`` lines under ``rule <name>:`` in its rules file) and, for the outputs of the
HTML report, the report's category and subcategory. Outputs that are one pattern expanded
by the configuration (one figure per system) are shown as the pattern of the system's
path table (``CHIANESE``, ``ADAM``, ``NGUYEN``, ``LANUSSE`` in ``workflow/rules/*.smk``).

``python -m galprior.outputs > docs/outputs.md`` writes the page; a test checks that it is
current. Loading the workflow needs Snakemake (the ``workflow`` extra); the rest of the
package does not import this module.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RuleOutputs", "RULE_FILES", "PATH_TABLES", "load_workflow", "rule_outputs",
           "outputs_markdown"]

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = ROOT / "Snakefile"

#: Rules file -> the system whose section lists its rules (in this order).
RULE_FILES = {"data.smk": "shared", "provenance.smk": "shared", "scorecard.smk": "shared",
              "chianese.smk": "chianese", "adam.smk": "adam", "nguyen.smk": "nguyen",
              "lanusse.smk": "lanusse"}
#: System -> the name of its path table in its rules file.
PATH_TABLES = {"chianese": "CHIANESE", "adam": "ADAM", "nguyen": "NGUYEN", "lanusse": "LANUSSE"}
TITLES = {"shared": "Shared stages: galaxy samples, provenance and the scorecard"}

_CONSTRAINT = re.compile(r"\{(\w+),[^{}]*\}")


def load_workflow(snakefile: Path = SNAKEFILE) -> Any:
    """The parsed Snakemake workflow of ``snakefile`` with its default configuration.

    Uses Snakemake's API (9.x) and its ``_workflow`` attribute, the parsed workflow whose
    ``rules`` and ``globals`` (the rules files' path tables and helpers) are read here;
    the working directory is a temporary folder, so nothing is written beside the code.
    """
    from snakemake.api import SnakemakeApi
    from snakemake.settings.enums import Quietness
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    with tempfile.TemporaryDirectory(prefix="galprior-outputs-") as workdir:
        with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
            workflow_api = api.workflow(snakefile=Path(snakefile), workdir=Path(workdir),
                                        resource_settings=ResourceSettings(),
                                        config_settings=ConfigSettings())
            return workflow_api._workflow


def _strip_constraints(pattern: str) -> str:
    """``{name,regex}`` -> ``{name}``."""
    return _CONSTRAINT.sub(r"{\1}", pattern)


def _as_regex(pattern: str) -> re.Pattern:
    """A path pattern whose ``{wildcards}`` match any text without a slash (named groups)."""
    parts = re.split(r"(\{\w+\})", pattern)
    return re.compile("".join(f"(?P<{p[1:-1]}>[^/]+)" if re.fullmatch(r"\{\w+\}", p) else re.escape(p)
                              for p in parts))


def _numbered_pattern(path: str, patterns: list[str]) -> str | None:
    """The path-table pattern of which ``path`` is a numbered expansion (a figure per
    system: every wildcard value a number), if any."""
    for pattern in patterns:
        match = _as_regex(pattern).fullmatch(path)
        if match and all(value.isdigit() for value in match.groupdict().values()):
            return pattern
    return None


def rule_comment(snakefile: str | Path, rule: str) -> str:
    """The ``#`` comment lines right under ``rule <rule>:`` in its rules file, joined."""
    lines = Path(snakefile).read_text().splitlines()
    for i, line in enumerate(lines):
        if re.fullmatch(rf"(rule|checkpoint) {rule}:\s*", line):
            comment = []
            for below in lines[i + 1:]:
                if not below.strip().startswith("#"):
                    break
                comment.append(below.strip().lstrip("#").strip())
            return " ".join(comment)
    raise ValueError(f"rule {rule!r} is not defined in {snakefile}")


@dataclass
class RuleOutputs:
    """One rule: its rules file's system, its comment and its output patterns.

    ``outputs`` holds (pattern relative to ``output_dir`` or as written when outside it,
    kind, report label) per output; kind is ``Zarr store``, ``folder`` or ``file``, with
    ``, temporary`` for outputs Snakemake deletes once every job that reads them is done.
    """

    name: str
    system: str
    comment: str
    outputs: list[tuple[str, str, str]] = field(default_factory=list)


def _report_label(report: Any) -> str:
    category = report.category
    if callable(category):
        category = "the product's paper"
    return " / ".join(str(part) for part in (category, report.subcategory) if part)


def _kind(path: str, flags: dict[str, Any]) -> str:
    kind = ("Zarr store" if path.endswith(".zarr") else "folder") if flags.get("directory") else "file"
    return kind + (", temporary" if flags.get("temp") else "")


def _path_cell(path: str, kind: str, report: str) -> str:
    notes = [note for note in ("temporary" if "temporary" in kind else "",
                               "folder" if kind == "folder" else "",
                               f"report: {report}" if report else "") if note]
    return f"`{_cell(path)}`" + (f" ({'; '.join(notes)})" if notes else "")


def rule_outputs(workflow: Any) -> list[RuleOutputs]:
    """Every rule of ``workflow`` but ``all``, in the order of :data:`RULE_FILES` and of
    the rules files, with its outputs (expanded figures folded back into the pattern of
    the system's path table)."""
    output_dir = workflow.globals["config"]["output_dir"].rstrip("/") + "/"
    patterns = [_strip_constraints(value) for table in PATH_TABLES.values()
                for value in workflow.globals[table].values()]
    rules = []
    for rule in workflow.rules:
        file = Path(rule.snakefile).name
        if file not in RULE_FILES:
            continue
        entry = RuleOutputs(rule.name, RULE_FILES[file], rule_comment(rule.snakefile, rule.name))
        for output in rule.output:
            path = _strip_constraints(str(output))
            path = _numbered_pattern(path, patterns) or path  # one figure per system: the pattern
            shown = path[len(output_dir):] if path.startswith(output_dir) else path
            report = output.flags.get("report")
            row = (shown, _kind(path, output.flags), _report_label(report) if report else "")
            if row not in entry.outputs:
                entry.outputs.append(row)
        rules.append(entry)
    order = list(dict.fromkeys(RULE_FILES.values()))
    return sorted(rules, key=lambda r: order.index(r.system))


def wildcard_values(workflow: Any) -> dict[str, str]:
    """Each wildcard of the rules' outputs and its values: those of its ``{name,regex}``
    constraints, or "a number" for the numbered figures folded into their pattern. A
    wildcard whose constraint matches nothing in this configuration (``(?!)``: no COSMOS
    download in the quick default) is left out."""
    constraints: dict[str, list[str]] = {}
    for rule in workflow.rules:
        for output in rule.output:
            for name, regex in re.findall(r"\{(\w+),([^{}]*)\}", str(output)):
                if regex not in constraints.setdefault(name, []):
                    constraints[name].append(regex)
    shown = {}
    for name, regexes in constraints.items():
        regexes = [r for r in regexes if r != "(?!)"]
        if regexes:
            shown[name] = " or ".join(", ".join(f"`{v}`" for v in r.split("|"))
                                      if re.fullmatch(r"[\w|]+", r) else f"`{r}`" for r in regexes)
    for entry in rule_outputs(workflow):
        for path, _, _ in entry.outputs:
            for name in re.findall(r"\{(\w+)\}", path):
                if name not in constraints:
                    shown[name] = "a number"
    return dict(sorted(shown.items()))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _helper_pattern(workflow: Any, helper: str, *args: str) -> str:
    output_dir = workflow.globals["config"]["output_dir"].rstrip("/") + "/"
    path: Callable[..., str] = workflow.globals[helper]
    return path(*args).removeprefix(output_dir)


def outputs_markdown(workflow: Any | None = None) -> str:
    """The page ``docs/outputs.md``: every rule's outputs, by system."""
    workflow = load_workflow() if workflow is None else workflow
    papers = workflow.globals["PAPERS"]
    log = _helper_pattern(workflow, "log_path", "<rule>", "<wildcards>")
    bench = _helper_pattern(workflow, "bench_path", "<rule>", "<wildcards>")
    lines = [
        "# Outputs", "",
        "Generated by `python -m galprior.outputs` from the rules (`workflow/rules/*.smk`); "
        "do not edit.", "",
        "Every path is under `output_dir` (`results/` by default). File names are fixed: one "
        "per figure or table of a paper, so a rerun with other settings overwrites them "
        "(give another `output_dir` to keep both). `{braces}` are wildcards, with these "
        "values (the rules' wildcard constraints):", "",
        *[f"- `{{{name}}}`: {values}" for name, values in wildcard_values(workflow).items()], "",
        "- **Zarr stores** (`.zarr`) have a declared layout: the store's `layout` attribute "
        "names its section in [stores.md](stores.md) (arrays, shapes, dtypes, units). A "
        "store is written to a temporary path and renamed when complete; readers refuse one "
        "without its `complete` attribute or of an older layout version.",
        "- **Models** are a folder with `weights.pt` and `hyperparameters.json` beside it "
        "(`galprior.models.registry.load_model` rebuilds the model from the two), and "
        "`history.csv`, the loss per epoch or step.",
        "- **Report** items go into the HTML report, built after a run from the finished "
        "outputs (`snakemake --configfile <the run's presets> --report results/report.html`, "
        "or `report.zip` for a large run), under the category / subcategory shown, with the "
        "caption in `workflow/report/`; its landing page shows the run's whole configuration.",
        "- *temporary* outputs (galaxy and blend shards) are deleted once the rule that joins "
        "them has run.",
        f"- Every job writes its log to `{log}`; most write Snakemake's benchmark (run time, "
        f"peak memory) to `{bench}`.",
        "- Training rules keep their resumable state in `checkpoints/<model>-<hash>/`: the "
        "hash covers the master seed and every setting that shapes the model "
        "(`checkpoint_dir` in `workflow/rules/common.smk`), so another seed or setting "
        "trains in a folder of its own. It outlives failed jobs; delete it to start over.",
        "",
    ]
    by_system: dict[str, list[RuleOutputs]] = {}
    for entry in rule_outputs(workflow):
        by_system.setdefault(entry.system, []).append(entry)
    for system, entries in by_system.items():
        files = ", ".join(f"`workflow/rules/{f}`" for f, s in RULE_FILES.items() if s == system)
        lines += [f"## {TITLES.get(system) or papers[system]}", "", f"Rules: {files}.", "",
                  "| rule | writes | what it does (the rule's comment) |", "|---|---|---|"]
        for entry in entries:
            written = "<br>".join(_path_cell(path, kind, report.removeprefix(f"{papers.get(system)} / "))
                                  for path, kind, report in entry.outputs)
            what = _cell(entry.comment) if entry.comment else "the report items it writes"
            lines.append(f"| `{entry.name}` | {written} | {what} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(outputs_markdown(), end="")
