"""The README stays a user's page (short, no lab notebook), and every relative link of the
README and of docs/ points at a file of the checkout."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
# a word of 7 to 40 hexadecimal characters holding both a digit and a letter: a commit hash
HASH = re.compile(r"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")


def test_the_readme_is_short_and_names_no_commit():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    assert not HASH.findall(text), HASH.findall(text)


def test_every_relative_link_points_at_a_file():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # a URL
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_the_commit_pattern_finds_hashes_and_spares_words():
    assert HASH.findall("the DAG of 7ddde82 and ead53f4") == ["7ddde82", "ead53f4"]
    assert not HASH.findall("decade, acceded, 2026-12-06, 1234567")
