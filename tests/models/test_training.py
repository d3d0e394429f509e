import logging

import numpy as np
import pytest
import torch

from galprior.models import checkpoint
from galprior.models.training import EarlyStopping
from galprior.models.vae import VAE
from galprior.models.vae.network import images_to_tensor
from galprior.models.vae.training import evaluate, fit_vae, image_view, train_epoch, vae_history_frame

from galprior.config import schema_defaults

_VAE = schema_defaults()["chianese"]["vae"]
TINY = {**_VAE["architecture"], "image_size": 16, "latent_dim": 4, "base_width": 4}  # as conftest's tiny_vae
TRAINING = {k: v for k, v in _VAE["training"].items() if k != "epochs"}


def test_training_steps_increase_elbo_on_fixed_batch(tiny_vae, blobs):
    x = [images_to_tensor(blobs[:16], 16)]  # one batch of 16
    optimizer = torch.optim.Adam(tiny_vae.parameters(), lr=1e-2, betas=(0.5, 0.999))
    before = evaluate(tiny_vae, x, seed=3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(15):
        train_epoch(tiny_vae, optimizer, x, gen)
    assert evaluate(tiny_vae, x, seed=3) > before


def test_evaluate_is_reproducible_and_leaves_global_rng_alone(tiny_vae, blobs):
    x = image_view(blobs, 16).stream(8)
    state = torch.get_rng_state()
    assert evaluate(tiny_vae, x, seed=1) == evaluate(tiny_vae, x, seed=1)
    assert torch.equal(state, torch.get_rng_state())


def test_image_view_checks_shape_and_adds_the_channel_axis(blobs):
    with pytest.raises(ValueError, match="shape"):
        image_view(blobs[:, :8, :8], 16)
    batch = next(iter(image_view(blobs, 16).stream(5)))
    assert batch["images"].shape == (5, 1, 16, 16) and batch["images"].dtype == torch.float32
    bad = blobs.copy()
    bad[3, 2, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        list(image_view(bad, 16).stream(5))


def test_images_to_tensor_checks_shape():
    with pytest.raises(ValueError, match="shape"):
        images_to_tensor(np.zeros((3, 8, 8), np.float32), 16)
    assert images_to_tensor(np.zeros((3, 16, 16)), 16).shape == (3, 1, 16, 16)


def test_early_stopping():
    stopper = EarlyStopping(patience=2, min_delta=0.5)
    assert stopper.update(1.0, 1)
    assert not stopper.update(1.4, 2)  # below min_delta
    assert not stopper.should_stop
    assert not stopper.update(0.0, 3)
    assert stopper.should_stop and stopper.best_epoch == 1
    restored = EarlyStopping(patience=2, min_delta=0.5)
    restored.load_state_dict(stopper.state_dict())
    assert restored == stopper


def _fit(tmp_dir, blobs, epochs, **kwargs):
    torch.manual_seed(0)
    model = VAE(**TINY)
    history = fit_vae(
        model, blobs[:32], blobs[32:], epochs=epochs, checkpoint_dir=tmp_dir,
        **{**TRAINING, "batch_size": 8, "lr": 1e-2, "patience": 5, "seed": 7}, progress=False, **kwargs,
    )
    return model, history


def test_fit_writes_checkpoints_and_history(tmp_path, blobs, caplog):
    with caplog.at_level(logging.INFO, logger="galprior.models.training"):
        model, history = _fit(tmp_path, blobs, epochs=2)
    assert [h["epoch"] for h in history] == [1, 2]
    assert (tmp_path / "last.pt").is_file() and (tmp_path / "best.pt").is_file()
    assert not list(tmp_path.glob(".*tmp"))
    assert "epoch 2" in caplog.text
    frame = vae_history_frame(history)
    assert list(frame.columns) == ["epoch", "train_elbo", "val_elbo"] and len(frame) == 2
    best = checkpoint.load_best_weights(tmp_path)
    assert best["score"] == max(h["val_elbo"] for h in history)
    for name, tensor in model.state_dict().items():  # restore_best loaded these
        assert torch.equal(tensor, best["model"][name])


def test_resume_after_kill_matches_uninterrupted_run(tmp_path, blobs):
    full_model, full_history = _fit(tmp_path / "full", blobs, epochs=3, restore_best=False)

    _fit(tmp_path / "killed", blobs, epochs=2, restore_best=False)  # the job dies after epoch 2
    (tmp_path / "killed" / ".last.pt.deadbeef.tmp").write_bytes(b"half-written")  # killed mid-save
    resumed_model, resumed_history = _fit(tmp_path / "killed", blobs, epochs=3, restore_best=False)

    assert [h["epoch"] for h in resumed_history] == [1, 2, 3]
    assert resumed_history == full_history
    for name, tensor in full_model.state_dict().items():
        assert torch.equal(tensor, resumed_model.state_dict()[name]), name


def test_resume_refuses_weights_of_another_architecture_naming_the_folder(tmp_path, blobs):
    """Same settings, weights that do not fit (a code change of the model): a clear error."""
    _fit(tmp_path, blobs, epochs=1)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    state["model"].pop(next(iter(state["model"])))
    torch.save(state, tmp_path / "last.pt")
    with pytest.raises(ValueError, match="does not fit this run") as err:
        _fit(tmp_path, blobs, epochs=2)
    assert f"delete {tmp_path} to train from scratch" in str(err.value)


def test_resume_refuses_other_settings_naming_the_file_and_what_differs(tmp_path, blobs):
    _fit(tmp_path, blobs, epochs=1)
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="other training settings") as err:
        fit_vae(VAE(**TINY), blobs[:32], blobs[32:], epochs=2, checkpoint_dir=tmp_path,
                **{**TRAINING, "batch_size": 16, "lr": 1e-2, "patience": 5, "seed": 0}, progress=False)
    message = str(err.value)
    assert str(tmp_path / "last.pt") in message
    assert "batch_size: 8, 16" in message and "seed: 7, 0" in message and "lr" not in message


def test_early_stopping_ends_training(tmp_path, blobs):
    torch.manual_seed(0)
    history = fit_vae(
        VAE(**TINY), blobs[:32], blobs[32:], epochs=50, checkpoint_dir=tmp_path,
        **{**TRAINING, "batch_size": 8, "lr": 1e-2, "patience": 1, "min_delta": 1e12, "seed": 0}, progress=False,
    )
    assert len(history) == 2  # epoch 1 improves on -inf, epoch 2 cannot beat it by 1e12


def test_training_from_stores_opened_lazily_equals_training_from_arrays(tmp_path, blobs):
    """The images streamed from the stores' chunks are the arrays' images, in the same order."""
    import pandas as pd

    from galprior.store import GalaxySet

    def store(images, name):
        n = len(images)
        props = pd.DataFrame({"ident": np.arange(n), "mag": 22.0, "half_light_radius": 0.5, "flux_radius": 0.5,
                              "redshift": 1.0})
        galaxies = GalaxySet(images=images, noiseless=images, psf=np.full((n, 3, 3), 1 / 9, np.float32),
                             noise_variance=np.full(n, 1e-4, np.float32), pixel_scale=np.full(n, 0.03, np.float32),
                             properties=props, attrs={"source": "simulated", "product": "chianese", "band": "F814W",
                                                      "image_unit": "1", "noiseless_is_truth": True})
        return GalaxySet.open(galaxies.save(tmp_path / f"{name}.zarr"))

    from_arrays, history_a = _fit(tmp_path / "arrays", blobs, epochs=2, restore_best=False)
    torch.manual_seed(0)
    from_stores = VAE(**TINY)
    history_b = fit_vae(from_stores, store(blobs[:32], "train"), store(blobs[32:], "val"), epochs=2,
                        checkpoint_dir=tmp_path / "stores", restore_best=False, progress=False,
                        **{**TRAINING, "batch_size": 8, "lr": 1e-2, "patience": 5, "seed": 7})
    assert history_a == history_b
    for name, tensor in from_arrays.state_dict().items():
        assert torch.equal(tensor, from_stores.state_dict()[name]), name
