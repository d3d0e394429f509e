"""The conda environments in envs/ agree with the package's dependencies."""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_requirements() -> dict[str, Requirement]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {Requirement(r).name.lower(): Requirement(r) for r in meta["dependencies"]}


def _env_requirements(path: Path) -> list[Requirement]:
    deps = yaml.safe_load(path.read_text())["dependencies"]
    reqs = []
    for dep in deps:
        entries = dep["pip"] if isinstance(dep, dict) else [dep]
        for entry in entries:
            name = re.split(r"[<>=!~ ]", entry, maxsplit=1)[0]
            if name in ("python", "pip"):
                continue
            reqs.append(Requirement(entry))
    return reqs


def test_every_env_package_is_a_declared_dependency_with_a_compatible_version():
    declared = _pyproject_requirements()
    for env in sorted((ROOT / "envs").glob("*.yaml")):
        for req in _env_requirements(env):
            assert req.name.lower() in declared, f"{env.name}: {req.name} not in pyproject"
            spec = declared[req.name.lower()].specifier
            pins = [s.version for s in req.specifier if s.operator == "=="]
            if pins:
                assert spec.contains(pins[0]), f"{env.name}: {req} outside {spec}"
            else:
                assert req.specifier == spec, f"{env.name}: {req} differs from {spec}"


def test_envs_together_cover_every_dependency():
    covered = {r.name.lower() for env in (ROOT / "envs").glob("*.yaml")
               for r in _env_requirements(env)}
    missing = set(_pyproject_requirements()) - covered
    assert not missing, f"dependencies in no conda environment: {sorted(missing)}"


def test_every_rule_names_an_existing_env():
    for rules in (ROOT / "workflow" / "rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', rules.read_text()):
            assert (rules.parent / env).resolve().exists(), f"{rules.name}: {env}"
