# Adam et al. 2022, score-based source priors: SIE + shear mocks, score model, reverse-time
# SDE posterior sampling, metrics and figures. Config block: adam (plus priors, galaxies).

# Every file of this system, in one place.
ADAM = {
    "galaxies": out("galaxies/score/{split}.zarr"),
    "mocks": out("lenses/score_mocks.zarr"),
    "fig_mocks": out("figures/adam/mock_lenses.png"),
    "score_weights": out("models/score/weights.pt"),
    "score_hyperparameters": out("models/score/hyperparameters.json"),
    "score_history": out("models/score/history.csv"),
    "prior_samples": out("models/score/prior_samples.zarr"),
    "prior_moments": out("tables/adam/prior_moments.csv"),
    "posterior": out("inference/adam/sde_{solver}_{lens}.zarr"),
    "ood": out("inference/adam/ood.zarr"),
    "evaluation": out("inference/adam/evaluation.zarr"),
    "summary": out("tables/adam/sde_summary.csv"),
    "std_magnification": out("tables/adam/std_vs_magnification.csv"),
    "pixel_coverage": out("tables/adam/pixel_coverage.csv"),
    "operator_checks": out("tables/adam/operator_checks.csv"),
    "fig_training": out("figures/adam/score_training.png"),
    "fig_prior": out("figures/adam/prior_samples.png"),
    "fig1": out("figures/adam/fig1_system{system}.png"),
    "fig2": out("figures/adam/fig2_ood.png"),
    "fig3": out("figures/adam/fig3_gallery.png"),
    "fig_lens_modes": out("figures/adam/known_vs_map_lens.png"),
}
ADAM_CFG = config["adam"]
# the galaxies of the prior, one store per split (rule prepare_score_galaxies)
ADAM_GALAXIES = {split: ADAM["galaxies"].format(split=split) for split in SPLITS}
# PROBES is read from adam.probes.directory (checked at start-up, galprior.config.missing_inputs);
# a galaxy product comes from its split stores
ADAM_GALAXY_INPUTS = ({} if ADAM_CFG["training_product"] == "probes"
                      else {split: galaxy_store(ADAM_CFG["training_product"], split) for split in SPLITS})
# posterior runs: every solver with the true lens, and (beyond the paper) one with a MAP lens
ADAM_RUNS = [(solver, "known") for solver in ADAM_CFG["sde"]["solvers"]]
if ADAM_CFG["unknown_lens"]["enabled"]:
    ADAM_RUNS.append((ADAM_CFG["sde"]["map_lens_solver"], "map"))
ADAM_POSTERIORS = [ADAM["posterior"].format(solver=s, lens=l) for s, l in ADAM_RUNS]
ADAM_FIG1 = [ADAM["fig1"].format(system=s) for s in range(ADAM_CFG["mocks"]["n_systems"])]

if "adam" in config["systems"]:
    add_targets("adam", [ADAM["fig_mocks"], ADAM["fig_training"], ADAM["fig_prior"], ADAM["summary"],
                         ADAM["operator_checks"],
                         ADAM["fig2"], ADAM["fig3"], ADAM["fig_lens_modes"], *ADAM_FIG1])


wildcard_constraints:
    solver="euler_maruyama|predictor_corrector|heun|imex_euler_maruyama",


rule prepare_score_galaxies:
    # Adam et al. 2022 sec. 3: the galaxies of the prior at adam.source_size in its units
    # (adam.normalisation), from PROBES (paper) or a galaxy product; train / val / test.
    input:
        **ADAM_GALAXY_INPUTS,
    output:
        **{split: directory(path) for split, path in ADAM_GALAXIES.items()},
    params:
        training_product=ADAM_CFG["training_product"],
        probes=ADAM_CFG["probes"],
        normalisation=ADAM_CFG["normalisation"],
        source_size=ADAM_CFG["source_size"],
        seed=config["seed"] + 25,
    log:
        log_path("prepare_score_galaxies"),
    benchmark:
        bench_path("prepare_score_galaxies")
    resources:
        **rule_resources("prepare_score_galaxies"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/prepare_score_galaxies.py"


rule make_score_lenses:
    # Adam et al. 2022 sec. 3: SIE + shear, 256^2 render pooled to 128^2, sources from the test galaxies.
    input:
        test=ADAM_GALAXIES["test"],
    output:
        mocks=directory(ADAM["mocks"]),
    params:
        options=config["adam"]["mocks"],
        priors=config["priors"],
        seed=config["seed"] + 2,
    log:
        log_path("make_score_lenses"),
    benchmark:
        bench_path("make_score_lenses")
    resources:
        **rule_resources("make_score_lenses"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/make_score_lenses.py"


rule check_operator:
    # Adam et al. 2022 app. A: is A A^T ~ 1 (eq. 19's assumption) on these mocks?
    input:
        mocks=ADAM["mocks"],
    output:
        table=report(ADAM["operator_checks"], caption="../report/adam_operator_checks.rst",
                     category=PAPERS["adam"], subcategory="Mock lenses"),
    log:
        log_path("check_operator"),
    benchmark:
        bench_path("check_operator")
    resources:
        **rule_resources("check_operator"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/check_operator.py"


rule plot_score_lenses:
    input:
        mocks=ADAM["mocks"],
    output:
        figure=report(
            ADAM["fig_mocks"],
            caption="../report/score_lenses.rst",
            category="Adam et al. 2022",
            subcategory="Mock lenses",
        ),
    params:
        n_systems=config["figures"]["n_systems"],
    log:
        log_path("plot_score_lenses"),
    resources:
        **rule_resources("plot_score_lenses"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_score_lenses.py"


rule train_score_model:
    # Adam et al. 2022 sec. 2.1/3: DSM (eq. 3) on the VE SDE, NCSN++, EMA weights.
    # Resumes from results/checkpoints/score-<hash>/ after a kill.
    input:
        train=ADAM_GALAXIES["train"],
        val=ADAM_GALAXIES["val"],
    output:
        weights=ADAM["score_weights"],
        hyperparameters=ADAM["score_hyperparameters"],
        history=ADAM["score_history"],
    params:
        score_model=ADAM_CFG["score_model"],
        seed=config["seed"] + 20,
        device=config["device"],
        checkpoint_dir=checkpoint_dir("score", ADAM_CFG["score_model"], ADAM_CFG["source_size"], ADAM_CFG["probes"],
                                      ADAM_CFG["normalisation"], ADAM_CFG["training_product"], config["galaxies"]),
    log:
        log_path("train_score_model"),
    benchmark:
        bench_path("train_score_model")
    threads: 1  # small convolutions: a second thread only adds synchronisation (measured 15x slower on a loaded 2-core machine)
    resources:
        **rule_resources("train_score_model"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/train_score_model.py"


rule sample_score_prior:
    # Unconditional samples beside training galaxies (the same set, resolution and units), moments compared.
    input:
        weights=ADAM["score_weights"],
        hyperparameters=ADAM["score_hyperparameters"],
        train=ADAM_GALAXIES["train"],
    output:
        samples=directory(ADAM["prior_samples"]),
        moments=report(ADAM["prior_moments"], caption="../report/adam_prior_moments.rst",
                       category=PAPERS["adam"], subcategory="Score prior"),
    params:
        options=ADAM_CFG["prior_samples"],
        sde=ADAM_CFG["sde"],
        seed=config["seed"] + 21,
        device=config["device"],
    log:
        log_path("sample_score_prior"),
    benchmark:
        bench_path("sample_score_prior")
    threads: 1
    resources:
        **rule_resources("sample_score_prior"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/sample_score_prior.py"


rule infer_sde:
    # Posterior samples of every mock source with the true lens (sec. 2.2, eq. 4-5, 19-20).
    input:
        weights=ADAM["score_weights"],
        hyperparameters=ADAM["score_hyperparameters"],
        mocks=ADAM["mocks"],
    output:
        posterior=directory(ADAM["posterior"].replace("{lens}", "known")),
    params:
        sde=ADAM_CFG["sde"],
        seed=config["seed"] + 22,
        device=config["device"],
    log:
        log_path("infer_sde", "{solver}_known"),
    benchmark:
        bench_path("infer_sde", "{solver}_known")
    threads: 1
    resources:
        **rule_resources("infer_sde"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/infer_sde.py"


rule infer_sde_map_lens:
    # Beyond the paper: the lens from a MAP fit (Chianese VAE machinery), then the source posterior.
    input:
        weights=ADAM["score_weights"],
        hyperparameters=ADAM["score_hyperparameters"],
        mocks=ADAM["mocks"],
        vae_weights=out("models/vae/weights.pt"),
        vae_hyperparameters=out("models/vae/hyperparameters.json"),
        latent_prior=out("models/vae/latent_prior.npz"),
    output:
        posterior=directory(ADAM["posterior"].replace("{lens}", "map")),
    params:
        sde=ADAM_CFG["sde"],
        map=ADAM_CFG["unknown_lens"]["map"],
        priors=config["priors"],
        seed=config["seed"] + 23,
        device=config["device"],
    log:
        log_path("infer_sde_map_lens", "{solver}_map"),
    benchmark:
        bench_path("infer_sde_map_lens", "{solver}_map")
    threads: 1
    resources:
        **rule_resources("infer_sde_map_lens"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/infer_sde_map_lens.py"


rule infer_ood:
    # Fig. 2: a glyph behind a mock lens at rising noise.
    input:
        weights=ADAM["score_weights"],
        hyperparameters=ADAM["score_hyperparameters"],
        mocks=ADAM["mocks"],
    output:
        ood=directory(ADAM["ood"]),
    params:
        ood=ADAM_CFG["ood"],
        sde=ADAM_CFG["sde"],
        seed=config["seed"] + 24,
        device=config["device"],
    log:
        log_path("infer_ood"),
    benchmark:
        bench_path("infer_ood")
    threads: 1
    resources:
        **rule_resources("infer_ood"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/infer_ood.py"


rule evaluate_sde:
    # chi2_nu of every sample, mean/std/residual-SNR maps, std against magnification.
    input:
        mocks=ADAM["mocks"],
        posteriors=ADAM_POSTERIORS,
    output:
        evaluation=directory(ADAM["evaluation"]),
        summary=report(ADAM["summary"], caption="../report/adam_sde_summary.rst",
                       category=PAPERS["adam"], subcategory="Posterior samples"),
        std_magnification=report(ADAM["std_magnification"], caption="../report/adam_std_magnification.rst",
                                 category=PAPERS["adam"], subcategory="Posterior samples"),
        pixel_coverage=report(ADAM["pixel_coverage"], caption="../report/adam_pixel_coverage.rst",
                              category=PAPERS["adam"], subcategory="Posterior samples"),
    params:
        n_model_images=ADAM_CFG["evaluation"]["n_model_images"],
    log:
        log_path("evaluate_sde"),
    benchmark:
        bench_path("evaluate_sde")
    resources:
        **rule_resources("evaluate_sde"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/evaluate_sde.py"


rule plot_score_training:
    input:
        history=ADAM["score_history"],
    output:
        figure=report(ADAM["fig_training"], caption="../report/adam_score_training.rst",
                      category=PAPERS["adam"], subcategory="Score prior"),
    log:
        log_path("plot_score_training"),
    resources:
        **rule_resources("plot_score_training"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_score_training.py"


rule plot_prior_samples:
    input:
        samples=ADAM["prior_samples"],
        moments=ADAM["prior_moments"],
    output:
        figure=report(ADAM["fig_prior"], caption="../report/adam_prior_samples.rst",
                      category=PAPERS["adam"], subcategory="Score prior"),
    log:
        log_path("plot_prior_samples"),
    resources:
        **rule_resources("plot_prior_samples"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_prior_samples.py"


rule plot_sde_posteriors:
    # Figs. 1 and 3 of Adam et al. 2022 (reference run), and the known- against MAP-lens posteriors.
    input:
        evaluation=ADAM["evaluation"],
        mocks=ADAM["mocks"],
        posteriors=ADAM_POSTERIORS,
    output:
        fig1=report(ADAM_FIG1, caption="../report/adam_fig1.rst", category=PAPERS["adam"],
                    subcategory="Fig. 1"),
        fig3=report(ADAM["fig3"], caption="../report/adam_fig3.rst", category=PAPERS["adam"],
                    subcategory="Fig. 3"),
        lens_modes=report(ADAM["fig_lens_modes"], caption="../report/adam_lens_modes.rst",
                          category=PAPERS["adam"], subcategory="Unknown lens"),
    log:
        log_path("plot_sde_posteriors"),
    resources:
        **rule_resources("plot_sde_posteriors"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_sde_posteriors.py"


rule plot_ood:
    input:
        ood=ADAM["ood"],
    output:
        figure=report(ADAM["fig2"], caption="../report/adam_fig2.rst", category=PAPERS["adam"],
                      subcategory="Fig. 2"),
    log:
        log_path("plot_ood"),
    resources:
        **rule_resources("plot_ood"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_ood.py"
