# Chianese et al. 2020, differentiable strong lensing with a VAE source: mocks,
# VAE training, MAP and HMC inference, lens-recovery tables and the paper's figures.
# Config block: chianese (plus the shared priors and galaxies blocks).

# Every file of this system, in one place (wildcards in braces).
CHIANESE = {
    "mocks": out("lenses/chianese_mocks.zarr"),
    "snr_table": out("tables/chianese/table1_snr.csv"),
    "vae_weights": out("models/vae/weights.pt"),
    "vae_hyperparameters": out("models/vae/hyperparameters.json"),
    "vae_history": out("models/vae/history.csv"),
    "latent_prior": out("models/vae/latent_prior.npz"),
    "reconstructions": out("models/vae/reconstructions.zarr"),
    "map": out("inference/chianese_map.zarr"),
    "posterior_part": out("inference/chianese_posterior/system{system}.zarr"),
    "posterior": out("inference/chianese_posterior.zarr"),
    "lens_recovery": out("tables/chianese/lens_recovery.csv"),
    "interval_coverage": out("tables/chianese/interval_coverage.csv"),
    "recovery_summary": out("tables/chianese/recovery_summary.csv"),
    "fig_mocks": out("figures/chianese/mock_lenses.png"),
    "fig_vae_loss": out("figures/chianese/vae_loss.png"),
    "fig2": out("figures/chianese/fig2_reconstructions.png"),
    "fig3": out("figures/chianese/fig3_rotation_test.png"),
    "fig6_7": out("figures/chianese/fig6_7_fit_system{system}.png"),
    "fig8_9": out("figures/chianese/fig8_9_corner_system{system}.png"),
    "fig_map_traces": out("figures/chianese/map_loss_traces.png"),
}

if "chianese" in config["systems"]:
    add_targets("chianese", [
        CHIANESE[key] for key in ("snr_table", "fig_mocks", "latent_prior", "fig_vae_loss", "fig2",
                                  "fig3", "lens_recovery", "fig_map_traces")
    ] + [CHIANESE[key].format(system=system) for key in ("fig6_7", "fig8_9")
         for system in config["chianese"]["hmc"]["systems"]])


rule make_mock_lenses:
    # Chianese et al. 2020 sec. 5.1: EPL + shear, three noise levels.
    input:
        test=galaxy_store("chianese", "test"),
    output:
        mocks=directory(CHIANESE["mocks"]),
    params:
        options=config["chianese"]["mocks"],
        priors=config["priors"],
        seed=config["seed"] + 1,
    log:
        log_path("make_mock_lenses"),
    benchmark:
        bench_path("make_mock_lenses")
    resources:
        **rule_resources("make_mock_lenses"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/make_mock_lenses.py"


rule tabulate_snr:
    # Table 1 of Chianese et al. 2020: S/N of each mock system at each noise level.
    input:
        mocks=CHIANESE["mocks"],
    output:
        table=report(
            CHIANESE["snr_table"],
            caption="../report/table1_snr.rst",
            category="Chianese et al. 2020",
            subcategory="Table 1",
        ),
    log:
        log_path("tabulate_snr"),
    resources:
        **rule_resources("tabulate_snr"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/tabulate_snr.py"


rule train_vae:
    # Chianese et al. 2020 sec. 2 / app. D. Resumes from results/checkpoints/ after a
    # kill (the folder is named by a hash of the settings and outlives failed jobs).
    input:
        train=galaxy_store("chianese", "train"),
        val=galaxy_store("chianese", "val"),
    output:
        weights=CHIANESE["vae_weights"],
        hyperparameters=CHIANESE["vae_hyperparameters"],
        history=CHIANESE["vae_history"],
    params:
        architecture=config["chianese"]["vae"]["architecture"],
        training=config["chianese"]["vae"]["training"],
        seed=config["seed"] + 3,
        device=config["device"],
        checkpoint_dir=checkpoint_dir("vae", config["chianese"]["vae"], config["galaxies"]),
    log:
        log_path("train_vae"),
    benchmark:
        bench_path("train_vae")
    threads: rule_threads("train_vae")
    priority: 2  # the Chianese chain, the DAG's longest, first
    resources:
        **rule_resources("train_vae"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/train_vae.py"


rule fit_latent_prior:
    # Multivariate normal of the encoded training means, covariance x 9 (sec. 4).
    input:
        weights=CHIANESE["vae_weights"],
        hyperparameters=CHIANESE["vae_hyperparameters"],
        train=galaxy_store("chianese", "train"),
    output:
        prior=CHIANESE["latent_prior"],
    params:
        covariance_scale=config["chianese"]["vae"]["latent_prior"]["covariance_scale"],
    log:
        log_path("fit_latent_prior"),
    resources:
        **rule_resources("fit_latent_prior"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/fit_latent_prior.py"


rule reconstruct_galaxies:
    # Reconstructions and the rotation test of test galaxies (Figs. 2-3).
    input:
        weights=CHIANESE["vae_weights"],
        hyperparameters=CHIANESE["vae_hyperparameters"],
        test=galaxy_store("chianese", "test"),
    output:
        reconstructions=directory(CHIANESE["reconstructions"]),
    params:
        n_galaxies=config["figures"]["n_galaxies"],
        angles=config["chianese"]["vae"]["rotation_angles"],
        seed=config["seed"] + 7,
    log:
        log_path("reconstruct_galaxies"),
    resources:
        **rule_resources("reconstruct_galaxies"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/reconstruct_galaxies.py"


rule infer_map:
    # MAP of ~80 lens + source + latent parameters, restarts batched over systems.
    input:
        mocks=CHIANESE["mocks"],
        weights=CHIANESE["vae_weights"],
        hyperparameters=CHIANESE["vae_hyperparameters"],
        prior=CHIANESE["latent_prior"],
    output:
        map=directory(CHIANESE["map"]),
    params:
        priors=config["priors"],
        inference={key: config["chianese"][key] for key in ("inference", "paper_inference", "map")},
        seed=config["seed"] + 4,
        device=config["device"],
    log:
        log_path("infer_map"),
    benchmark:
        bench_path("infer_map")
    threads: rule_threads("infer_map")
    priority: 2  # the Chianese chain, the DAG's longest, first
    resources:
        **rule_resources("infer_map"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/infer_map.py"


# the sampler's settings and seed: read by infer_hmc, and recorded by merge_posteriors in the joined store
HMC_INFERENCE = {key: config["chianese"][key] for key in ("inference", "paper_inference", "hmc")}
HMC_SEED = config["seed"] + 5


rule infer_hmc:
    # HMC/NUTS from the MAP (chianese.inference: galprior = Laplace/pilot metric; paper = Pyro's NUTS),
    # one job per sampled system: on 2 cores a free core takes the next system's posteriors.
    input:
        mocks=CHIANESE["mocks"],
        map=CHIANESE["map"],
        weights=CHIANESE["vae_weights"],
        hyperparameters=CHIANESE["vae_hyperparameters"],
        prior=CHIANESE["latent_prior"],
    output:
        posterior=directory(CHIANESE["posterior_part"]),
    params:
        priors=config["priors"],
        inference=HMC_INFERENCE,
        seed=HMC_SEED,
        device=config["device"],
    log:
        log_path("infer_hmc", "system{system}"),
    benchmark:
        bench_path("infer_hmc", "system{system}")
    wildcard_constraints:
        system=r"\d+",
    threads: rule_threads("infer_hmc")
    priority: 2  # the Chianese chain, the DAG's longest, first
    resources:
        **rule_resources("infer_hmc"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/infer_hmc.py"


rule merge_posteriors:
    # The sampled systems' posteriors in one store, in the order of chianese.hmc.systems.
    input:
        parts=expand(CHIANESE["posterior_part"], system=config["chianese"]["hmc"]["systems"]),
    output:
        posterior=directory(CHIANESE["posterior"]),
    params:
        inference=HMC_INFERENCE,
        seed=HMC_SEED,
    log:
        log_path("merge_posteriors"),
    priority: 2
    resources:
        **rule_resources("merge_posteriors"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/merge_posteriors.py"


rule evaluate_lenses:
    input:
        mocks=CHIANESE["mocks"],
        map=CHIANESE["map"],
        posterior=CHIANESE["posterior"],
    output:
        table=report(
            CHIANESE["lens_recovery"],
            caption="../report/lens_recovery.rst",
            category="Chianese et al. 2020",
            subcategory="Lens recovery",
        ),
        coverage=report(
            CHIANESE["interval_coverage"],
            caption="../report/interval_coverage.rst",
            category="Chianese et al. 2020",
            subcategory="Lens recovery",
        ),
        summary=report(
            CHIANESE["recovery_summary"],
            caption="../report/recovery_summary.rst",
            category="Chianese et al. 2020",
            subcategory="Lens recovery",
        ),
    params:
        diagnostics=config["chianese"]["diagnostics"],
    log:
        log_path("evaluate_lenses"),
    resources:
        **rule_resources("evaluate_lenses"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/evaluate_lenses.py"


rule plot_mock_lenses:
    input:
        mocks=CHIANESE["mocks"],
    output:
        figure=report(
            CHIANESE["fig_mocks"],
            caption="../report/mock_lenses.rst",
            category="Chianese et al. 2020",
            subcategory="Mock lenses",
        ),
    params:
        n_systems=config["figures"]["n_systems"],
    log:
        log_path("plot_mock_lenses"),
    resources:
        **rule_resources("plot_mock_lenses"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_mock_lenses.py"


rule plot_vae_training:
    input:
        history=CHIANESE["vae_history"],
    output:
        figure=report(
            CHIANESE["fig_vae_loss"],
            caption="../report/vae_loss.rst",
            category="Chianese et al. 2020",
            subcategory="VAE",
        ),
    log:
        log_path("plot_vae_training"),
    resources:
        **rule_resources("plot_vae_training"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_vae_training.py"


rule plot_reconstructions:
    input:
        reconstructions=CHIANESE["reconstructions"],
    output:
        fig2=report(
            CHIANESE["fig2"],
            caption="../report/fig2_reconstructions.rst",
            category="Chianese et al. 2020",
            subcategory="Fig. 2",
        ),
        fig3=report(
            CHIANESE["fig3"],
            caption="../report/fig3_rotation_test.rst",
            category="Chianese et al. 2020",
            subcategory="Fig. 3",
        ),
    params:
        n_galaxies=config["figures"]["n_galaxies"],
    log:
        log_path("plot_reconstructions"),
    resources:
        **rule_resources("plot_reconstructions"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_reconstructions.py"


rule plot_lens_fits:
    input:
        mocks=CHIANESE["mocks"],
        map=CHIANESE["map"],
    output:
        figure=report(
            CHIANESE["fig6_7"],
            caption="../report/fig6_7_fits.rst",
            category="Chianese et al. 2020",
            subcategory="Figs. 6-7",
        ),
    log:
        log_path("plot_lens_fits", "system{system}"),
    resources:
        **rule_resources("plot_lens_fits"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_lens_fits.py"


rule plot_posteriors:
    input:
        mocks=CHIANESE["mocks"],
        posterior=CHIANESE["posterior"],
    output:
        figure=report(
            CHIANESE["fig8_9"],
            caption="../report/fig8_9_corner.rst",
            category="Chianese et al. 2020",
            subcategory="Figs. 8-9",
        ),
    log:
        log_path("plot_posteriors", "system{system}"),
    resources:
        **rule_resources("plot_posteriors"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_posteriors.py"


rule plot_map_traces:
    input:
        map=CHIANESE["map"],
    output:
        figure=report(
            CHIANESE["fig_map_traces"],
            caption="../report/map_traces.rst",
            category="Chianese et al. 2020",
            subcategory="MAP",
        ),
    log:
        log_path("plot_map_traces"),
    resources:
        **rule_resources("plot_map_traces"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_map_traces.py"
