"""Minibatches streamed from store chunks: buffered shuffle, order, resumption, transforms."""

import numpy as np
import pandas as pd
import pytest
import torch

from galprior.models.batches import ArraySource, EntryView, MinibatchStream
from galprior.store import GalaxySet


class CountingSource(ArraySource):
    """An ArraySource that records every read (name, start, stop)."""

    def __init__(self, arrays, chunk_length):
        super().__init__(arrays, chunk_length)
        self.reads = []

    def read(self, name, index=None):
        self.reads.append((name, index.start, index.stop))
        return super().read(name, index)


def _view(n=103, chunk=10):
    """Entries whose value is their index; chunks of ``chunk``."""
    source = CountingSource({"value": np.arange(n, dtype=np.float64), "label": np.arange(n) * 2}, chunk)
    return EntryView(source, ("value", "label"))


def _indices(batches):
    return np.concatenate([b["index"].numpy() for b in batches])


def test_every_entry_exactly_once_per_epoch_and_values_follow_their_index():
    stream = _view().stream(8, shuffle=True, seed=3)
    batches = list(stream.epoch(1))
    assert len(batches) == len(stream) == 13 and [len(b["index"]) for b in batches[:-1]] == [8] * 12
    index = _indices(batches)
    assert sorted(index) == list(range(103)) and not np.array_equal(index, np.arange(103))
    np.testing.assert_array_equal(index, stream.order(1))
    for batch in batches:
        np.testing.assert_array_equal(batch["value"].numpy(), batch["index"].numpy())
        assert batch["value"].dtype == torch.float32 and batch["label"].dtype == torch.int64


def test_the_shuffle_is_buffered_a_few_chunks_at_a_time():
    view = _view(n=100, chunk=10)
    stream = view.stream(5, shuffle=True, seed=0, buffer_chunks=3)
    order = stream.order(2)
    for start in range(0, 90, 30):  # each buffer of 30 entries draws on 3 whole chunks
        assert len(set(order[start:start + 30] // 10)) == 3
    view.source.reads.clear()
    list(stream.epoch(2))
    # every chunk read once per array and epoch, in whole chunks
    assert sorted(r[1] for r in view.source.reads if r[0] == "value") == list(range(0, 100, 10))
    assert all(stop - start == 10 for _, start, stop in view.source.reads)


def test_order_depends_on_seed_and_epoch_only():
    a = _view().stream(8, shuffle=True, seed=3)
    b = _view().stream(8, shuffle=True, seed=3)
    np.testing.assert_array_equal(_indices(a.epoch(4)), _indices(b.epoch(4)))
    assert not np.array_equal(a.order(4), a.order(5))
    assert not np.array_equal(a.order(4), _view().stream(8, shuffle=True, seed=4).order(4))


def test_resuming_at_a_batch_replays_the_rest_without_reading_the_buffers_before():
    view = _view(n=100, chunk=10)
    stream = view.stream(8, shuffle=True, seed=1, buffer_chunks=2)
    full = list(stream.epoch(3))
    view.source.reads.clear()
    resumed = list(stream.epoch(3, start_batch=7))
    assert len(resumed) == len(full) - 7
    for a, b in zip(full[7:], resumed):
        assert torch.equal(a["index"], b["index"]) and torch.equal(a["value"], b["value"])
    # batch 7 starts at entry 56 of the epoch: the first two buffers (40 entries) are skipped
    assert len([r for r in view.source.reads if r[0] == "value"]) == 10 - 4


def test_sequential_mode_limit_and_drop_last():
    stream = _view(n=25, chunk=10).stream(10)
    assert [b["index"].tolist() for b in stream] == [list(range(10)), list(range(10, 20)), list(range(20, 25))]
    assert len(_view(n=25).stream(10, drop_last=True)) == 2
    assert [len(b["index"]) for b in _view(n=25).stream(10, shuffle=True, drop_last=True).epoch(1)] == [10, 10]
    limited = _view(n=25, chunk=10).stream(4, limit=7)
    assert limited.n_entries == 7 and _indices(limited).tolist() == list(range(7))


def test_transform_gets_float32_batches_with_their_index():
    seen = []

    def transform(batch):
        seen.append({k: v.dtype for k, v in batch.items()})
        return {"x": batch["value"][:, None] * 2.0, "index": batch["index"]}

    view = EntryView(ArraySource({"value": np.arange(6, dtype=np.float64)}, 4), ("value",), transform)
    batch = next(iter(view.stream(6)))
    assert seen[0]["value"] == np.float32 and seen[0]["index"] == np.int64
    assert batch["x"].dtype == torch.float32 and batch["x"].shape == (6, 1)
    np.testing.assert_array_equal(batch["x"][:, 0].numpy(), np.arange(6) * 2.0)


def test_streams_of_a_store_read_its_chunks(tmp_path):
    n = 600  # three Zarr chunks of 256, 256 and 88 entries
    images = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None], (n, 4, 4))
    arrays = dict(images=images, noiseless=images, psf=np.full((n, 3, 3), 1 / 9, np.float32),
                  noise_variance=np.full(n, 0.01, np.float32), pixel_scale=np.full(n, 0.03, np.float32))
    properties = pd.DataFrame({"ident": np.arange(n), "mag": 22.0, "half_light_radius": 0.5, "flux_radius": 0.5,
                               "redshift": 1.0})
    attrs = {"source": "simulated", "product": "chianese", "band": "F814W", "image_unit": "1",
             "noiseless_is_truth": True}
    reader = GalaxySet.open(GalaxySet(**arrays, properties=properties, attrs=attrs).save(tmp_path / "g.zarr"))
    stream = EntryView(reader, ("images",)).stream(64, shuffle=True, seed=0)
    index = []
    for batch in stream.epoch(1):
        np.testing.assert_array_equal(batch["images"][:, 0, 0].numpy(), batch["index"].numpy())
        index.append(batch["index"].numpy())
    assert sorted(np.concatenate(index)) == list(range(600))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="different lengths"):
        ArraySource({"a": np.zeros(3), "b": np.zeros(4)})
    with pytest.raises(ValueError, match="batch_size"):
        MinibatchStream(_view(), 0, shuffle=False)
