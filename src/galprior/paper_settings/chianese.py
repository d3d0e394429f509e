"""Settings Chianese et al. 2020 states (see :mod:`galprior.paper_settings`).

The galaxy sample (sec. 2.2: COSMOS, the cuts, the splits) is in
:mod:`galprior.paper_settings.galaxies`.
"""

from galprior.paper_settings import PaperSetting

_TRUNCATED = ("truncated where the paper's normal reaches unphysical values (the "
              "mocks draw from, and the inference scores, the same truncated prior); the "
              "bounds are the last two entries")

SETTINGS: tuple[PaperSetting, ...] = (
    # the VAE (sec. 2.1-2.2, app. C-D)
    PaperSetting("chianese.vae.architecture.image_size", 64, "sec. 2.2, Tables D1-D2"),
    PaperSetting("chianese.vae.architecture.latent_dim", 64, "sec. 2.1, app. D"),
    PaperSetting("chianese.vae.architecture.base_width", 64, "Tables D1-D2 (first convolution 64)"),
    PaperSetting("chianese.vae.architecture.decoder_sigma", 0.02, "sec. 2.1 (sigma_d = 1/50)"),
    PaperSetting("chianese.vae.architecture.leaky_slope", 0.2, "Table D1"),
    PaperSetting("chianese.vae.architecture.weight_init", "constant 0.02", "app. D",
                 "'All weights were initialized to 0.02' read as the DCGAN recipe the "
                 "architecture follows (sec. 2.1 cites Radford et al. 2015): N(0, 0.02^2); a "
                 "constant 0.02 would make every channel identical"),
    PaperSetting("chianese.vae.training.lr", 1.0e-6, "sec. 2.2"),
    PaperSetting("chianese.vae.training.batch_size", 32, "sec. 2.2, app. C"),
    PaperSetting("chianese.vae.training.betas", [0.5, 0.999], "sec. 2.2"),
    PaperSetting("chianese.vae.training.n_latent_samples", 10, "app. C (M = 10, eq. C3)"),
    PaperSetting("chianese.vae.training.epochs", 450, "sec. 2.2",
                 "the paper stops when the validation ELBO starts to rise (about 450 epochs in "
                 "practice); the preset does the same (early stopping, patience 20) with 1000 "
                 "epochs as the cap"),
    PaperSetting("chianese.vae.latent_prior.covariance_scale", 9.0, "sec. 2.1"),
    # the mocks (sec. 3.1, 5.1)
    PaperSetting("chianese.mocks.n_pix", 256, "sec. 3.1, 5.1"),
    PaperSetting("chianese.mocks.pixel_scale", 0.04, "sec. 3.1",
                 "the paper gives both '256 x 256 pixels with angular size 10 arcsec' and "
                 "'a pixel size of 0.04 arcsec' (10.24\"); we keep the stated pixel size"),
    PaperSetting("chianese.mocks.psf_sigma", 0.05, "sec. 3.1"),
    PaperSetting("chianese.mocks.noise_sigma", [0.333, 0.1, 0.0333], "sec. 3.1, Table 1"),
    PaperSetting("chianese.mocks.fill_fraction", 0.3333, "sec. 5.1",
                 "'rescaled to fill roughly the central third of the source image plane': read "
                 "as the galaxy spanning a third of the decoder stamp (which spans 2 s, eq. 17); "
                 "the text does not fix the domain of d(z), so other readings exist"),
    PaperSetting("chianese.mocks.n_systems", 2, "sec. 5.1-5.3 (systems 1 and 2)",
                 "the paper analyses two systems; the preset draws 8 so that recovery and "
                 "interval coverage rest on more than two lenses (systems 0 and 1 are the "
                 "paper's two showcases, chianese.hmc.systems)"),
    # the priors (eqs. 14-23): [mean, sd, low, high], null = untruncated
    PaperSetting("priors.source_position_sd", 0.1, "eq. 14"),
    PaperSetting("priors.scale", [5.0, 1.0, None, None], "eq. 15", "s > 0: " + _TRUNCATED),
    PaperSetting("priors.intensity", [1.0, 0.5, None, None], "eq. 16", "iota > 0: " + _TRUNCATED),
    PaperSetting("priors.shear", [0.0, 1.0, None, None], "eq. 18",
                 "|gamma| <= 0.2 keeps the strong-lensing regime (a N(0, 1) shear breaks "
                 "it for most draws): " + _TRUNCATED),
    PaperSetting("priors.position_angle", [0.0, 1.0], "eq. 19",
                 "same normal; an angle of an ellipse is defined modulo pi, so draws are wrapped "
                 "to [0, pi)"),
    PaperSetting("priors.axis_ratio", [0.5, 0.5, None, None], "eq. 20",
                 "q in (0, 1]: " + _TRUNCATED + " (lower bound 0.2)"),
    PaperSetting("priors.einstein_radius", [1.5, 0.5, None, None], "eq. 21",
                 "r_Ein in [0.5, 3] arcsec: " + _TRUNCATED),
    PaperSetting("priors.slope", [2.0, 0.5, None, None], "eq. 22",
                 "the SPLE needs 1 < gamma < 3: " + _TRUNCATED + " ([1.2, 2.8])"),
    PaperSetting("priors.center_sd", 0.5, "eq. 23"),
    # inference (sec. 5.2-5.3)
    PaperSetting("chianese.inference", "paper", "sec. 5.2-5.3"),
    PaperSetting("chianese.paper_inference.adam_steps", 10000, "sec. 5.2 ('converge after ~10^4 iterations')"),
    PaperSetting("chianese.paper_inference.num_warmup", 50, "sec. 5.3"),
    PaperSetting("chianese.paper_inference.num_samples", 500, "sec. 5.3"),
    PaperSetting("chianese.hmc.systems", [0, 1], "sec. 5.3 (Figs. 8-9: systems 1 and 2)"),
)
