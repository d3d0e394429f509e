# Lanusse et al. 2021, deep generative models for galaxy image simulations: the PSF-aware
# Flow-VAE (VAE, then a conditional latent flow), the three morphology samples of sec. 4.4,
# HSM / statmorph statistics with two-sample tests, and the paper's figures.
# Config block: lanusse (plus galaxies: the 'lanusse' product).

# Every file of this system, in one place (wildcards in braces).
LANUSSE = {
    "vae_weights": out("models/lanusse/flowvae/weights.pt"),
    "vae_hyperparameters": out("models/lanusse/flowvae/hyperparameters.json"),
    "vae_history": out("models/lanusse/flowvae_history.csv"),
    "flow_weights": out("models/lanusse/latent_flow/weights.pt"),
    "flow_hyperparameters": out("models/lanusse/latent_flow/hyperparameters.json"),
    "flow_history": out("models/lanusse/latent_flow_history.csv"),
    "galsim_model": out("models/lanusse/galsim_model.json"),
    "latents": out("models/lanusse/latents.zarr"),
    "samples": out("lanusse/morphology_samples.zarr"),
    "morphology_sample": out("tables/lanusse/morphology_{sample}.csv"),
    "morphology": out("tables/lanusse/morphology.csv"),
    "summary": out("tables/lanusse/morphology_summary.csv"),
    "tests": out("tables/lanusse/two_sample_tests.csv"),
    "conditioning": out("tables/lanusse/conditioning.csv"),
    "fig_training": out("figures/lanusse/training.png"),
    "fig1": out("figures/lanusse/fig1_samples.png"),
    "fig4": out("figures/lanusse/fig4_latents.png"),
    "fig5": out("figures/lanusse/fig5_reconstructions.png"),
    "fig6": out("figures/lanusse/fig6_second_moments.png"),
    "fig7": out("figures/lanusse/fig7_conditioning.png"),
    "fig8": out("figures/lanusse/fig8_mid.png"),
    "fig9": out("figures/lanusse/fig9_gini_m20_id.png"),
}
LANUSSE_SAMPLES = ["cosmos", "parametric", "flowvae"]
LANUSSE_FIGURES = {"fig_training": "Training", "fig1": "Figure 1", "fig4": "Figure 4",
                   "fig5": "Figure 5", "fig6": "Figure 6", "fig7": "Figure 7",
                   "fig8": "Figure 8", "fig9": "Figure 9"}

if "lanusse" in config["systems"]:
    add_targets("lanusse", [LANUSSE[key] for key in ("summary", "tests", "conditioning",
                                                     "galsim_model", *LANUSSE_FIGURES)])


rule train_flow_vae:
    # Sec. 4.2.1 / Table 1: ResNet VAE with PSF input, PSF-convolved likelihood (eq. 4 or 5),
    # free bits, TV and the two annealed training aids; epochs with early stopping, or a fixed
    # number of steps (the paper). Resumes from results/checkpoints/.
    input:
        train=galaxy_store("lanusse", "train"),
        val=galaxy_store("lanusse", "val"),
    output:
        weights=LANUSSE["vae_weights"],
        hyperparameters=LANUSSE["vae_hyperparameters"],
        history=LANUSSE["vae_history"],
    params:
        image_size=config["lanusse"]["image_size"],
        architecture=config["lanusse"]["vae"]["architecture"],
        training=config["lanusse"]["vae"]["training"],
        seed=config["seed"] + 20,
        device=config["device"],
        checkpoint_dir=checkpoint_dir("flowvae", config["lanusse"]["vae"], config["lanusse"]["image_size"],
                                      config["galaxies"]),
    log:
        log_path("train_flow_vae"),
    benchmark:
        bench_path("train_flow_vae")
    threads: rule_threads("train_flow_vae")
    priority: 2  # the Flow-VAE beside the Chianese chain (the two long chains of the DAG)
    resources:
        **rule_resources("train_flow_vae"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/train_flow_vae.py"


rule train_latent_flow:
    # Sec. 3.3 / 4.2.2: conditional MAF on the aggregate posterior given (mag, hlr, z);
    # also writes the GalSim model metadata and the latents of Fig. 4.
    input:
        weights=LANUSSE["vae_weights"],
        hyperparameters=LANUSSE["vae_hyperparameters"],
        train=galaxy_store("lanusse", "train"),
        val=galaxy_store("lanusse", "val"),
    output:
        weights=LANUSSE["flow_weights"],
        hyperparameters=LANUSSE["flow_hyperparameters"],
        history=LANUSSE["flow_history"],
        latents=directory(LANUSSE["latents"]),
        galsim_model=LANUSSE["galsim_model"],
    params:
        architecture=config["lanusse"]["flow"]["architecture"],
        training=config["lanusse"]["flow"]["training"],
        seed=config["seed"] + 21,
        device=config["device"],
        checkpoint_dir=checkpoint_dir("latent-flow", config["lanusse"]["flow"], config["lanusse"]["vae"],
                                      config["lanusse"]["image_size"], config["galaxies"]),
    log:
        log_path("train_latent_flow"),
    benchmark:
        bench_path("train_latent_flow")
    threads: 1
    resources:
        **rule_resources("train_latent_flow"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/train_latent_flow.py"


rule sample_flow_vae:
    # Sec. 4.4: for each test galaxy, a parametric and a conditional Flow-VAE twin with
    # its PSF and noise; VAE reconstructions for Fig. 5.
    input:
        vae=LANUSSE["vae_weights"],
        flow=LANUSSE["flow_weights"],
        test=galaxy_store("lanusse", "test"),
    output:
        samples=directory(LANUSSE["samples"]),
    params:
        seed=config["seed"] + 22,
        device=config["device"],
    log:
        log_path("sample_flow_vae"),
    benchmark:
        bench_path("sample_flow_vae")
    resources:
        **rule_resources("sample_flow_vae"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/sample_flow_vae.py"


rule measure_morphology:
    # HSM moments (GalSim) and Gini, M20, M, I, D (statmorph) of one sample.
    input:
        samples=LANUSSE["samples"],
    output:
        table=report(LANUSSE["morphology_sample"], caption="../report/lanusse_morphology_tables.rst",
                     category=PAPERS["lanusse"], subcategory="Figures 6-9 (table)",
                     labels={"sample": "{sample}"}),
    params:
        # the segmentation only: the test settings of the block do not rerun the measurements
        segmentation={key: config["lanusse"]["morphology"][key] for key in
                      ("threshold_nsigma", "npixels", "smoothing_sigma", "centre_radius")},
    log:
        log_path("measure_morphology", "{sample}"),
    benchmark:
        bench_path("measure_morphology", "{sample}")
    wildcard_constraints:
        sample="|".join(LANUSSE_SAMPLES),
    resources:
        **rule_resources("measure_morphology"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/measure_morphology.py"


rule summarise_morphology:
    # The numbers of Figs. 6-9 per sample; energy distances to the data with galaxy-bootstrap
    # intervals, permutation tests and, where a test cannot decide, the galaxies it would need;
    # the Flow-VAE's margin over the parametric twins (paired interval); Fig. 7 pairs.
    input:
        tables=expand(LANUSSE["morphology_sample"], sample=LANUSSE_SAMPLES),
        samples=LANUSSE["samples"],
    output:
        morphology=report(LANUSSE["morphology"], caption="../report/lanusse_morphology_tables.rst",
                          category=PAPERS["lanusse"], subcategory="Figures 6-9 (table)",
                          labels={"sample": "all"}),
        summary=report(LANUSSE["summary"], caption="../report/lanusse_morphology_summary.rst",
                       category=PAPERS["lanusse"], subcategory="Figures 6-9 (table)"),
        tests=report(LANUSSE["tests"], caption="../report/lanusse_two_sample_tests.rst",
                     category=PAPERS["lanusse"], subcategory="Two-sample tests"),
        conditioning=report(LANUSSE["conditioning"], caption="../report/lanusse_conditioning.rst",
                            category=PAPERS["lanusse"], subcategory="Figure 7 (table)"),
    params:
        options=config["lanusse"]["morphology"],
        samples=LANUSSE_SAMPLES,
        seed=config["seed"] + 23,
    log:
        log_path("summarise_morphology"),
    benchmark:
        bench_path("summarise_morphology")
    resources:
        **rule_resources("summarise_morphology"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/summarise_morphology.py"


rule plot_lanusse_figures:
    # Figs. 1, 4-9 of Lanusse et al. 2021 and the training curves; reads results only.
    input:
        samples=LANUSSE["samples"],
        latents=LANUSSE["latents"],
        morphology=LANUSSE["morphology"],
        summary=LANUSSE["summary"],
        conditioning=LANUSSE["conditioning"],
        vae_history=LANUSSE["vae_history"],
        flow_history=LANUSSE["flow_history"],
    output:
        **{key: report(LANUSSE[key], caption=f"../report/lanusse_{key}.rst",
                       category=PAPERS["lanusse"], subcategory=subcategory)
           for key, subcategory in LANUSSE_FIGURES.items()},
    params:
        n_examples=config["lanusse"]["n_examples"],
    log:
        log_path("plot_lanusse_figures"),
    resources:
        **rule_resources("plot_lanusse_figures"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_lanusse_figures.py"
