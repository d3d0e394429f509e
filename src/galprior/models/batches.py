"""Minibatches streamed from the Zarr chunks of a store (or from arrays in memory).

Every training, validation and encoding loop of the project reads its data through
:class:`MinibatchStream`, so that its memory is bounded by a few chunks and a batch,
not by the data set (a training split of 180,000 blends is ~29 GB of float32).

- An *entry source* (:class:`EntrySource`) is anything with a length, a chunk length
  and ``read(name, slice)``: a :class:`~galprior.store.StoreReader` (a store opened
  lazily, :meth:`~galprior.store.Store.open`) or an :class:`ArraySource` (arrays in
  memory: latent means, a small real data set, the tests' arrays).
- An :class:`EntryView` says which arrays of a source a model needs and how a batch of
  them becomes model input (``transform``, applied per batch in float32: the eq. 9
  normalisation of Nguyen 2025, the crops of Lanusse et al. 2021, the channel axis of
  Chianese et al. 2020).
- :meth:`EntryView.stream` gives a :class:`MinibatchStream`: shuffled for training,
  sequential for validation and encoding.

**Buffered shuffle** (one epoch): the entries are cut into chunks of the source's chunk
length (for a store, its Zarr chunks along the entry axis: one read each); the chunks
are taken in a random order, ``buffer_chunks`` at a time (the shuffle buffer); the
entries of each buffer are permuted; batches are cut from the buffers in turn (a batch
may straddle two buffers). Every entry comes exactly once per epoch (``drop_last`` drops
an incomplete last batch). The random numbers come from
``numpy.random.default_rng([seed, epoch])`` alone, not from a training generator: the
order of an epoch depends on the seed and the epoch, so a run resumed from a checkpoint
-- after epoch ``k``, or at batch ``b`` of an epoch (``start_batch``, the step-counted
score-model loop) -- replays the order the uninterrupted run used.

Memory: ``buffer_chunks`` chunks of the arrays read (default 4 x 256 entries, read into
one array per name and never copied whole), plus a batch or two. Batches leave as float32 torch tensors (integer arrays keep their type), one at a
time on ``device``; every batch also holds ``index``, the entries' positions in the
source (a CPU int64 tensor), so that per-entry values kept in memory (labels, latents,
conditions) can be looked up.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from galprior.store.base import ENTRY_CHUNK

__all__ = ["SHUFFLE_BUFFER_CHUNKS", "EntrySource", "ArraySource", "EntryView", "MinibatchStream"]

# Chunks in the shuffle buffer: 4 x 256 entries drawn from 4 random places of the set.
SHUFFLE_BUFFER_CHUNKS = 4

Batch = dict[str, np.ndarray]


class EntrySource(Protocol):
    """What a stream reads from: arrays indexed by entry along their first axis."""

    def __len__(self) -> int: ...

    @property
    def chunk_length(self) -> int: ...

    def shape(self, name: str) -> tuple[int, ...]: ...

    def read(self, name: str, index: slice | np.ndarray | None = None) -> np.ndarray: ...


class ArraySource:
    """Arrays held in memory (numpy arrays, CPU tensors or Zarr arrays) as an entry source.

    Args:
        arrays: name -> array, all of the same length along the first axis.
        chunk_length: entries per chunk (the unit of the shuffle buffer).
    """

    def __init__(self, arrays: dict[str, Any], chunk_length: int = ENTRY_CHUNK):
        if not arrays:
            raise ValueError("ArraySource needs at least one array")
        lengths = {name: value.shape[0] if hasattr(value, "shape") else len(value) for name, value in arrays.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"ArraySource: arrays of different lengths {lengths}")
        if chunk_length < 1:
            raise ValueError(f"ArraySource: chunk_length must be >= 1, got {chunk_length}")
        self._arrays = dict(arrays)
        self._length = next(iter(lengths.values()))
        self._chunk_length = int(chunk_length)

    def __len__(self) -> int:
        return self._length

    @property
    def chunk_length(self) -> int:
        return self._chunk_length

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._arrays[name].shape)

    def read(self, name: str, index: slice | np.ndarray | None = None) -> np.ndarray:
        value = self._arrays[name]
        if isinstance(value, Tensor):
            value = value.detach().cpu().numpy()
        return np.asarray(value[...] if index is None else value[index])


@dataclass(frozen=True)
class EntryView:
    """The arrays ``names`` of ``source`` and the per-batch ``transform`` that makes them
    model input (``dict[str, ndarray] -> dict[str, ndarray]``, float32 in and out; the
    batch it receives also holds ``index``)."""

    source: EntrySource
    names: tuple[str, ...]
    transform: Callable[[Batch], Batch] | None = None

    @classmethod
    def of_arrays(cls, transform: Callable[[Batch], Batch] | None = None,
                  chunk_length: int = ENTRY_CHUNK, **arrays: Any) -> EntryView:
        """A view of arrays in memory, named by the keywords."""
        return cls(ArraySource(arrays, chunk_length), tuple(arrays), transform)

    def __len__(self) -> int:
        return len(self.source)

    def stream(self, batch_size: int, *, shuffle: bool = False, seed: int = 0,
               device: torch.device | str | None = None, drop_last: bool = False,
               limit: int | None = None,
               buffer_chunks: int = SHUFFLE_BUFFER_CHUNKS) -> MinibatchStream:
        """Minibatches of ``batch_size`` entries (see :class:`MinibatchStream`)."""
        return MinibatchStream(self, batch_size, shuffle=shuffle, seed=seed, device=device,
                               drop_last=drop_last, limit=limit, buffer_chunks=buffer_chunks)


class MinibatchStream:
    """Batches of an :class:`EntryView`, shuffled by a buffer of chunks or in order.

    Args:
        view: the arrays and their per-batch transform.
        batch_size: entries per batch.
        shuffle: buffered shuffle (training) or the entries in order (validation, encoding).
        seed: with the epoch, the only source of the shuffle's randomness.
        device: where the batches' tensors go (``index`` stays on the CPU).
        drop_last: leave out an incomplete last batch.
        limit: use only the first ``limit`` entries.
        buffer_chunks: chunks in the shuffle buffer.
    """

    def __init__(self, view: EntryView, batch_size: int, *, shuffle: bool, seed: int = 0,
                 device: torch.device | str | None = None, drop_last: bool = False,
                 limit: int | None = None, buffer_chunks: int = SHUFFLE_BUFFER_CHUNKS):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if buffer_chunks < 1:
            raise ValueError(f"buffer_chunks must be >= 1, got {buffer_chunks}")
        self.view = view
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.device = None if device is None else torch.device(device)
        self.drop_last = bool(drop_last)
        self.buffer_chunks = int(buffer_chunks)
        self.n_entries = len(view) if limit is None else min(int(limit), len(view))

    def __len__(self) -> int:
        """Batches per epoch."""
        if self.drop_last:
            return self.n_entries // self.batch_size
        return math.ceil(self.n_entries / self.batch_size)

    def _buffers(self, epoch: int) -> Iterator[tuple[list[tuple[int, int]], np.ndarray | None]]:
        """The shuffle buffers of ``epoch`` in order: their chunks (entry ranges) and the
        permutation of their entries (None: in order)."""
        step = self.view.source.chunk_length
        chunks = [(start, min(start + step, self.n_entries)) for start in range(0, self.n_entries, step)]
        rng = np.random.default_rng([self.seed, epoch]) if self.shuffle else None
        order = rng.permutation(len(chunks)) if rng is not None else np.arange(len(chunks))
        for first in range(0, len(chunks), self.buffer_chunks):
            ranges = [chunks[k] for k in order[first:first + self.buffer_chunks]]
            size = sum(stop - start for start, stop in ranges)
            yield ranges, (rng.permutation(size) if rng is not None else None)

    def order(self, epoch: int = 0) -> np.ndarray:
        """The entries of ``epoch`` in the order the batches bring them (before ``drop_last``)."""
        parts = [np.zeros(0, np.int64)]
        for ranges, perm in self._buffers(epoch):
            index = np.concatenate([np.arange(start, stop) for start, stop in ranges])
            parts.append(index if perm is None else index[perm])
        return np.concatenate(parts)

    def _read(self, ranges: list[tuple[int, int]]) -> Batch:
        """The arrays of the chunks ``ranges``, in that order, one allocation per array."""
        source = self.view.source
        size = sum(b - a for a, b in ranges)
        data: Batch = {"index": np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in ranges])}
        for name in self.view.names:
            out = None
            at = 0
            for a, b in ranges:
                part = source.read(name, slice(a, b))
                if out is None:
                    out = np.empty((size, *part.shape[1:]), dtype=part.dtype)
                out[at:at + len(part)] = part
                at += len(part)
                del part
            data[name] = out
        return data

    def _finish(self, batch: Batch) -> dict[str, Tensor]:
        batch = {name: _float32(value) for name, value in batch.items()}
        if self.view.transform is not None:
            batch = {name: _float32(value) for name, value in self.view.transform(batch).items()}
        out = {}
        for name, value in batch.items():
            tensor = torch.from_numpy(np.ascontiguousarray(value))
            out[name] = tensor if name == "index" or self.device is None else tensor.to(self.device)
        return out

    def epoch(self, epoch: int = 0, start_batch: int = 0) -> Iterator[dict[str, Tensor]]:
        """The batches of ``epoch``, from batch ``start_batch`` on (buffers before it are
        not read).

        One buffer is held at a time, in the order it was read; a batch is gathered from
        it by the buffer's permutation (a batch-sized copy), and the few entries left at
        its end are carried into the first batch of the next buffer.
        """
        size_b = self.batch_size
        skip = start_batch * size_b
        position = 0
        carry: Batch | None = None
        for ranges, perm in self._buffers(epoch):
            size = sum(b - a for a, b in ranges)
            if position + size <= skip:
                position += size
                continue
            order = perm if perm is not None else np.arange(size)
            order = order[max(0, skip - position):]
            position += size
            buffer = self._read(ranges)
            k = 0
            if carry is not None:
                take = order[:size_b - len(carry["index"])]
                carry = {name: np.concatenate([carry[name], value[take]]) for name, value in buffer.items()}
                k = len(take)
                if len(carry["index"]) == size_b:
                    yield self._finish(carry)
                    carry = None
            while k + size_b <= len(order):
                yield self._finish({name: value[order[k:k + size_b]] for name, value in buffer.items()})
                k += size_b
            if k < len(order):
                rest = {name: value[order[k:]] for name, value in buffer.items()}
                carry = rest if carry is None else {name: np.concatenate([carry[name], rest[name]]) for name in rest}
            del buffer
        if carry is not None and len(carry["index"]) and not self.drop_last:
            yield self._finish(carry)

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        """The batches of epoch 0 (validation and encoding: one pass in order)."""
        return self.epoch(0)


def _float32(value: np.ndarray) -> np.ndarray:
    value = np.asarray(value)
    if np.issubdtype(value.dtype, np.floating) and value.dtype != np.float32:
        return value.astype(np.float32)
    return value
