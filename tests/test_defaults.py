"""One home per default: the schema. Code may take a configuration value without a
default, or with exactly the schema's default; never with another number."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil

import pytest

import galprior
from galprior.config import schema_defaults


def _blocks(tree, path=()):
    """(dotted path, dict) of every block of the default configuration with >= 3 keys."""
    for key, value in tree.items():
        if isinstance(value, dict):
            if len(value) >= 3:
                yield ".".join(path + (key,)), value
            yield from _blocks(value, path + (key,))


def _modules():
    for info in pkgutil.walk_packages(galprior.__path__, "galprior."):
        if info.name.endswith("__main__"):
            continue
        yield importlib.import_module(info.name)


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == pytest.approx(float(b), rel=1e-9)
    return a == b


def _callables():
    """(where, parameter names, {name: default}) of every function, method and dataclass."""
    seen = set()
    for module in _modules():
        for name, obj in vars(module).items():
            if getattr(obj, "__module__", None) != module.__name__ or id(obj) in seen:
                continue
            seen.add(id(obj))
            where = f"{module.__name__}.{name}"
            if dataclasses.is_dataclass(obj):
                fields = dataclasses.fields(obj)
                yield where, {f.name for f in fields}, {
                    f.name: f.default for f in fields if f.default is not dataclasses.MISSING}
            functions = []
            if inspect.isfunction(obj):
                functions.append((where, obj))
            elif inspect.isclass(obj):
                functions += [(f"{where}.{m}", f) for m, f in vars(obj).items() if inspect.isfunction(f)]
            for fwhere, fn in functions:
                params = inspect.signature(fn).parameters.values()
                yield fwhere, {p.name for p in params}, {
                    p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def test_code_fed_by_a_configuration_block_has_no_other_default():
    """A function or dataclass taking every key of a configuration block (the way the
    rules call them: ``f(**config_block)``) has no defaults, or exactly the schema's."""
    blocks = list(_blocks(schema_defaults()))
    clashes, fed = [], 0
    for where, names, defaults in _callables():
        for path, block in blocks:
            if not set(block) <= names:
                continue
            fed += 1
            for key, default in defaults.items():
                if key in block and not _same(default, block[key]):
                    clashes.append(f"{where}: {key}={default!r}, schema {path}.{key}={block[key]!r}")
    assert fed >= 5, "the check found too few configuration-fed callables to mean anything"
    assert not clashes, "second defaults that differ from the schema:\n" + "\n".join(clashes)


def test_load_config_overlays_files_on_the_schema(tmp_path):
    """Scripts outside Snakemake see what ``--configfile`` gives: the quick default's
    values where config.yaml sets them, the schema's elsewhere; bad files are named."""
    from pathlib import Path

    import yaml

    from galprior.config import load_config

    root = Path(__file__).resolve().parents[1]
    quick = yaml.safe_load((root / "config" / "config.yaml").read_text())
    config = load_config(root / "config" / "config.yaml")
    schema = schema_defaults()
    assert config["chianese"]["map"] == {**schema["chianese"]["map"], **quick["chianese"]["map"]}
    assert config["chianese"]["map"]["n_steps_all"] != schema["chianese"]["map"]["n_steps_all"]
    override = tmp_path / "over.yaml"
    override.write_text("chianese: {map: {n_restarts: 7}}\n")
    layered = load_config(root / "config" / "config.yaml", override)
    assert layered["chianese"]["map"]["n_restarts"] == 7
    assert layered["chianese"]["map"]["lr"] == config["chianese"]["map"]["lr"]
    with pytest.raises(FileNotFoundError, match="nowhere.yaml"):
        load_config(tmp_path / "nowhere.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="list.yaml.*mapping"):
        load_config(tmp_path / "list.yaml")
    (tmp_path / "typo.yaml").write_text("chianese: {map: {n_restart: 7}}\n")
    with pytest.raises(ValueError, match=r"typo.yaml.*chianese.map.*n_restart"):
        load_config(tmp_path / "typo.yaml")
