"""The galaxy samples the papers drew from GalSim's COSMOS releases (see
:mod:`galprior.paper_settings`).

Chianese et al. 2020 sec. 2.2 (the chianese product, ``galaxies.cosmos.chianese`` and
``galaxies.chianese``) and Lanusse et al. 2021 sec. 4.1 (the lanusse product,
``galaxies.cosmos.lanusse`` and ``galaxies.lanusse``). What the papers state without a
configuration key is fixed in the code and cited in its docstrings: Chianese crops
unequal stamps to squares and divides the training and validation images by their
maximum pixel (``galprior.data.preprocess.chianese_stamp``); Lanusse draws at the native
0.03"/pixel, convolved with the galaxy's own PSF, with noise padding, and stores the
PSF and the noise power spectrum (``galprior.data.cosmos.rendered_stamp``). The counts
the papers report (56,062 -> 17,543 galaxies for Chianese; 81,500 for Lanusse) are
outcomes of these settings on the full releases, not settings.
"""

from galprior.paper_settings import PaperSetting

SETTINGS: tuple[PaperSetting, ...] = (
    # -- both papers --------------------------------------------------------------------
    PaperSetting("galaxies.source", "cosmos",
                 "Chianese sec. 2.2; Lanusse sec. 4.1"),
    # -- Chianese et al. 2020 sec. 2.2 --------------------------------------------------
    PaperSetting(
        "galaxies.cosmos.chianese.catalogue_file", "real_galaxy_catalog_23.5.fits",
        "Chianese sec. 2.2",
        "read: the paper names no file but '56,062 images ... used for the GREAT3 "
        "challenge' (Mandelbaum et al. 2014; 'Team 2019', the Zenodo record 3242143); "
        "56,062 is the size of GalSim's F814W < 23.5 release, whose catalogue this is "
        "(the larger 25.2 release is the other reading)"),
    PaperSetting(
        "galaxies.cosmos.chianese.exclusion_level", "viable_sersic", "Chianese sec. 2.2",
        "read: 'discard the small number of galaxies for which the Sersic fits failed or "
        "gave unphysical parameters' names no column; we keep the release's viable Sersic "
        "fits (fit_status[:, 4] in 1..4, sersicfit intensity and half-light radius > 0, "
        "the definition of its viable_sersic flag). Other readings: GalSim's 'bad_fits' "
        "(drops only galaxies whose Sersic AND bulge+disk fits failed) or extra bounds on "
        "the Sersic index and axis ratio (not applied)"),
    PaperSetting("galaxies.chianese.min_stamp_size", 64, "Chianese sec. 2.2"),
    PaperSetting("galaxies.chianese.output_size", 64, "Chianese sec. 2.2"),
    PaperSetting("galaxies.chianese.snr_min", 15, "Chianese sec. 2.2"),
    PaperSetting("galaxies.chianese.snr_max", 50, "Chianese sec. 2.2"),
    PaperSetting(
        "galaxies.chianese.snr_block", 4, "Chianese sec. 2.2",
        "read: 'I_1/4 is the image downscaled by a factor of 4' is taken as the 64 x 64 "
        "stamp averaged over 4 x 4 blocks, and sigma_noise as the pixel-noise std of that "
        "64 x 64 stamp (a block sum would raise every S/N 16-fold; the paper is silent)"),
    PaperSetting("galaxies.split_sizes.chianese.train", 15500, "Chianese sec. 2.2"),
    PaperSetting("galaxies.split_sizes.chianese.val", 1543, "Chianese sec. 2.2"),
    PaperSetting("galaxies.split_sizes.chianese.test", 500, "Chianese sec. 2.2"),
    # -- Lanusse et al. 2021 sec. 4.1 ---------------------------------------------------
    PaperSetting("galaxies.cosmos.lanusse.catalogue_file", "real_galaxy_catalog_25.2.fits",
                 "Lanusse sec. 4.1"),
    PaperSetting("galaxies.cosmos.lanusse.exclusion_level", "marginal", "Lanusse sec. 4.1"),
    PaperSetting("galaxies.cosmos.lanusse.mag_column", "mag_auto", "Lanusse sec. 4.1"),
    PaperSetting(
        "galaxies.cosmos.lanusse.hlr_column", "hlr", "Lanusse sec. 4.1",
        "the release's hlr column holds three radii (Sersic, bulge, disk) and the paper "
        "does not say which; we take the Sersic one (hlr[:, 0])"),
    PaperSetting("galaxies.cosmos.lanusse.redshift_column", "zphot", "Lanusse sec. 4.1"),
    PaperSetting(
        "galaxies.split_sizes.lanusse.train", 80000, "Lanusse sec. 4.1",
        "80,000 + 1,500 is the whole marginal sample (81,500), so a validation split must "
        "come out of one of them: train takes every galaxy left after val and test "
        "(null; 79,500 of 81,500), and a fixed 80,000 would fail on a sample that is a "
        "few galaxies short of the paper's rounded count"),
    PaperSetting(
        "galaxies.split_sizes.lanusse.val", None, "Lanusse sec. 4.1",
        "the paper states no validation split (it trains a fixed number of steps); the "
        "preset sets 500 galaxies aside from the training set to monitor the losses"),
    PaperSetting("galaxies.split_sizes.lanusse.test", 1500, "Lanusse sec. 4.1"),
    PaperSetting("galaxies.lanusse.stamp_size", 128, "Lanusse sec. 4.1"),
)
