"""Every caption of the HTML report renders against every preset's resolved configuration.

Snakemake renders a caption (Jinja2, then reStructuredText) only when ``--report`` is run
after a finished workflow; a renamed configuration key would otherwise break a user's
report, not a test. Here every template of ``workflow/report/`` is rendered with a strict
Jinja2 environment against the configuration of the quick default, the CI preset and the
paper preset (no outputs needed): an unknown key fails.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import jinja2
import pytest
from docutils.core import publish_parts

from galprior.config import load_config

ROOT = Path(__file__).resolve().parents[2]
CAPTIONS = sorted((ROOT / "workflow" / "report").glob("*.rst"))
PRESETS = {
    "quick": [ROOT / "config" / "config.yaml"],
    "ci": [ROOT / "config" / "config.yaml", ROOT / "config" / "presets" / "ci.yaml"],
    "paper": [ROOT / "config" / "config.yaml", ROOT / "config" / "presets" / "paper.yaml"],
}


class _Job:
    """A job's params and wildcards: any name reads as a placeholder (they vary per job)."""

    def __getattr__(self, name: str) -> str:
        return f"<{name}>"


def render(caption: Path, config: dict) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    snakemake = SimpleNamespace(config=config, params=_Job(), wildcards=_Job())
    return env.from_string(caption.read_text()).render(snakemake=snakemake, categories={},
                                                        files={})


def test_there_are_captions():
    assert len(CAPTIONS) > 20


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_caption_renders_against_the_preset(preset):
    config = load_config(*PRESETS[preset], check=False)
    failures = {}
    for caption in CAPTIONS:
        try:
            html = publish_parts(render(caption, config), writer_name="html",
                                 settings_overrides={"report_level": 5, "halt_level": 2})["body"]
            assert html.strip(), "empty caption"
        except Exception as err:  # noqa: BLE001 - collect every broken caption
            failures[caption.name] = f"{type(err).__name__}: {err}"
    assert not failures, f"captions that do not render with the {preset} preset: {failures}"


def test_a_renamed_key_breaks_the_rendering(tmp_path):
    stale = tmp_path / "stale.rst"
    stale.write_text('Noise {{ snakemake.config["lenses"]["chianese"]["psf_sigma"] }}.\n')
    with pytest.raises(jinja2.UndefinedError):
        render(stale, load_config(*PRESETS["quick"], check=False))
