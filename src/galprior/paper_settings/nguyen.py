"""Settings the Nguyen 2025 report states (see :mod:`galprior.paper_settings`)."""

from galprior.paper_settings import PaperSetting

SETTINGS: tuple[PaperSetting, ...] = (
    # data (sec. 3.1)
    PaperSetting("nguyen.catalogue.source", "file", "sec. 3.1.2 (CatSim)"),
    PaperSetting("nguyen.blends.sizes.lsst", {"train": 180000, "val": 20000}, "sec. 3.1.2 (200,000, 90 / 10 %)"),
    PaperSetting("nguyen.blends.stamp_pixels", 45, "sec. 3.1.2 (45 x 45, 9\")"),
    PaperSetting("nguyen.blends.max_galaxies", 3, "sec. 3.1.2 ('up to 3 galaxies')"),
    PaperSetting("nguyen.blends.min_ellipticity", 0.1, "sec. 4.1 (e > 0.1)"),
    PaperSetting("galprior.data.normalisation:NETWORK_BANDS", ("u", "g", "r", "i", "z", "y"), "sec. 3.1.2, Table 1"),
    PaperSetting("nguyen.normalisation_beta", 2.5, "eq. 9"),
    PaperSetting("nguyen.des.u_band", "zeros", "sec. 3.3 (u replaced by an empty array)"),
    PaperSetting("nguyen.des.real.snr_min", 20.0, "sec. 3.1.3 (snr_w > 20)"),
    # networks (sec. 3.2, Figs. 9-10)
    PaperSetting("galprior.models.deblender.network:ENCODER_FILTERS", (32, 64, 128, 256), "sec. 3.2"),
    PaperSetting("nguyen.vae.beta", 1.0e-3, "sec. 4.1 (beta ~ 1e-3)"),
    PaperSetting("nguyen.vae.colour_head.weight", 0.0, "eqs. 3 and 6 (pixel MSE + beta KL, no colour term)"),
    # training (sec. 3.2)
    PaperSetting("nguyen.training.learning_rate", 1.0e-4, "sec. 3.2 (Adam, 1e-4)"),
    PaperSetting("nguyen.training.epochs", {"t1": 40, "t2": 40, "t3": 40}, "sec. 3.2 ('about 40 epochs')",
                 "same cap; the report trains 'until the loss functions reach the plateau', which "
                 "the preset reads as early stopping on the validation loss (nguyen.training.patience)"),
)
