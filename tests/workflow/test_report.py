"""`snakemake --report` on a finished CI run: one self-contained HTML file that embeds
every figure and table the run made, each with a caption and its paper as category,
and records the configuration of the run."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.workflow  # reads the session's CI-preset run

CI_PRESET = Path(__file__).resolve().parents[2] / "config" / "presets" / "ci.yaml"

# Where the workflow puts what a reader of the papers looks at (docs/outputs.md).
REPORTED_FOLDERS = ("figures", "tables")


def reported_files(workdir: Path) -> set[str]:
    """Figures and tables of a run, relative to its working directory."""
    return {str(p.relative_to(workdir))
            for folder in REPORTED_FOLDERS
            for p in (workdir / "results" / folder).rglob("*") if p.is_file()}


def embedded(html: str, variable: str) -> dict:
    """A JSON object the report's page assigns to `var <variable> = {...};`."""
    match = re.search(rf"var {variable} = (\{{.*?\}});\s*</script>", html, re.DOTALL)
    assert match, f"no `var {variable}` in the report"
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def report(ci_run, snakemake_command, tmp_path_factory) -> str:
    """The HTML report of the shared CI run, built outside its working directory."""
    path = tmp_path_factory.mktemp("report") / "report.html"
    result = subprocess.run(
        [*snakemake_command, "--directory", str(ci_run), "--configfile", str(CI_PRESET),
         "--report", str(path)],
        cwd=ci_run, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:]
    assert path.is_file() and path.stat().st_size > 0
    return path.read_text()


def test_report_embeds_every_figure_and_table(report, ci_run):
    made = reported_files(ci_run)
    assert made, "the CI run made no figure: nothing to report"
    results = embedded(report, "results")
    assert made <= set(results), f"not in the report: {sorted(made - set(results))}"
    for name in made:
        data_uri = results[name]["data_uri"]
        assert data_uri.startswith("data:"), name  # embedded, not linked
        content = base64.b64decode(data_uri.split("base64,", 1)[1])
        assert content == (ci_run / name).read_bytes(), f"{name}: embedded bytes differ"


def test_every_result_has_a_caption_and_a_paper(report):
    results = embedded(report, "results")
    categories = embedded(report, "categories")
    placed = {name for subcategories in categories.values()
              for names in subcategories.values() for name in names}
    for name, result in results.items():
        caption = re.sub(r"<[^>]+>", "", result.get("caption") or "").strip()
        assert len(caption) > 40, f"{name}: no caption"
        assert "{{" not in caption, f"{name}: caption template not rendered"
        assert name in placed, f"{name}: in no category"
    assert "Other" not in categories, "a result without category (grouped as 'Other')"
    assert all(re.search(r"et al\. \d{4}|[A-Z]", paper) for paper in categories)


def test_report_records_the_configuration(report):
    description = report[report.find("Configuration"):]
    for key in ("output_dir", "galaxies", "split_sizes", "resources"):
        assert f"&quot;{key}&quot;" in description, f"config key {key} not in the report"
    # the CI preset's values, not only the defaults of config/config.yaml
    assert re.search(r"&quot;n_galaxies&quot;.{0,200}?>4<", description, re.DOTALL)
