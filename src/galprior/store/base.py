"""The base of every store: a declared layout, checked on write and on read, written atomically.

A store is a Zarr v3 group holding named arrays, optionally a ``properties`` sub-group
(a table: one 1-D array per column, one row per entry), and attributes with the
provenance. A layout (a :class:`Store` subclass) declares once:

- ``LAYOUT``: its name, written into the store and checked on read;
- ``LAYOUT_VERSION``: raised whenever the arrays change, so that a store written by an
  older layout is refused with a message instead of being misread;
- ``ENTRY_AXIS``: the dimension symbol that indexes entries (galaxies ``N``, systems
  ``S``, ...). ``len``, :meth:`Store.subset` and :meth:`Store.concatenate` work along it;
  arrays without it as their first dimension (per-level or per-run constants) are
  carried over unchanged;
- ``SPEC``: name, symbolic dims, dtype, unit and description of every array;
- ``TABLE`` (column -> (dtype, unit)) and ``REQUIRED_ATTRS``.

The documentation of every layout is generated from these declarations
(:func:`galprior.store.docs.layouts_markdown`, ``python -m galprior.store``).

Every store carries in its attributes ``layout``, ``layout_version``,
``galprior_version``, ``created`` (UTC ISO time), ``seed``, ``config_hash``, ``units``
(array name -> unit), the layout's required keys, and ``complete: True``, written last.
Readers refuse a store without it. This module imports no torch: the rules that only
read stores and write tables run without it.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import zarr

from galprior import __version__
from galprior.config import config_hash

from .atomic import atomic_write

__all__ = ["ArraySpec", "Store", "StoreError", "provenance"]

logger = logging.getLogger(__name__)

# Snakemake leaves a timestamp file in directory outputs; it is not part of the store.
warnings.filterwarnings("ignore", message=r".*\.snakemake_timestamp.*")


class StoreError(ValueError):
    """A store, or the data about to be written to it, does not match its layout."""


@dataclass(frozen=True)
class ArraySpec:
    """Expected shape (symbolic dims), dtype, unit and meaning of one array of a store."""

    name: str
    dims: tuple[str, ...]
    dtype: str
    unit: str
    description: str


def provenance(seed: int | None, config: dict[str, Any] | None) -> dict[str, Any]:
    """Provenance attributes written into every store."""
    return {
        "galprior_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
        "config_hash": config_hash(config) if config is not None else None,
    }


def _to_json(value: Any) -> Any:
    """Make attribute values JSON-serialisable (numpy scalars and arrays)."""
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


@dataclass
class Store:
    """Base class: a set of arrays checked against ``SPEC`` and an optional table."""

    LAYOUT: ClassVar[str] = ""
    LAYOUT_VERSION: ClassVar[int] = 1
    ENTRY_AXIS: ClassVar[str] = ""
    SPEC: ClassVar[tuple[ArraySpec, ...]] = ()
    TABLE: ClassVar[dict[str, tuple[str, str]]] = {}
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = ()
    # arrays allowed to hold NaN (a value that is undefined, e.g. R-hat of one chain)
    NAN_ALLOWED: ClassVar[tuple[str, ...]] = ()

    attrs: dict[str, Any] = field(default_factory=dict, kw_only=True)

    def __post_init__(self) -> None:
        self.check()

    # -- checks -----------------------------------------------------------------------
    def _check_array(self, spec: ArraySpec, sizes: dict[str, int]) -> None:
        value = getattr(self, spec.name)
        where = f"{self.LAYOUT}: array '{spec.name}'"
        if not isinstance(value, np.ndarray):
            raise StoreError(f"{where} must be a numpy array, got {type(value).__name__}")
        if value.dtype != np.dtype(spec.dtype):
            raise StoreError(f"{where} has dtype {value.dtype}, expected {spec.dtype}")
        if value.ndim != len(spec.dims):
            raise StoreError(f"{where} has shape {value.shape}, expected "
                             f"{len(spec.dims)} dimensions {spec.dims}")
        for dim, size in zip(spec.dims, value.shape):
            expected = sizes.setdefault(dim, size)
            if size != expected:
                raise StoreError(f"{where} has shape {value.shape}: dimension {dim} is "
                                 f"{size}, but {expected} in another array")
        if np.issubdtype(value.dtype, np.floating):
            bad = ~np.isfinite(value)
            if spec.name in self.NAN_ALLOWED:
                bad &= ~np.isnan(value)
            if np.any(bad):
                first = np.argwhere(bad)[0].tolist()
                raise StoreError(f"{where} holds a non-finite value (first at index {first})")

    def check(self) -> None:
        """Check dtypes, consistent shapes, finiteness, table columns and attributes."""
        sizes: dict[str, int] = {}
        for spec in self.SPEC:
            self._check_array(spec, sizes)
        if self.TABLE:
            table = self.properties
            missing = [c for c in self.TABLE if c not in table.columns]
            if missing:
                raise StoreError(f"{self.LAYOUT}: properties table lacks columns {missing}")
            n = sizes.get(self.ENTRY_AXIS)
            if n is not None and len(table) != n:
                raise StoreError(f"{self.LAYOUT}: properties table has {len(table)} rows, "
                                 f"but the arrays hold {self.ENTRY_AXIS}={n}")
        missing_attrs = [k for k in self.REQUIRED_ATTRS if k not in self.attrs]
        if missing_attrs:
            raise StoreError(f"{self.LAYOUT}: attributes lack keys {missing_attrs}")

    @classmethod
    def entry_arrays(cls) -> tuple[str, ...]:
        """Names of the arrays whose first dimension is the entry axis."""
        return tuple(s.name for s in cls.SPEC if s.dims and s.dims[0] == cls.ENTRY_AXIS)

    def __len__(self) -> int:
        return int(getattr(self, self.entry_arrays()[0]).shape[0])

    # -- I/O --------------------------------------------------------------------------
    def _write(self, tmp: Path, attrs: dict[str, Any]) -> None:
        root = zarr.open_group(str(tmp), mode="w")
        units = {}
        for spec in self.SPEC:
            value = getattr(self, spec.name)
            chunks = "auto"  # chunked along the entry axis, so that readers can stream entries
            if value.ndim and spec.dims[0] == self.ENTRY_AXIS:
                chunks = (min(256, value.shape[0]) or 1,) + value.shape[1:]
            arr = root.create_array(spec.name, data=value, chunks=chunks)
            arr.attrs.update({"unit": spec.unit, "description": spec.description,
                              "dims": list(spec.dims)})
            units[spec.name] = spec.unit
        if self.TABLE:
            table = root.create_group("properties")
            for column, (dtype, unit) in self.TABLE.items():
                col = table.create_array(column, data=self.properties[column].to_numpy(dtype=dtype))
                col.attrs["unit"] = unit
                units[f"properties/{column}"] = unit
        root.attrs.update(_to_json({**attrs, "units": units}))
        root.attrs["complete"] = True  # written last: marks a finished store

    def save(self, path: str | os.PathLike, *, seed: int | None = None,
             config: dict[str, Any] | None = None) -> Path:
        """Write atomically to ``path`` (a ``.zarr`` directory) with provenance."""
        self.check()
        attrs = {**self.attrs, **provenance(seed, config), "layout": self.LAYOUT,
                 "layout_version": self.LAYOUT_VERSION}
        path = atomic_write(path, lambda tmp: self._write(tmp, attrs))
        logger.info("wrote %s (%s, %d entries)", path, self.LAYOUT, len(self))
        return path

    @classmethod
    def _open(cls, path: Path) -> tuple[Any, dict[str, Any]]:
        if not path.exists():
            raise FileNotFoundError(f"store {path} does not exist")
        try:
            root = zarr.open_group(str(path), mode="r")
            attrs = dict(root.attrs)
        except Exception as err:  # zarr raises several types for a broken store
            raise StoreError(f"{path} is not a readable Zarr store: {err}") from err
        if not attrs.get("complete"):
            raise StoreError(f"{path} is incomplete (no 'complete' attribute): "
                             "its writer was interrupted; rerun the rule that makes it")
        if attrs.get("layout") != cls.LAYOUT:
            raise StoreError(f"{path} has layout {attrs.get('layout')!r}, expected {cls.LAYOUT!r}")
        if attrs.get("layout_version") != cls.LAYOUT_VERSION:
            raise StoreError(f"{path} was written with layout version "
                             f"{attrs.get('layout_version')} of {cls.LAYOUT!r}; this version "
                             f"reads {cls.LAYOUT_VERSION}: rerun the rule that makes it")
        keys = set(root.array_keys())
        missing = [s.name for s in cls.SPEC if s.name not in keys]
        if missing:
            raise StoreError(f"{path} lacks arrays {missing}")
        return root, attrs

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Read a store written by :meth:`save`, checking its layout and completeness."""
        path = Path(path)
        root, attrs = cls._open(path)
        kwargs: dict[str, Any] = {s.name: np.asarray(root[s.name][...]) for s in cls.SPEC}
        if cls.TABLE:
            table = root["properties"]
            kwargs["properties"] = pd.DataFrame({c: np.asarray(table[c][...]) for c in cls.TABLE})
        for key in ("complete", "layout", "layout_version", "units"):
            attrs.pop(key, None)
        try:
            return cls(**kwargs, attrs=attrs)
        except StoreError as err:
            raise StoreError(f"{path}: {err}") from err

    def _fields(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if f.name != "attrs"]

    @classmethod
    def concatenate(cls, parts: list):
        """One instance holding the entries of ``parts`` in order (other arrays and the
        attributes of the first part)."""
        if not parts:
            raise StoreError(f"{cls.LAYOUT}: nothing to concatenate")
        entries = set(cls.entry_arrays())
        kwargs: dict[str, Any] = {}
        for name in parts[0]._fields():
            values = [getattr(p, name) for p in parts]
            if isinstance(values[0], pd.DataFrame):
                kwargs[name] = pd.concat(values, ignore_index=True)
            elif name in entries:
                kwargs[name] = np.concatenate(values)
            else:
                kwargs[name] = values[0]
        return cls(**kwargs, attrs=dict(parts[0].attrs))

    def subset(self, index: np.ndarray):
        """A new instance holding the entries ``index`` along the entry axis."""
        entries = set(self.entry_arrays())
        kwargs: dict[str, Any] = {}
        for name in self._fields():
            value = getattr(self, name)
            if isinstance(value, pd.DataFrame):
                kwargs[name] = value.iloc[index].reset_index(drop=True)
            elif name in entries:
                kwargs[name] = value[index]
            else:
                kwargs[name] = value
        return type(self)(**kwargs, attrs=dict(self.attrs))
