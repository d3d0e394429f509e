"""Settings Adam et al. 2022 state for the score prior and its posterior sampling (see
:mod:`galprior.paper_settings`): sec. 2.2, sec. 3, app. B, the captions of Figs. 1-3 and the
checklist (3b: "Our networks and training setup is practically identical to the one in Song
et al. [22], with the exception of the smaller batch size")."""

from galprior.paper_settings import PaperSetting

#: The paper names the network, not its settings.
NCSNPP = ("the paper names NCSN++, not its settings: those of the reference's 256^2 VE configuration "
          "(score_sde_pytorch configs/ve/celebahq_256_ncsnpp_continuous.py; 65,542,023 weights, as our port)")
NCSNPP_SOURCE = "sec. 3 and fn. 1 (NCSN++ of Song et al. [22])"
#: The training setup beyond batch size and steps.
SONG = ("the paper says only 'practically identical to Song et al. [22]' (checklist 3b): the reference's "
        "optimiser settings (configs/default_lsun_configs.py, which the 256^2 configs use)")
SONG_SOURCE = "checklist 3(b), Song et al. [22]"

SETTINGS: tuple[PaperSetting, ...] = (
    # data (sec. 3)
    PaperSetting("adam.training_product", "probes", "sec. 3 (PROBES [33, 34], 2,059 galaxies)"),
    PaperSetting("adam.probes.band", "g", "sec. 3 ('the results shown in fig. 1 are in the g band')"),
    PaperSetting("adam.source_size", 256, "sec. 3 ('2059 galaxies with 256x256 pixels')"),
    PaperSetting("adam.probes.crop", 256, "sec. 3 ('256x256 pixels'), Smith et al. [19]",
                 "the paper gives the images' size, not how they were cut: read as Smith et al.'s central "
                 "256 x 256 of their 512 x 512 Legacy Surveys cut-outs (their preprocess.py; null keeps the "
                 "whole cut-out, resampled to 256)"),
    PaperSetting("adam.normalisation", "smith2022", "sec. 3 ('sec. 3.1 of Smith et al. [19]')",
                 "Smith et al.'s sec. 3.1 is not in the paper: implemented from their released code "
                 "(github.com/Smith42/astroddpm: clip to [0, 5.5] nanomaggies, map to [-1, 1]); sigma_max = "
                 "263.4 agrees, since images in [0, 1] are never more than 256 apart at 256^2. The other "
                 "reading, unit-peak images in [0, 1], is adam.normalisation: unit_peak"),
    PaperSetting("adam.probes.clip_level", 5.5, "sec. 3 via Smith et al. [19]",
                 "not printed in either paper: the clip level of Smith et al.'s released data loader"),
    # the VE SDE (sec. 2.2, 3)
    PaperSetting("adam.score_model.sigma_min", 1.0e-4, "sec. 3"),
    PaperSetting("adam.score_model.sigma_max", 263.4, "sec. 3 (Technique 1 of [32])",
                 "the paper's estimate on its training set; null estimates it on ours the same way"),
    # the network (sec. 3: the reference NCSN++)
    PaperSetting("adam.score_model.architecture.base_width", 128, NCSNPP_SOURCE, NCSNPP),
    PaperSetting("adam.score_model.architecture.channel_multipliers", [1, 1, 2, 2, 2, 2, 2], NCSNPP_SOURCE, NCSNPP),
    PaperSetting("adam.score_model.architecture.n_res_blocks", 2, NCSNPP_SOURCE, NCSNPP),
    PaperSetting("adam.score_model.architecture.attention", True, NCSNPP_SOURCE, NCSNPP),
    PaperSetting("adam.score_model.architecture.attention_resolutions", [16], NCSNPP_SOURCE, NCSNPP),
    PaperSetting("adam.score_model.architecture.dropout", 0.0, NCSNPP_SOURCE, NCSNPP),
    PaperSetting("adam.score_model.architecture.fourier_scale", 16.0, NCSNPP_SOURCE, NCSNPP),
    PaperSetting("adam.score_model.architecture.fir", True, NCSNPP_SOURCE, NCSNPP),
    PaperSetting("adam.score_model.architecture.fir_kernel", [1, 3, 3, 1], NCSNPP_SOURCE, NCSNPP),
    PaperSetting("adam.score_model.architecture.skip_rescale", True, NCSNPP_SOURCE, NCSNPP),
    PaperSetting("adam.score_model.architecture.progressive_input", "input_skip", NCSNPP_SOURCE, NCSNPP),
    PaperSetting("adam.score_model.architecture.progressive_output", "output_skip", NCSNPP_SOURCE, NCSNPP),
    PaperSetting("adam.score_model.architecture.init_scale", 0.0, NCSNPP_SOURCE, NCSNPP),
    PaperSetting("adam.score_model.architecture.input_scaling", False, NCSNPP_SOURCE,
                 "the reference feeds x unscaled; our input / sqrt(1 + sigma^2) (true) is for small networks"),
    PaperSetting("adam.score_model.architecture.preconditioning", "none", NCSNPP_SOURCE,
                 "the network's output is eps_theta; our EDM preconditioning (edm) is for small networks"),
    # training (sec. 3, checklist)
    PaperSetting("adam.score_model.training.batch_size", 16, "sec. 3"),
    PaperSetting("adam.score_model.training.steps", 350000, "sec. 3 ('~350 000 optimization steps')"),
    PaperSetting("adam.score_model.training.lr", 2.0e-4, SONG_SOURCE, SONG),
    PaperSetting("adam.score_model.training.warmup_steps", 5000, SONG_SOURCE, SONG),
    PaperSetting("adam.score_model.training.grad_clip", 1.0, SONG_SOURCE, SONG),
    PaperSetting("adam.score_model.training.ema_decay", 0.999, SONG_SOURCE, SONG),
    # mock lenses (sec. 3, Figs. 1 and 3)
    PaperSetting("adam.mocks.slope", 2.0, "sec. 3 ('singular isothermal ellipsoid (SIE) plus external shear')"),
    PaperSetting("adam.mocks.n_render", 256, "sec. 3 ('noise-free images at 256x256 resolution')"),
    PaperSetting("adam.mocks.pool_factor", 2, "sec. 3 ('pixelate at 128x128 resolution with average pooling')"),
    PaperSetting("adam.mocks.relative_noise", 0.01, "Fig. 3 ('the noise level in the data is sigma_N = 0.01')",
                 "printed as a number in the data's unit: read as 0.01 of the smith2022 brightness unit "
                 "(s = (x + 1) / 2, the clip level), adam.mocks.noise_reference: brightness_unit; "
                 "source_peak reads it as 0.01 of each source's peak"),
    PaperSetting("adam.mocks.noise_reference", "brightness_unit", "Fig. 3 ('sigma_N = 0.01')",
                 "how sigma_N = 0.01 is read (adam.mocks.relative_noise); the data's unit is not printed"),
    PaperSetting("adam.mocks.n_systems", 1, "sec. 3 and Fig. 1 ('a simulated lens from our test set')",
                 "the paper shows one test lens; we draw four to see more than one"),
    # posterior sampling (sec. 2.2, 3, app. B, Figs. 1-2)
    PaperSetting("adam.sde.steps.euler_maruyama", 8000, "sec. 2.2, app. B, Fig. 1"),
    PaperSetting("adam.sde.probability", 0.99, "app. B ('p(8000) = 0.99')"),
    PaperSetting("adam.sde.n_samples", 320, "sec. 3 and Fig. 1 ('320 posterior samples')"),
    PaperSetting("adam.sde.solvers", ["euler_maruyama"], "sec. 2.2 and app. B (eq. 20)"),
    PaperSetting("adam.sde.stability_refinement", False, "app. B (N = 8000 uniform steps of eq. 20)"),
    PaperSetting("adam.sde.likelihood.covariance", "identity", "sec. 2.2 and app. A (eq. 19, A A^T ~ 1)"),
    PaperSetting("adam.ood.solver", "euler_maruyama", "sec. 2.2, Fig. 2 (the paper's one solver)"),
    PaperSetting("adam.ood.n_samples", 1, "Fig. 2 ('a sample from their corresponding source posterior')"),
    PaperSetting("adam.ood.glyph", "7", "sec. 3 and fn. 2 (a DALL-E 2 galaxy 'in the shape of the number 7')",
                 "the paper's DALL-E 2 image is not published: we draw the character 7"),
)
