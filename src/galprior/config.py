"""Checks of a workflow configuration that a JSON schema cannot express.

The schema (``workflow/schemas/config.schema.yaml``) fixes keys, types and defaults;
:func:`check_config` then checks what depends on the file system or on several keys
at once, so that the run stops at start-up with a message naming the key. Input files
the configuration needs but the workflow does not make are listed by
:func:`missing_inputs`, one message each, all in one error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


DOWNLOAD_NAMES = ("COSMOS_25.2_training_sample", "COSMOS_23.5_training_sample")
#: The paper each galaxy product reproduces (for messages about its COSMOS sample).
PRODUCT_PAPERS = {"chianese": "Chianese et al. 2020", "lanusse": "Lanusse et al. 2021"}
#: GalSim exclusion levels that read the ``_selection`` catalogue (galsim/galaxy_sample.py
#: ``_apply_exclusion``; the same table as ``galprior.data.cosmos.EXCLUSION_COLUMNS``,
#: kept here so that the start-up check does not import GalSim).
SELECTION_LEVELS = ("bad_stamp", "marginal")


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the key."""


def galaxy_sources(config: dict[str, Any]) -> list[str]:
    """Every galaxy source the configuration prepares (main source first)."""
    galaxies = config["galaxies"]
    return list(dict.fromkeys([galaxies["source"], *galaxies["extra_sources"]]))


def cosmos_samples(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The COSMOS sample (``galaxies.cosmos.<product>``) of each product the run prepares
    from the source 'cosmos'; empty when no galaxy source is 'cosmos'."""
    if "cosmos" not in galaxy_sources(config):
        return {}
    return {product: config["galaxies"]["cosmos"][product]
            for product in config["galaxies"]["products"]}


def cosmos_download_dirs(config: dict[str, Any]) -> list[str]:
    """The folders rule ``download_cosmos`` fills: those of the samples with ``download: true``."""
    return sorted({sample["directory"] for sample in cosmos_samples(config).values()
                   if sample["download"] and sample["directory"] is not None})


def _release(sample: dict[str, Any]) -> str | None:
    """GalSim's release ('23.5' or '25.2') that a sample's catalogue file names, if any."""
    for release in ("23.5", "25.2"):
        if release in sample["catalogue_file"]:
            return release
    return None


def check_cosmos_download(product: str, sample: dict[str, Any]) -> None:
    """A sample to download names one of GalSim's archives by its folder, and its catalogue
    file is the one of that archive."""
    key = f"galaxies.cosmos.{product}"
    directory = sample["directory"]
    if directory is None or Path(directory).name not in DOWNLOAD_NAMES:
        raise ConfigError(
            f"{key}.directory: {directory} must end in one of {DOWNLOAD_NAMES} when "
            f"{key}.download is true (the folders of GalSim's 23.5 and 25.2 archives, which "
            "rule download_cosmos unpacks)")
    release = Path(directory).name.split("_")[1]
    expected = f"real_galaxy_catalog_{release}.fits"
    if sample["catalogue_file"] != expected:
        raise ConfigError(
            f"{key}.catalogue_file: {sample['catalogue_file']} is not in the {release} archive "
            f"that {key}.directory ({directory}) names; it holds {expected}")


def _how_to_get(product: str, release: str | None) -> str:
    """How a user gets the COSMOS sample of ``product`` (download rule, GalSim's script, URL)."""
    key = f"galaxies.cosmos.{product}"
    if release is None:
        return f"set {key}.directory to the folder that holds it"
    from galprior.data.download import COSMOS_SAMPLES  # only when something is missing

    folder = f"resources/COSMOS_{release}_training_sample"
    return (f"get it with {key}.download: true and {key}.directory: {folder} (rule "
            f"download_cosmos fetches and unpacks it), or run `galsim_download_cosmos -s "
            f"{release} -d resources/` (or unpack {COSMOS_SAMPLES[release]}) and set "
            f"{key}.directory: {folder}")


def missing_cosmos_inputs(config: dict[str, Any]) -> list[str]:
    """One message per missing COSMOS input of the products prepared from 'cosmos'.

    For each sample not downloaded by the workflow: its folder, its catalogue, the
    ``_fits`` catalogue beside it and, for GalSim's exclusion levels 'bad_stamp' and
    'marginal', the ``_selection`` catalogue; each message says what the input is,
    the configuration key that points at it and how to get it.
    """
    messages = []
    for product, sample in cosmos_samples(config).items():
        if sample["download"]:
            continue  # rule download_cosmos makes the folder (checked by check_cosmos_download)
        key = f"galaxies.cosmos.{product}"
        release = _release(sample)
        what = (f"the COSMOS F814W < {release} training sample" if release
                else f"the COSMOS sample {sample['catalogue_file']}")
        what += f" of {PRODUCT_PAPERS[product]} (the {product} product)"
        how = _how_to_get(product, release)
        directory = sample["directory"]
        if directory is None:
            messages.append(f"{key}.directory is null, but a galaxy source is 'cosmos': it "
                            f"must point at {what}; {how}")
            continue
        path = Path(directory).expanduser()
        if not path.is_dir():
            messages.append(f"{key}.directory: {directory} is not a directory; it must hold "
                            f"{what}; {how}")
            continue
        catalogue = sample["catalogue_file"]
        files = [(catalogue, f"{key}.catalogue_file: {path / catalogue} does not exist; "
                             f"expected the RealGalaxyCatalog FITS file of {what}")]
        fits_name = catalogue.replace(".fits", "_fits.fits")
        files.append((fits_name, f"{path / fits_name} does not exist; expected the "
                                 f"parametric-fit catalogue of {what}, which is read beside "
                                 f"{key}.catalogue_file"))
        if sample["exclusion_level"] in SELECTION_LEVELS:
            name = catalogue.replace(".fits", "_selection.fits")
            files.append((name, f"{path / name} does not exist; expected the selection "
                                f"catalogue of {what}, which {key}.exclusion_level "
                                f"'{sample['exclusion_level']}' reads (GalSim's cut; 'none' "
                                "or 'viable_sersic' do without it)"))
        messages += [f"{message}; {how}" for name, message in files
                     if not (path / name).is_file()]
    return messages


CATSIM_URL = "https://stanford.box.com/s/s1nzjlinejpqandudjyykjejyxtgylbk"
DES_SVA1_URL = "https://des.ncsa.illinois.edu/releases/sva1"
DES_CUTOUT_URL = "https://datalab.noirlab.edu/"


def missing_nguyen_inputs(config: dict[str, Any]) -> list[str]:
    """One message per missing input of the Nguyen 2025 deblender: the CatSim catalogue
    (``nguyen.catalogue.file``) and the real DES im3shape catalogue and cutouts
    (``nguyen.des.real``)."""
    if "nguyen" not in config["systems"]:
        return []
    nguyen, messages = config["nguyen"], []
    catalogue = nguyen["catalogue"]
    if catalogue["source"] == "file":
        what = ("the CatSim galaxy catalogue BlendingToolKit draws the blends from (Nguyen 2025 "
                "sec. 3.1.2; the full one is BTK's OneDegSq.fits, about 130 MB)")
        how = (f"download it from the BlendingToolKit catalogue page ({CATSIM_URL}) and put it "
               "there, or point nguyen.catalogue.file at a local copy, or set "
               "nguyen.catalogue.source: embedded (simulated CatSim-like galaxies, no download)")
        if not catalogue["file"]:
            messages.append(f"nguyen.catalogue.file is empty, but nguyen.catalogue.source is "
                            f"'file': it must name {what}; {how}")
        elif not Path(catalogue["file"]).expanduser().is_file():
            messages.append(f"nguyen.catalogue.file: {catalogue['file']} does not exist; "
                            f"expected {what}; {how}")
    real = nguyen["des"]["real"]
    inputs = {"catalogue": ("the DES SV im3shape shape catalogue (Jarvis et al. 2016) with the "
                            f"columns of nguyen.des.real.columns; get it from {DES_SVA1_URL}",
                            Path.is_file),
              "cutouts": ("the folder of per-band DES DR1 cutouts named by "
                          "nguyen.des.real.cutout_pattern; request them from the NOIRLab Astro "
                          f"Data Lab cutout service ({DES_CUTOUT_URL})", Path.is_dir)}
    for key, (what, exists) in inputs.items():
        value = real[key]
        if value and not exists(Path(value).expanduser()):
            messages.append(f"nguyen.des.real.{key}: {value} does not exist; expected {what} "
                            "(or set nguyen.des.real.catalogue and .cutouts to null to skip "
                            "the real-DES evaluation)")
    return messages


#: Where the PROBES images come from, for the message of a missing folder.
PROBES_SOURCE = (
    "PROBES (Stone, Courteau & Arora 2021, ApJ 912, 41; the 2,059 galaxies Adam et al. 2022 train on) "
    "is not downloaded by this workflow: fetch the galaxies' DESI Legacy Surveys cut-outs, one FITS file "
    "per galaxy and band named <galaxy>_<band>.fits (512 x 512 pixels of 0.262\", layer ls-dr9, from "
    "https://www.legacysurvey.org/viewer/fits-cutout), e.g. with data/probes/get_probes.sh of "
    "https://github.com/Smith42/astroddpm (Smith et al. 2022), into that folder"
)


def _has_probes_files(directory: Path, band: str) -> bool:
    from galprior.data.probes import find_probes_files  # astropy only when the folder exists

    try:
        find_probes_files(directory, band)
    except (FileNotFoundError, ValueError):
        return False
    return True


def missing_probes_inputs(config: dict[str, Any]) -> list[str]:
    """The PROBES folder of Adam et al. 2022 when the score prior learns from it: one message
    saying what it is, the key that points at it and how to get it."""
    messages = []
    adam = config["adam"]
    if "adam" in config["systems"] and adam["training_product"] == "probes":
        directory, band = adam["probes"]["directory"], adam["probes"]["band"]
        if directory is None:
            messages.append(f"adam.probes.directory is null, but adam.training_product is probes: set it to "
                            f"a folder of PROBES cut-outs. {PROBES_SOURCE}.")
        elif not _has_probes_files(Path(directory).expanduser(), band):
            what = "is not a folder" if not Path(directory).expanduser().is_dir() else \
                f"holds no FITS file of band {band!r}"
            messages.append(f"adam.probes.directory: {directory} {what}, but adam.training_product is "
                            f"probes. {PROBES_SOURCE}.")
    return messages


#: The checks of :func:`missing_inputs`, one per kind of input file (systems add theirs).
MISSING_INPUT_CHECKS: list[Callable[[dict[str, Any]], list[str]]] = [
    missing_cosmos_inputs, missing_nguyen_inputs, missing_probes_inputs]


def missing_inputs(config: dict[str, Any]) -> list[str]:
    """Every input file the configuration needs that is neither there nor made by the
    workflow, one message each (what it is, the key that points at it, how to get it)."""
    return [message for check in MISSING_INPUT_CHECKS for message in check(config)]


def cosmos_options(config: dict[str, Any], product: str) -> dict[str, Any]:
    """Options of the COSMOS reader for ``product`` (the workflow's own keys removed)."""
    return {k: v for k, v in config["galaxies"]["cosmos"][product].items()
            if k not in ("download", "split_sizes")}


def split_sizes(config: dict[str, Any], source: str, product: str) -> dict[str, int | None]:
    """Split sizes of one source and product (a COSMOS sample may override the common ones)."""
    override = config["galaxies"]["cosmos"][product]["split_sizes"] if source == "cosmos" else None
    return override or config["galaxies"]["split_sizes"][product]


def check_adam(adam: dict[str, Any]) -> None:
    """Sizes of the score prior that its network cannot take."""
    levels = len(adam["score_model"]["architecture"]["channel_multipliers"])
    if adam["source_size"] % 2 ** (levels - 1):
        raise ConfigError(
            f"adam.source_size ({adam['source_size']}) must be divisible by 2^{levels - 1}: "
            f"adam.score_model.architecture.channel_multipliers has {levels} resolutions, each half the last"
        )
    covariance = adam["sde"]["likelihood"]["covariance"]
    if covariance != "identity":
        from galprior.lensing.operator import DENSE_SPECTRUM_LIMIT   # torch: only for these forms

        if adam["source_size"] ** 2 > DENSE_SPECTRUM_LIMIT:
            raise ConfigError(
                f"adam.sde.likelihood.covariance {covariance!r} needs a dense A^T A of the source, at most "
                f"{DENSE_SPECTRUM_LIMIT} pixels, but adam.source_size is {adam['source_size']}: set it to "
                f"'identity' (eq. 19, the paper's) for sources above 64^2"
            )
    if covariance == "tweedie" and adam["score_model"]["architecture"]["preconditioning"] != "edm":
        raise ConfigError("adam.sde.likelihood.covariance 'tweedie' takes the training pixel variance from "
                          "adam.score_model.architecture.preconditioning: edm (sigma_data); use 'exact' or "
                          "'identity' with another preconditioning")


# -- cross-field constraints the rules rely on (each refused by name at start-up) ---------

#: The bounded priors, ``[mean, sd, low, high]`` (the schema bounds each entry alone).
BOUNDED_PRIORS = ("einstein_radius", "slope", "axis_ratio", "shear", "intensity", "scale")


def check_prior_bounds(config: dict[str, Any]) -> None:
    """Each truncated prior has ``low < high`` and no upper bound without a lower one
    (:class:`galprior.lensing.priors.LensSourcePrior` refuses both; the schema bounds
    each entry on its own: sd > 0, q in (0, 1], the EPL slope in (1, 3))."""
    for name in BOUNDED_PRIORS:
        mean, sd, low, high = config["priors"][name]
        if low is None and high is not None:
            raise ConfigError(f"priors.{name}: {config['priors'][name]} has an upper bound "
                              f"({high}) but no lower bound; give both or neither")
        if low is not None and high is not None and not low < high:
            raise ConfigError(f"priors.{name}: {config['priors'][name]} truncates to "
                              f"[low, high] = [{low}, {high}]; low must be below high")


#: Side of the Chianese VAE's bottleneck feature map (galprior.models.vae.network
#: ``BOTTLENECK_SIZE``): its stride-2 layers need image_size = 4 * 2**k, k >= 1.
VAE_BOTTLENECK_SIZE = 4


def check_sizes(config: dict[str, Any]) -> None:
    """Image sizes that must divide or fit one another, for the systems the run builds.

    - ``galaxies.chianese.snr_block`` divides ``galaxies.chianese.output_size`` (the
      S/N of Chianese sec. 2.2 is a maximum over whole blocks; ``block_mean`` would pad
      a partial block with zeros);
    - ``chianese.vae.architecture.image_size`` is 4 * 2**k, k >= 1 (the VAE halves it
      down to a 4 x 4 bottleneck, Chianese app. D);
    - ``lanusse.image_size`` is divisible by 2**``lanusse.vae.architecture.n_stages``
      (each stage halves it, Lanusse Table 1) and at most ``galaxies.lanusse.stamp_size``
      (the model's images are cut from those stamps).
    """
    galaxies, systems = config["galaxies"], config["systems"]
    if "chianese" in galaxies["products"]:
        size, block = galaxies["chianese"]["output_size"], galaxies["chianese"]["snr_block"]
        if size % block:
            raise ConfigError(f"galaxies.chianese.snr_block ({block}) must divide "
                              f"galaxies.chianese.output_size ({size}): the S/N is the "
                              f"brightest {block} x {block} block of the stamp")
    if "chianese" in systems:
        size = config["chianese"]["vae"]["architecture"]["image_size"]
        ratio = size // VAE_BOTTLENECK_SIZE
        if size % VAE_BOTTLENECK_SIZE or ratio < 2 or ratio & (ratio - 1):
            raise ConfigError(f"chianese.vae.architecture.image_size ({size}) must be "
                              f"{VAE_BOTTLENECK_SIZE} * 2**k with k >= 1 (8, 16, 32, 64, ...): "
                              f"the VAE halves it down to a {VAE_BOTTLENECK_SIZE}-pixel bottleneck")
    if "lanusse" in systems:
        size = config["lanusse"]["image_size"]
        stages = config["lanusse"]["vae"]["architecture"]["n_stages"]
        if size % 2**stages:
            raise ConfigError(f"lanusse.image_size ({size}) must be divisible by 2**"
                              f"lanusse.vae.architecture.n_stages (2**{stages} = {2**stages}): "
                              "each stage halves the image")
        stamp = galaxies["lanusse"]["stamp_size"]
        if size > stamp:
            raise ConfigError(f"lanusse.image_size ({size}) must be at most "
                              f"galaxies.lanusse.stamp_size ({stamp}): the images are cut "
                              "from those stamps")


def check_mock_sources(config: dict[str, Any]) -> None:
    """Each mock-lens system has its own test galaxy: ``chianese.mocks.n_systems`` is at
    most the Chianese product's test split, ``adam.mocks.n_systems`` at most the test split
    of the score galaxies (PROBES, ``adam.probes.split_sizes.test``, or the galaxy product
    ``adam.training_product``; :func:`galprior.lensing.products.choose_galaxies`)."""
    source = config["galaxies"]["source"]

    def product_test(product: str) -> tuple[int, str]:
        key = (f"galaxies.cosmos.{product}.split_sizes.test"
               if source == "cosmos" and config["galaxies"]["cosmos"][product]["split_sizes"]
               else f"galaxies.split_sizes.{product}.test")
        return split_sizes(config, source, product)["test"], key

    tests = {}
    if "chianese" in config["galaxies"]["products"]:
        tests["chianese"] = product_test("chianese")
    adam = config["adam"]
    if adam["training_product"] == "probes":
        tests["adam"] = adam["probes"]["split_sizes"]["test"], "adam.probes.split_sizes.test"
    elif adam["training_product"] in config["galaxies"]["products"]:
        tests["adam"] = product_test(adam["training_product"])
    for system, (test, key) in tests.items():
        n_systems = config[system]["mocks"]["n_systems"]
        if system in config["systems"] and n_systems > test:
            raise ConfigError(f"{system}.mocks.n_systems ({n_systems}) must be at most {key} "
                              f"({test}): every mock system lenses its own test galaxy")


def check_output_dir(config: dict[str, Any]) -> None:
    """``output_dir`` can be written: its nearest existing folder accepts a new file.

    The probe is a real file, created and removed at once: ``os.access`` answers yes to
    root in a folder without write permission, where a job on a cluster node running as
    another user would fail.
    """
    import os
    import tempfile

    value = config["output_dir"]
    existing = Path(value)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"output_dir: {value} cannot be written: {existing.resolve()} is a "
                          "file, not a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=".galprior-write-test-", dir=existing)
    except OSError as err:
        raise ConfigError(f"output_dir: {value} cannot be written: creating a file in "
                          f"{existing.resolve()} failed ({err.strerror})") from err
    os.close(handle)
    os.unlink(probe)


#: The yield of the simulated galaxy source, measured once by
#: ``benchmarks/bench_simulated_yield.py --batches 30`` (default simulated options and
#: product cuts, one process, OMP_NUM_THREADS=1, on the project's 2-core development
#: machine, 2026-12): galaxies drawn
#: per CPU second and, per product, galaxies drawn and kept (the Chianese cuts keep 13 %,
#: the Lanusse product all). The start-up estimate of a preparation uses them; with other
#: simulated options or cuts it is an estimate of the same order, not a measurement.
SIMULATED_YIELD = {"draws_per_cpu_second": {"chianese": 160.0, "lanusse": 94.0},
                   "drawn": {"chianese": 3000, "lanusse": 3000},
                   "kept": {"chianese": 400, "lanusse": 3000}}


def _kept_fraction_bound(product: str) -> float:
    """An optimistic bound on the fraction of drawn galaxies ``product`` keeps: the
    measured fraction plus three binomial standard errors (so that the check refuses only
    what even a lucky draw cannot give)."""
    drawn, kept = SIMULATED_YIELD["drawn"][product], SIMULATED_YIELD["kept"][product]
    p = kept / drawn
    return min(1.0, p + 3 * (p * (1 - p) / drawn) ** 0.5)


def check_simulated_yield(config: dict[str, Any]) -> None:
    """The simulated source can give the requested splits: every split has a size, and
    the galaxies each preparation shard must draw (its quota over the product's kept
    fraction, :data:`SIMULATED_YIELD`) fit both ``galaxies.simulated.max_galaxies`` (the
    run stops there) and the shard's wall-clock limit ``resources.prepare_galaxies.runtime``
    at the measured drawing rate with ``galaxies.simulated.workers`` processes."""
    if "simulated" not in galaxy_sources(config):
        return
    galaxies = config["galaxies"]
    options, n_shards = galaxies["simulated"], galaxies["n_shards"]
    workers = max(1, options["workers"])
    resources = {**config["resources"].get("default", {}),
                 **config["resources"].get("prepare_galaxies", {})}
    for product in galaxies["products"]:
        sizes = split_sizes(config, "simulated", product)
        key = f"galaxies.split_sizes.{product}"
        unsized = [name for name, size in sizes.items() if size is None]
        if unsized:
            raise ConfigError(f"{key}: {sizes} leaves {unsized} without a size, but the "
                              "simulated source draws until the request is met: give every "
                              "split a size")
        needed = sum(sizes.values())
        quota = -(-needed // n_shards)
        draws = quota / _kept_fraction_bound(product)
        rate = SIMULATED_YIELD["draws_per_cpu_second"][product]
        hours = draws / (rate * workers) / 3600
        estimate = (f"{key}: {sizes} ({needed} galaxies, {quota} per shard of "
                    f"galaxies.n_shards = {n_shards}) needs about {draws:,.0f} draws per shard "
                    f"(the {product} product keeps at most {_kept_fraction_bound(product):.3f} "
                    f"of the simulated galaxies), about {hours:,.1f} hours per shard at "
                    f"{rate} draws per CPU second with galaxies.simulated.workers = {workers}")
        limit = options["max_galaxies"]
        if limit is not None and draws > -(-limit // n_shards):
            raise ConfigError(f"{estimate}; but galaxies.simulated.max_galaxies ({limit}, "
                              f"{-(-limit // n_shards)} per shard) stops the preparation "
                              "before: request fewer galaxies, or raise max_galaxies or "
                              "galaxies.n_shards")
        runtime = resources.get("runtime")
        if runtime is not None and hours * 60 > runtime:
            raise ConfigError(f"{estimate}; but resources.prepare_galaxies.runtime allows "
                              f"{runtime} minutes per job: request fewer galaxies, or raise "
                              "galaxies.n_shards, galaxies.simulated.workers or that runtime")


def _fits_rows(path: Path) -> int | None:
    """Rows of the first table of a FITS file (its header only), None if unreadable."""
    from astropy.io import fits  # only when a COSMOS catalogue is configured

    try:
        return int(fits.getheader(path, 1)["NAXIS2"])
    except (OSError, KeyError, IndexError, ValueError):
        return None  # the reader reports a damaged catalogue by name when the job runs


def check_cosmos_sample_size(config: dict[str, Any]) -> None:
    """A COSMOS sample already on disk holds at least the galaxies its splits request
    (the catalogue's rows, before any cut: a bound the cuts only lower)."""
    for product, sample in cosmos_samples(config).items():
        if sample["download"] or sample["directory"] is None:
            continue
        catalogue = Path(sample["directory"]).expanduser() / sample["catalogue_file"]
        rows = _fits_rows(catalogue) if catalogue.is_file() else None
        if rows is None:
            continue
        sizes = split_sizes(config, "cosmos", product)
        needed = sum(size for size in sizes.values() if size is not None)
        if None in sizes.values():
            needed += 1  # 'every galaxy left' must leave at least one
        key = (f"galaxies.cosmos.{product}.split_sizes" if sample["split_sizes"]
               else f"galaxies.split_sizes.{product}")
        if needed > rows:
            raise ConfigError(f"{key}: {sizes} requests {needed} galaxies, but the COSMOS "
                              f"sample {catalogue} holds {rows} before its cuts")


#: The cross-field checks of :func:`check_config`, in order (systems add theirs).
CONSISTENCY_CHECKS: list[Callable[[dict[str, Any]], None]] = [
    check_prior_bounds, check_sizes, check_mock_sources, check_output_dir,
    check_simulated_yield, check_cosmos_sample_size]


def check_config(config: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the first key whose value cannot work, or listing
    every missing input file (:func:`missing_inputs`) in one message."""
    for product, sample in cosmos_samples(config).items():
        if sample["download"]:
            check_cosmos_download(product, sample)
    check_adam(config["adam"])
    chianese = config["chianese"]
    image_size = chianese["vae"]["architecture"]["image_size"]
    output_size = config["galaxies"]["chianese"]["output_size"]
    if image_size != output_size:
        raise ConfigError(
            f"chianese.vae.architecture.image_size ({image_size}) must equal "
            f"galaxies.chianese.output_size ({output_size}): the VAE learns those images"
        )
    for system in chianese["hmc"]["systems"]:
        if system >= chianese["mocks"]["n_systems"]:
            raise ConfigError(
                f"chianese.hmc.systems: system {system} does not exist; "
                f"chianese.mocks.n_systems is {chianese['mocks']['n_systems']}"
            )
    for check in CONSISTENCY_CHECKS:
        check(config)
    missing = missing_inputs(config)
    if missing:
        raise ConfigError(f"{len(missing)} input(s) of this configuration are missing:\n- "
                          + "\n- ".join(missing))


def check_resources(config: dict[str, Any], rule_names: list[str]) -> None:
    """Every key of ``resources`` but ``default`` names a rule of the workflow."""
    unknown = sorted(set(config["resources"]) - {"default"} - set(rule_names))
    if unknown:
        raise ConfigError(
            f"resources: {unknown} name no rule of this workflow; rules are "
            f"{sorted(rule_names)}"
        )


SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def _defaults(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """The default value a (sub-)schema gives, with the defaults of its properties filled in."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = {**root["$defs"][name], **{k: v for k, v in schema.items() if k != "$ref"}}
    value = schema.get("default")
    if isinstance(value, dict) and "properties" in schema:
        value = dict(value)
        for key, sub in schema["properties"].items():
            if key not in value:
                default = _defaults(sub, root)
                if default is not None or "default" in sub:
                    value[key] = default
    return value


def schema_defaults(schema_path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """The configuration the schema gives when every key is left out (the one home of
    every default: code, tests and benchmarks read defaults from here)."""
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    return _defaults({**schema, "default": {}}, schema)


def check_device(config: dict[str, Any], workflow: Any) -> None:
    """``device: cuda`` without a visible CUDA device stops a local run at start-up.

    Runs only in the main process of a local run: jobs submitted to a cluster check on
    their node (:func:`galprior.device.resolve_device`), where the GPU is.
    """
    if config["device"] != "cuda" or not (workflow.is_main_process and workflow.local_exec):
        return
    from galprior.device import DeviceError, resolve_device  # torch only when needed

    try:
        resolve_device("cuda")
    except DeviceError as err:
        raise ConfigError(str(err)) from err


def _overlay(base: Any, override: Any) -> Any:
    """``override`` on ``base``: mappings merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{key: _overlay(base.get(key), value) for key, value in override.items()}}
    return override


def load_config(*config_files: str | Path, schema_path: str | Path = SCHEMA_PATH,
                check: bool = True) -> dict[str, Any]:
    """The configuration a workflow run with ``--configfile`` ``config_files`` (in order)
    sees: each file overlaid on the schema defaults, validated against the schema and
    :func:`check_config` as the Snakefile does, for scripts outside Snakemake
    (benchmarks). A missing file, a file that is not a mapping, or a key or value the
    schema refuses (a misspelt key too) is refused by name. ``check=False`` skips
    :func:`check_config` (what depends on files that may not be on this machine)."""
    import jsonschema
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    config = schema_defaults(schema_path)
    for path in config_files:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"config file {path}: expected a mapping of keys, got {type(loaded).__name__}")
        config = _overlay(config, loaded)
    error = jsonschema.exceptions.best_match(jsonschema.validators.validator_for(schema)(schema).iter_errors(config))
    if error is not None:
        where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        raise ConfigError(f"config files {[str(p) for p in config_files]}: {where}: {error.message}")
    if check:
        check_config(config)
    return config


# -- the configuration reference, generated from the schema ------------------------------

def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return {**root["$defs"][name], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _type_text(schema: dict[str, Any]) -> str:
    kind = schema.get("type", "")
    kinds = kind if isinstance(kind, list) else [kind]
    text = " or ".join(str(k) for k in kinds if k)
    if "enum" in schema:
        text = "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    bounds = [f"{op} {schema[key]}" for key, op in (("minimum", ">="), ("exclusiveMinimum", ">"),
                                                    ("maximum", "<="), ("exclusiveMaximum", "<"))
              if key in schema]
    if schema.get("type") == "array" and "prefixItems" in schema:
        return "list [" + ", ".join(f"{item.get('description', '').split(':')[0]}: {_type_text(item)}"
                                    for item in schema["prefixItems"]) + "]"
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        items = schema["items"]
        inner = ", ".join(f"`{v}`" for v in items["enum"]) if "enum" in items else items.get("type", "")
        text = f"list of {inner}" if inner else "list"
    return text + (" (" + ", ".join(bounds) + ")" if bounds else "")


def _rows(schema: dict[str, Any], root: dict[str, Any], prefix: str,
          defaults: Any) -> list[tuple[str, str, str, str]]:
    import json

    rows = []
    for key, sub in schema.get("properties", {}).items():
        sub = _resolve(sub, root)
        path = f"{prefix}{key}"
        default = defaults.get(key) if isinstance(defaults, dict) else None
        description = " ".join(str(sub.get("description", "")).split())
        if "properties" in sub and sub.get("type") != "array":
            rows.append((path, "mapping", "", description))
            rows += _rows(sub, root, path + ".", default)
            extra = sub.get("additionalProperties")
            if isinstance(extra, dict):
                twin = [k for k, v in sub["properties"].items() if v.get("$ref") == extra.get("$ref")]
                same = f"; the keys of `{path}.{twin[0]}`" if twin and "$ref" in extra else ""
                rows.append((f"{path}.<name>", "mapping", "", " ".join(
                    str(_resolve(extra, root).get("description", "")).split()).rstrip(".") + same))
                if not same:
                    rows += _rows(_resolve(extra, root), root, f"{path}.<name>.", None)
            continue
        shown = "" if default is None and "default" not in sub else json.dumps(default)
        rows.append((path, _type_text(sub), shown, description))
    return rows


def schema_markdown(schema_path: str | Path = SCHEMA_PATH) -> str:
    """Every key of the configuration with its type, default and description (Markdown).

    ``python -m galprior.config > docs/configuration.md``; a test checks that the file is
    current, so the reference cannot drift from the schema (the one home of defaults).
    """
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    defaults = schema_defaults(schema_path)
    lines = ["# Configuration reference", "",
             "Generated by `python -m galprior.config` from "
             "`workflow/schemas/config.schema.yaml` (the one home of every default); do not edit.",
             "", " ".join(str(schema.get("description", "")).split()), "",
             "Set a key in `config/config.yaml`, in a preset loaded over it "
             "(`--configfile config/presets/paper.yaml`), in a file of your own given the same "
             "way, or for one run on the command line (`--config seed=7`). A misspelt key or a "
             "value of the wrong type stops the workflow at start-up.", ""]
    for key, sub in schema["properties"].items():
        sub = _resolve(sub, schema)
        lines += [f"## `{key}`", "", " ".join(str(sub.get("description", "")).split()), ""]
        rows = _rows({"properties": {key: sub}}, schema, "", defaults)
        if rows and rows[0][1] == "mapping":
            rows = rows[1:]  # the section's own row repeats its heading
        lines += ["| key | type | default | description |", "|---|---|---|---|"]
        for path, kind, default, description in rows:
            cell = f"`{default}`" if default else ""
            lines.append(f"| `{path}` | {kind} | {cell.replace('|', chr(92) + '|')} | "
                         f"{description.replace('|', chr(92) + '|')} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(schema_markdown(), end="")
