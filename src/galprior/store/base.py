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

Two ways in and out, so that memory is bounded by a chunk, not by the data set:

- :meth:`Store.load` / :meth:`Store.save`: the whole store as one checked dataclass
  (small stores: test splits, mocks, results);
- :meth:`Store.open` -> :class:`StoreReader`: the same checks on the metadata alone,
  then one array, a range of entries or an index set read on demand (the training sets);
  :meth:`Store.writer` -> :class:`StoreWriter`: a store written part by part (merges
  copy shard by shard) and renamed into place once complete.

Entry arrays are chunked along the entry axis, ``ENTRY_CHUNK`` entries per chunk: the
unit a reader streams.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
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

from .atomic import atomic_target, atomic_write

__all__ = ["ArraySpec", "ENTRY_CHUNK", "Store", "StoreError", "StoreReader", "StoreWriter", "config_hash", "provenance"]

# Entries per chunk along the entry axis: what one read of a streaming reader costs
# (256 blends of 6 x 45 x 45 float32: 12 MB per array).
ENTRY_CHUNK = 256

# Attributes the store machinery writes and the readers strip (not the data's own).
_MACHINE_ATTRS = ("complete", "layout", "layout_version", "units")

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


def config_hash(*configs: Any) -> str:
    """Short stable hash of configuration values (sorted JSON, SHA-256, 16 hex digits).

    The ``config_hash`` attribute of every store; the workflow also names checkpoint
    folders and the run's provenance by it."""
    text = json.dumps(configs[0] if len(configs) == 1 else list(configs), sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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
            _create_array(root, spec, value.shape, value.dtype, self.ENTRY_AXIS, data=value)
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
        """Read a whole store written by :meth:`save`, checking its layout and completeness."""
        return cls.open(path).load()

    @classmethod
    def open(cls, path: str | os.PathLike) -> StoreReader:
        """Open a store without reading its arrays (:class:`StoreReader`): layout, version,
        completeness, dtypes and shapes are checked from the metadata."""
        path = Path(path)
        root, attrs = cls._open(path)
        return StoreReader(cls, path, root, attrs)

    @classmethod
    def writer(cls, path: str | os.PathLike, length: int, *, template: StoreReader,
               attrs: dict[str, Any], seed: int | None = None,
               config: dict[str, Any] | None = None) -> StoreWriter:
        """A :class:`StoreWriter` of ``length`` entries shaped like ``template``."""
        return StoreWriter(cls, path, length, template=template, attrs=attrs, seed=seed, config=config)

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


# -- reading and writing part by part ----------------------------------------------------

def _create_array(root, spec: ArraySpec, shape: tuple[int, ...], dtype, entry_axis: str,
                  data: np.ndarray | None = None):
    """Create one declared array (with its unit, description and dims), chunked along the
    entry axis (``ENTRY_CHUNK`` entries) when it has one, so that readers can stream entries."""
    chunks: Any = "auto"
    if len(shape) and spec.dims[0] == entry_axis:
        chunks = (min(ENTRY_CHUNK, shape[0]) or 1,) + tuple(shape[1:])
    if data is not None:
        arr = root.create_array(spec.name, data=data, chunks=chunks)
    else:
        arr = root.create_array(spec.name, shape=shape, dtype=dtype, chunks=chunks)
    arr.attrs.update({"unit": spec.unit, "description": spec.description, "dims": list(spec.dims)})
    return arr


def _first_non_finite(values: np.ndarray, nan_allowed: bool) -> list[int] | None:
    """Index of the first non-finite value (NaN allowed when ``nan_allowed``), or None."""
    if not np.issubdtype(values.dtype, np.floating):
        return None
    bad = ~np.isfinite(values)
    if nan_allowed:
        bad &= ~np.isnan(values)
    if not bad.any():
        return None
    return np.argwhere(bad)[0].tolist()


class StoreReader:
    """A store opened without reading its arrays (:meth:`Store.open`).

    Checked on opening, from the metadata alone: completeness, layout and its version
    (as :meth:`Store.load`), every declared array present with its dtype and number of
    dimensions, the same size of a dimension in every array, and the property table's
    columns and rows. Values are read only when asked for -- one array, a range of
    entries or an index set (:meth:`read`), a few arrays (:meth:`read_arrays`), the
    entries of a range as a checked dataclass (:meth:`entries`), or everything
    (:meth:`load`) -- and float values are checked for non-finite entries as they are read.
    The layout's own value checks (e.g. non-negative noise variances) run where a
    dataclass is built (:meth:`entries`, :meth:`load`).

    For code written against the dataclass (figures, mock lenses from a test split), an
    array's name as an attribute (``reader.images``) reads that whole array once and
    keeps it: such a rule reads only the arrays it uses. Training loops stream instead.

    Attributes:
        layout: the :class:`Store` subclass.
        path: the store's folder.
        attrs: its attributes (provenance and the layout's keys), without the machinery's.
    """

    def __init__(self, layout: type[Store], path: Path, root: Any, attrs: dict[str, Any]):
        self.layout = layout
        self.path = path
        self._root = root
        self.attrs = {k: v for k, v in attrs.items() if k not in _MACHINE_ATTRS}
        self._specs = {spec.name: spec for spec in layout.SPEC}
        self._properties: pd.DataFrame | None = None
        self._kept: dict[str, np.ndarray] = {}
        self._length = self._check_metadata()

    def __getattr__(self, name: str) -> np.ndarray:
        """``reader.<array>``: the whole array, read on first use and kept."""
        if name.startswith("_") or name not in self.__dict__.get("_specs", {}):
            raise AttributeError(f"{type(self).__name__} of layout "
                                 f"{getattr(self.__dict__.get('layout'), 'LAYOUT', '?')!r} has no attribute {name!r}")
        if name not in self._kept:
            self._kept[name] = self.read(name)
        return self._kept[name]

    def __repr__(self) -> str:
        return f"<{self.layout.__name__} reader of {self.path} ({len(self)} entries)>"

    def _check_metadata(self) -> int:
        sizes: dict[str, int] = {}
        for spec in self.layout.SPEC:
            arr = self._root[spec.name]
            where = f"{self.path}: {self.layout.LAYOUT}: array '{spec.name}'"
            if np.dtype(arr.dtype) != np.dtype(spec.dtype):
                raise StoreError(f"{where} has dtype {arr.dtype}, expected {spec.dtype}")
            if len(arr.shape) != len(spec.dims):
                raise StoreError(f"{where} has shape {arr.shape}, expected {len(spec.dims)} "
                                 f"dimensions {spec.dims}")
            for dim, size in zip(spec.dims, arr.shape):
                expected = sizes.setdefault(dim, size)
                if size != expected:
                    raise StoreError(f"{where} has shape {arr.shape}: dimension {dim} is {size}, "
                                     f"but {expected} in another array")
        n = sizes.get(self.layout.ENTRY_AXIS, 0)
        if self.layout.TABLE:
            if "properties" not in set(self._root.group_keys()):
                raise StoreError(f"{self.path}: {self.layout.LAYOUT}: no properties table")
            table = self._root["properties"]
            columns = set(table.array_keys())
            missing = [c for c in self.layout.TABLE if c not in columns]
            if missing:
                raise StoreError(f"{self.path}: {self.layout.LAYOUT}: properties table lacks columns {missing}")
            for column in self.layout.TABLE:
                if table[column].shape[0] != n:
                    raise StoreError(f"{self.path}: {self.layout.LAYOUT}: properties column '{column}' "
                                     f"has {table[column].shape[0]} rows, but the arrays hold "
                                     f"{self.layout.ENTRY_AXIS}={n}")
        return int(n)

    def __len__(self) -> int:
        return self._length

    def _spec(self, name: str) -> ArraySpec:
        if name not in self._specs:
            raise KeyError(f"{self.path}: layout {self.layout.LAYOUT!r} has no array {name!r}; "
                           f"its arrays are {list(self._specs)}")
        return self._specs[name]

    def _is_entry_array(self, name: str) -> bool:
        dims = self._spec(name).dims
        return bool(dims) and dims[0] == self.layout.ENTRY_AXIS

    def shape(self, name: str) -> tuple[int, ...]:
        """Shape of array ``name`` (metadata only)."""
        self._spec(name)
        return tuple(self._root[name].shape)

    @property
    def chunk_length(self) -> int:
        """Entries per chunk along the entry axis (of the first entry array)."""
        name = self.layout.entry_arrays()[0]
        return int(self._root[name].chunks[0])

    def array(self, name: str) -> Any:
        """The Zarr array ``name`` itself: nothing is read until it is indexed."""
        self._spec(name)
        return self._root[name]

    def read(self, name: str, index: slice | np.ndarray | None = None) -> np.ndarray:
        """Values of array ``name``: all of it (``index`` None), a range of entries (a
        slice) or an index set (integer array, any order) along the entry axis."""
        spec = self._spec(name)
        arr = self._root[name]
        if index is None:
            values = np.asarray(arr[...])
            entries = None
        else:
            if not self._is_entry_array(name):
                raise ValueError(f"{self.path}: array '{name}' has no entry axis "
                                 f"{self.layout.ENTRY_AXIS!r}; read it whole (index None)")
            if isinstance(index, slice):
                values = np.asarray(arr[index])
                entries = np.arange(len(self))[index]
            else:
                entries = np.asarray(index, dtype=np.int64)
                if entries.ndim != 1:
                    raise ValueError(f"an index set must be 1-D, got shape {entries.shape}")
                values = np.asarray(arr.oindex[entries]) if len(entries) else \
                    np.zeros((0, *arr.shape[1:]), dtype=arr.dtype)
        first = _first_non_finite(values, spec.name in self.layout.NAN_ALLOWED)
        if first is not None:
            if entries is not None:
                first[0] = int(entries[first[0]])
            raise StoreError(f"{self.path}: {self.layout.LAYOUT}: array '{name}' holds a non-finite "
                             f"value (first at index {first})")
        return values

    def read_arrays(self, names: list[str] | tuple[str, ...],
                    index: slice | np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Only the arrays ``names`` (optionally of some entries), by name."""
        return {name: self.read(name, index) for name in names}

    @property
    def properties(self) -> pd.DataFrame:
        """The property table (one row per entry; read once, then kept: it is small)."""
        if not self.layout.TABLE:
            raise AttributeError(f"{self.path}: layout {self.layout.LAYOUT!r} has no properties table")
        if self._properties is None:
            table = self._root["properties"]
            self._properties = pd.DataFrame({c: np.asarray(table[c][...]) for c in self.layout.TABLE})
        return self._properties

    def entries(self, index: slice | np.ndarray):
        """The entries ``index`` as a checked instance of the layout (every array; arrays
        without the entry axis whole)."""
        kwargs: dict[str, Any] = {}
        for spec in self.layout.SPEC:
            kwargs[spec.name] = self.read(spec.name, index if self._is_entry_array(spec.name) else None)
        if self.layout.TABLE:
            kwargs["properties"] = self.properties.iloc[index].reset_index(drop=True)
        try:
            return self.layout(**kwargs, attrs=dict(self.attrs))
        except StoreError as err:
            raise StoreError(f"{self.path}: {err}") from err

    def load(self):
        """The whole store as a checked instance of the layout (as :meth:`Store.load`)."""
        kwargs: dict[str, Any] = {s.name: self.read(s.name) for s in self.layout.SPEC}
        if self.layout.TABLE:
            kwargs["properties"] = self.properties.copy()
        try:
            return self.layout(**kwargs, attrs=dict(self.attrs))
        except StoreError as err:
            raise StoreError(f"{self.path}: {err}") from err

    def chunks(self, stop: int | None = None) -> list[slice]:
        """Consecutive entry ranges of ``chunk_length`` (the first ``stop`` entries)."""
        n = len(self) if stop is None else min(stop, len(self))
        step = self.chunk_length
        return [slice(start, min(start + step, n)) for start in range(0, n, step)]


class StoreWriter:
    """A store written part by part, in entry order, then renamed into place (atomic).

    Use as a context manager (:meth:`Store.writer`)::

        with BlendSet.writer(path, length, template=shards[0], attrs=attrs) as out:
            for part in parts:           # checked dataclasses of the layout
                out.append(part)
            out.attrs["band_scale"] = ...  # attributes may change until the block ends

    The arrays are created with ``length`` entries and the shapes of ``template`` (a
    :class:`StoreReader` of the same layout) at the start; arrays without the entry axis
    are copied from it. Each part is checked against the layout (its dataclass) and
    against the shapes of the others; a writer that ends with fewer or more entries
    than ``length`` raises and leaves nothing. On success the attributes (``attrs``, the
    provenance of ``seed``/``config``, the layout) and ``complete`` are written last,
    exactly as :meth:`Store.save` does, and the temporary folder is renamed to ``path``.
    """

    def __init__(self, layout: type[Store], path: str | os.PathLike, length: int, *,
                 template: StoreReader, attrs: dict[str, Any], seed: int | None = None,
                 config: dict[str, Any] | None = None):
        if template.layout is not layout:
            raise TypeError(f"a {layout.__name__} writer needs a {layout.__name__} template, "
                            f"got {template.layout.__name__} ({template.path})")
        self.layout = layout
        self.path = Path(path)
        self.length = int(length)
        self.template = template
        self.attrs = dict(attrs)
        self.written = 0
        self._provenance = provenance(seed, config)
        self._context = None
        self._root = None

    def __enter__(self) -> StoreWriter:
        self._context = atomic_target(self.path)
        tmp = self._context.__enter__()
        self._root = zarr.open_group(str(tmp), mode="w")
        self._units: dict[str, str] = {}
        for spec in self.layout.SPEC:
            shape = self.template.shape(spec.name)
            if shape and spec.dims[0] == self.layout.ENTRY_AXIS:
                _create_array(self._root, spec, (self.length, *shape[1:]), spec.dtype, self.layout.ENTRY_AXIS)
            else:
                _create_array(self._root, spec, shape, spec.dtype, self.layout.ENTRY_AXIS,
                              data=self.template.read(spec.name))
            self._units[spec.name] = spec.unit
        if self.layout.TABLE:
            table = self._root.create_group("properties")
            for column, (dtype, unit) in self.layout.TABLE.items():
                table.create_array(column, shape=(self.length,), dtype=dtype, chunks="auto").attrs["unit"] = unit
                self._units[f"properties/{column}"] = unit
        return self

    def append(self, part: Store) -> None:
        """Write the entries of ``part`` (an instance of the layout) after those written so far."""
        if not isinstance(part, self.layout):
            raise TypeError(f"{self.path}: expected a {self.layout.__name__}, got {type(part).__name__}")
        n = len(part) if part.entry_arrays() else 0
        if self.written + n > self.length:
            raise StoreError(f"{self.path}: {self.layout.LAYOUT}: {self.written + n} entries appended, "
                             f"more than the {self.length} declared")
        if n == 0:
            return
        stop = self.written + n
        for name in self.layout.entry_arrays():
            value = getattr(part, name)
            target = self._root[name]
            if tuple(value.shape[1:]) != tuple(target.shape[1:]):
                raise StoreError(f"{self.path}: {self.layout.LAYOUT}: array '{name}' of a part has shape "
                                 f"{value.shape}, the store's entries {target.shape[1:]}")
            target[self.written:stop] = value
        if self.layout.TABLE:
            table = self._root["properties"]
            for column, (dtype, _) in self.layout.TABLE.items():
                table[column][self.written:stop] = part.properties[column].to_numpy(dtype=dtype)
        self.written = stop

    def __exit__(self, kind, value, traceback) -> bool:
        context, self._context = self._context, None
        if kind is None and self.written != self.length:
            error = StoreError(f"{self.path}: {self.layout.LAYOUT}: {self.written} entries written, "
                               f"{self.length} declared")
            context.__exit__(StoreError, error, None)
            raise error
        if kind is None:
            attrs = {**self.attrs, **self._provenance, "layout": self.layout.LAYOUT,
                     "layout_version": self.layout.LAYOUT_VERSION}
            self._root.attrs.update(_to_json({**attrs, "units": self._units}))
            self._root.attrs["complete"] = True  # written last: marks a finished store
        context.__exit__(kind, value, traceback)
        if kind is None:
            logger.info("wrote %s (%s, %d entries)", self.path, self.layout.LAYOUT, self.length)
        return False
