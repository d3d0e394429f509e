import json

import pytest
import torch

from galprior.models.registry import HYPERPARAMETERS_FILE, WEIGHTS_FILE, load_model, save_model


def test_save_load_round_trip(tmp_path, tiny_vae):
    tiny_vae.eval()
    save_model(tiny_vae, tmp_path / "vae")
    assert (tmp_path / "vae" / WEIGHTS_FILE).is_file()
    meta = json.loads((tmp_path / "vae" / HYPERPARAMETERS_FILE).read_text())
    assert meta["model"] == "vae" and meta["latent_dim"] == tiny_vae.latent_dim
    loaded = load_model(tmp_path / "vae")
    assert loaded.hyperparameters == tiny_vae.hyperparameters
    assert not loaded.training
    z = torch.randn(2, tiny_vae.latent_dim)
    torch.testing.assert_close(loaded.decode(z), tiny_vae.decode(z), rtol=0, atol=0)


def test_load_model_errors_name_the_file(tmp_path, tiny_vae):
    with pytest.raises(FileNotFoundError, match=HYPERPARAMETERS_FILE):
        load_model(tmp_path)
    save_model(tiny_vae, tmp_path)
    path = tmp_path / HYPERPARAMETERS_FILE
    meta = json.loads(path.read_text())
    del meta["base_width"]
    path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"hyperparameters\.json.*base_width"):
        load_model(tmp_path)
    save_model(tiny_vae, tmp_path)
    (tmp_path / WEIGHTS_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=WEIGHTS_FILE):
        load_model(tmp_path)
