"""Stores, merge and the metrics table of the Nguyen 2025 system."""

from __future__ import annotations


import galsim
import numpy as np
import pytest
from astropy.table import Table

from galprior.data.blends import (
    catalogue_ellipticity, merge_blend_shards, network_inputs, prepare_blend_shard,
)
from galprior.config import schema_defaults
from galprior.data.moments import moment_ellipticity
from galprior.metrics.deblending import deblending_metrics, ellipticity_rmse, roundness_ratio
from galprior.store import BlendSet, DeblendEvaluation, StoreError


def _nguyen(**blends):
    cfg = schema_defaults()["nguyen"]
    cfg["catalogue"]["n_galaxies"] = 500
    cfg["blends"].update(sizes={"lsst": {"train": 6, "val": 4}, "des": {"train": 4, "val": 4}}, chunk_size=4, n_shards=2, **blends)
    return cfg


def test_shards_merge_and_round_trip(tmp_path):
    cfg = _nguyen()
    train = [prepare_blend_shard(cfg, "lsst", "train", k, 1, progress=False) for k in range(2)]
    val = [prepare_blend_shard(cfg, "lsst", "val", k, 1, progress=False) for k in range(2)]
    assert train[0].attrs["band_scale"] is None
    merged_train, merged_val = merge_blend_shards(train[::-1], val)
    assert list(merged_train.index) == list(range(6)) and len(merged_val) == 4
    expected = merged_train.blend.max(axis=(2, 3)).mean(axis=0)
    np.testing.assert_allclose(merged_val.attrs["band_scale"], expected, rtol=1e-6)
    merged_train.save(tmp_path / "train.zarr", seed=1)
    again = BlendSet.load(tmp_path / "train.zarr")
    np.testing.assert_array_equal(again.blend, merged_train.blend)
    assert again.attrs["bands"] == ["u", "g", "r", "i", "z", "y"]
    x, scale = network_inputs(again, "blend", "lsst", "zeros")
    assert x.shape == (6, 6, 45, 45) and np.all(np.abs(x) < 1)


def test_blend_set_refuses_wrong_bands():
    n = 2
    arrays = dict(blend=np.zeros((n, 5, 8, 8), np.float32), isolated=np.zeros((n, 5, 8, 8), np.float32),
                  clean=np.zeros((n, 5, 8, 8), np.float32), e_moments=np.zeros((n, 2), np.float32),
                  e_catalogue=np.zeros((n, 2), np.float32), n_sources=np.ones(n, np.int16),
                  magnitude=np.zeros(n, np.float32), redshift=np.zeros(n, np.float32), index=np.arange(n))
    attrs = dict(survey="lsst", split="train", bands=list("ugrizy"), pixel_scale=0.2, mag_band="r", ellipticity_band="r",
                 normalisation_beta=2.5, band_scale=None, catalogue="embedded")
    with pytest.raises(StoreError, match="bands"):
        BlendSet(**arrays, attrs=attrs)


def test_catalogue_ellipticity_matches_moments_of_the_unconvolved_galaxy():
    """Catalogue e (distortion, GalSim's beta convention) equals the moments of the drawn disk."""
    row = Table({"fluxnorm_disk": [1.0], "fluxnorm_bulge": [0.0], "a_d": [0.6], "b_d": [0.3], "pa_disk": [30.0],
                 "a_b": [0.0], "b_b": [0.0], "pa_bulge": [0.0]})
    expected = catalogue_ellipticity(row)
    disk = galsim.Exponential(half_light_radius=np.sqrt(0.18)).shear(q=0.5, beta=30 * galsim.degrees)
    image = disk.drawImage(nx=601, ny=601, scale=0.03, method="no_pixel").array
    np.testing.assert_allclose(moment_ellipticity(image), expected, atol=2e-3)
    np.testing.assert_allclose(np.hypot(*expected), (1 - 0.25) / (1 + 0.25))


def _evaluation(e_true, e_t2, e_reg, flux_true=None, flux_t1=None, flux_t2=None):
    n = len(e_true)
    img = np.zeros((1, 6, 4, 4), np.float32)
    f = lambda v: np.full(n, v, np.float32)  # noqa: E731
    sed = np.tile(np.array([0.02, 0.12, 0.3, 0.26, 0.19, 0.11], np.float32), (n, 1))
    flux_true = sed if flux_true is None else flux_true
    return DeblendEvaluation(
        e_true=e_true, e_recon_t1=e_t2, e_recon_t2=e_t2, e_regressor=e_reg, e_flow_map=e_t2, e_flow_sample=e_t2,
        ssim_t1=f(0.5), ssim_t2=f(0.9), cosine_t1=f(0.95), cosine_t2=f(0.99), n_sources=np.ones(n, np.int16),
        flux_true=flux_true, flux_recon_t1=flux_true if flux_t1 is None else flux_t1,
        flux_recon_t2=flux_true if flux_t2 is None else flux_t2, e_true_hsm=e_true, e_recon_t2_bgsub=e_t2,
        e_recon_t2_hsm=e_t2,
        example_input=img, example_truth=img, example_recon_t1=img, example_recon_t2=img,
        attrs=dict(survey="lsst", data="simulated", network_bands=list("ugrizy"), survey_bands=list("ugrizy"),
                   ellipticity_band="r", band_scale=[1.0] * 6, normalisation_beta=2.5, model_survey="lsst", u_band="zeros"))


def test_metrics_table():
    e_true = np.array([[0.3, 0.0], [0.0, -0.4], [0.2, 0.2]], np.float32)
    e_round = 0.5 * e_true
    table = deblending_metrics({"lsst": _evaluation(e_true, e_round, e_true + 0.01)})
    assert list(table["stage"]) == ["t1", "t2"] and set(table["survey"]) == {"lsst"}
    t2 = table.iloc[1]
    assert t2["ssim_mean"] == pytest.approx(0.9) and t2["cosine_mean"] == pytest.approx(0.99)
    assert t2["e_rmse_reconstruction"] == pytest.approx(np.sqrt(np.mean((0.5 * e_true) ** 2)), rel=1e-5)
    assert t2["e_rmse_regressor"] == pytest.approx(0.01, rel=1e-4)
    assert t2["roundness_reconstruction"] == pytest.approx(0.5, rel=1e-5)
    assert np.isnan(table.iloc[0]["e_rmse_regressor"])
    assert roundness_ratio(e_true, e_true) == 1.0 and ellipticity_rmse(e_true, e_true) == 0.0


def test_metrics_table_colour_columns():
    e_true = np.array([[0.3, 0.0], [0.0, -0.4], [0.2, 0.2]], np.float32)
    flux_true = np.array([[1, 2, 4, 4, 3, 2], [1, 4, 4, 3, 2, 1], [1, 1, 2, 4, 4, 4]], np.float32)
    flux_t2 = flux_true * np.array([1, 2, 1, 1, 1, 1], np.float32)  # g twice too bright: g-r 0.753 mag too blue
    flux_t1 = np.tile(flux_true.mean(axis=0), (3, 1))  # one colour for every galaxy
    table = deblending_metrics({"lsst": _evaluation(e_true, 0.5 * e_true, e_true, flux_true, flux_t1, flux_t2)})
    t1, t2 = table.iloc[0], table.iloc[1]
    assert t2["colour_gr_abs_median"] == pytest.approx(2.5 * np.log10(2.0), rel=1e-5)
    assert t2["colour_ri_abs_median"] == pytest.approx(0.0, abs=1e-6)
    assert t2["band_fraction_r_across_median"] > 0.9 and np.isnan(t1["band_fraction_r_across_median"])
    assert t2["roundness_reconstruction_hsm"] == pytest.approx(0.5, rel=1e-5) and t2["hsm_failures"] == 0
    assert np.isnan(t1["roundness_reconstruction_hsm"])


def test_figures_draw_from_an_evaluation(tmp_path):
    import pandas as pd

    from galprior.plots import nguyen as figures

    rng = np.random.default_rng(0)
    e_true = rng.normal(0, 0.2, (40, 2)).astype(np.float32)
    ev = _evaluation(e_true, 0.5 * e_true, e_true + rng.normal(0, 0.05, e_true.shape).astype(np.float32))
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [2.0, 1.0], "val_loss": [2.5, 1.5], "val_mse": [2.0, 1.0], "val_kl": [5.0, 6.0]})
    for name, fig in {
        "fig11": figures.deblend_examples_figure(ev), "fig12": figures.regressor_sticks_figure(ev),
        "fig13": figures.similarity_figure({"lsst": ev}), "fig15": figures.ellipticity_scatter_figure(ev, "t"),
        "fig16": figures.ellipticity_distribution_figure(ev, "t"), "fig22": figures.loss_figure({"training 1": history}),
    }.items():
        fig.savefig(tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 1000


def _store_arrays(path):
    """Every array and attribute of a store (without its write time)."""
    import zarr

    root = zarr.open_group(str(path), mode="r")
    arrays = {name: root[name][...] for name in root.array_keys()}
    attrs = {k: v for k, v in root.attrs.items() if k != "created"}
    return arrays, attrs


def _synthetic_shard(first: int, n: int, seed: int) -> BlendSet:
    rng = np.random.default_rng(seed)
    image = lambda: rng.gamma(2.0, 10.0, (n, 2, 5, 5)).astype(np.float32)  # noqa: E731
    attrs = dict(survey="des", split="train", bands=["g", "r"], pixel_scale=0.26, mag_band="r", ellipticity_band="r",
                 normalisation_beta=2.5, band_scale=None, catalogue="embedded", shard=seed, seed=9)
    return BlendSet(blend=image(), isolated=image(), clean=image(), e_moments=rng.normal(size=(n, 2)).astype(np.float32),
                    e_catalogue=rng.normal(size=(n, 2)).astype(np.float32), n_sources=np.ones(n, np.int16),
                    magnitude=np.full(n, 22, np.float32), redshift=np.ones(n, np.float32),
                    index=np.arange(first, first + n), attrs=attrs)


def test_shard_by_shard_merge_writes_the_stores_of_the_whole_set_merge(tmp_path):
    """Shards of 300 and 270 blends (chunks of 256 cross shard ends), given out of order."""
    from galprior.data.blends import merge_blend_stores

    train = [_synthetic_shard(300, 270, 1), _synthetic_shard(0, 300, 0)]
    val = [_synthetic_shard(0, 40, 2), _synthetic_shard(40, 0, 3)]  # an empty shard too
    paths = {}
    for name, shards in (("train", train), ("val", val)):
        paths[name] = [shard.save(tmp_path / f"{name}{k}.zarr", seed=9) for k, shard in enumerate(shards)]
    whole_train, whole_val = merge_blend_shards([BlendSet.load(p) for p in paths["train"]],
                                                [BlendSet.load(p) for p in paths["val"]])
    whole_train.save(tmp_path / "old_train.zarr", seed=whole_train.attrs.get("seed"))
    whole_val.save(tmp_path / "old_val.zarr", seed=whole_val.attrs.get("seed"))
    merge_blend_stores([BlendSet.open(p) for p in paths["train"]], [BlendSet.open(p) for p in paths["val"]],
                       tmp_path / "new_train.zarr", tmp_path / "new_val.zarr")
    for split in ("train", "val"):
        old, new = _store_arrays(tmp_path / f"old_{split}.zarr"), _store_arrays(tmp_path / f"new_{split}.zarr")
        assert old[1] == new[1]  # attributes, the eq. 9 constants among them, bit for bit
        assert old[0].keys() == new[0].keys()
        for name in old[0]:
            np.testing.assert_array_equal(old[0][name], new[0][name], err_msg=name)
    assert list(BlendSet.open(tmp_path / "new_train.zarr").read("index")) == list(range(570))


def test_training_from_a_store_equals_training_from_the_blend_set(tmp_path):
    """A stage reads x and y through blend_view: the same batches from a store's chunks as
    from the set in memory, so the same weights."""
    import torch

    from galprior.models.deblender.products import train_vae_stage
    from galprior.models.registry import load_model

    cfg = _nguyen()
    cfg["training"].update(batch_size=16, epochs={"t1": 2, "t2": 1, "t3": 1})
    train = _synthetic_shard(0, 40, 0)
    train.attrs["band_scale"] = [30.0, 40.0]
    val = _synthetic_shard(0, 8, 1)
    val.attrs["band_scale"] = [30.0, 40.0]
    for name, (t, v) in {"memory": (train, val),
                         "store": (BlendSet.open(train.save(tmp_path / "train.zarr")),
                                   BlendSet.open(val.save(tmp_path / "val.zarr")))}.items():
        history = train_vae_stage("t1", t, v, cfg, 5, checkpoint_dir=tmp_path / f"ck-{name}",
                                  model_dir=tmp_path / name, device=torch.device("cpu"))
        assert len(history) == 2
    a, b = (load_model(tmp_path / name, family="nguyen_vae") for name in ("memory", "store"))
    for p, q in zip(a.state_dict().values(), b.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_normalisation_has_no_float64_temporaries():
    """Eq. 9 in float32: its peak allocation is a few float32 copies of the input, not the
    float64 copies (4 bytes more per pixel, each) it used to make."""
    import tracemalloc

    from galprior.data.normalisation import normalise

    images = np.random.default_rng(0).gamma(2.0, 10.0, (64, 6, 45, 45)).astype(np.float32)
    tracemalloc.start()
    out = normalise(images, np.full(6, 30.0), 2.5)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert out.dtype == np.float32
    assert peak < 2.5 * images.nbytes  # float64: at least 2 (the cast) + 2 (a temporary) = 4
    reference = np.tanh(np.arcsinh(2.5 * images.astype(np.float64) / 30.0))
    np.testing.assert_allclose(out, reference, rtol=2e-6, atol=1e-7)
