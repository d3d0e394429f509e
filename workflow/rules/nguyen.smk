# Nguyen 2025, VAE deblending of LSST/DES blends simulated with BlendingToolKit: blends in
# seeded shards, three training stages (VAE, deblending encoder, ellipticity regressor), a
# latent flow beyond the report, evaluation on LSST, DES-like and (optionally) real DES
# data, the metrics table and the report's figures. Config block: nguyen.

NGUYEN_CFG = config["nguyen"]
NGUYEN_REAL = NGUYEN_CFG["des"]["real"]
NGUYEN_HAS_REAL = bool(NGUYEN_REAL["catalogue"] and NGUYEN_REAL["cutouts"])
if bool(NGUYEN_REAL["catalogue"]) != bool(NGUYEN_REAL["cutouts"]):
    raise ValueError("nguyen.des.real: set both 'catalogue' and 'cutouts' (or neither), got "
                     f"catalogue={NGUYEN_REAL['catalogue']!r}, cutouts={NGUYEN_REAL['cutouts']!r}")
if NGUYEN_CFG["catalogue"]["source"] == "file" and not NGUYEN_CFG["catalogue"]["file"]:
    raise ValueError("nguyen.catalogue.source is 'file' but nguyen.catalogue.file is empty: name a CatSim FITS table")
# networks trained per survey: LSST always; DES-like when the report's better option is chosen
NGUYEN_MODELS = ["lsst"] + (["des"] if NGUYEN_CFG["des"]["u_band"] == "des_training" else [])
# evaluated data sets and the survey whose networks read them
NGUYEN_DATA = {"lsst": "lsst", "des": NGUYEN_MODELS[-1]} | ({"des_real": NGUYEN_MODELS[-1]} if NGUYEN_HAS_REAL else {})
NGUYEN_STAGES = {"t1": "nguyen_vae", "t2": "nguyen_vae", "t3": "nguyen_regressor", "flow": "nguyen_latent_flow"}

# Every file of this system, in one place (wildcards in braces).
NGUYEN = {
    "shard": out("nguyen/blends/{survey}/shards/{split}-{shard}.zarr"),
    "blends": out("nguyen/blends/{survey}/{split}.zarr"),
    "des_real": out("nguyen/des_real/cutouts.zarr"),
    "model": out("models/nguyen/{model}/{stage}"),
    "weights": out("models/nguyen/{model}/{stage}/weights.pt"),
    "hyperparameters": out("models/nguyen/{model}/{stage}/hyperparameters.json"),
    "history": out("models/nguyen/{model}/{stage}/history.csv"),
    "evaluation": out("nguyen/evaluation/{data}.zarr"),
    "metrics": out("tables/nguyen/deblending_metrics.csv"),
    "figure_numbers": out("tables/nguyen/figure_numbers.csv"),
    "fig11": out("figures/nguyen/fig11_deblending_examples.png"),
    "fig12": out("figures/nguyen/fig12_regressor_sticks.png"),
    "fig13": out("figures/nguyen/fig13_similarity.png"),
    "fig15": out("figures/nguyen/fig15_17_ellipticity_{data}.png"),
    "fig16": out("figures/nguyen/fig16_18_ellipticity_distribution_{data}.png"),
    "fig20": out("figures/nguyen/fig20_21_normalisation_{survey}.png"),
    "fig22": out("figures/nguyen/fig22_23_losses_{model}.png"),
}


# model files of each (survey, stage), a checkpoint folder named by a hash of everything training depends on
NGUYEN_MODEL_FILES = {(m, st): [NGUYEN[k].format(model=m, stage=st) for k in ("weights", "hyperparameters")]
                      for m in ("lsst", "des") for st in NGUYEN_STAGES}
NGUYEN["checkpoint"] = checkpoint_dir("nguyen-{model}-{stage}", NGUYEN_CFG)
NGUYEN_CATALOGUE = [NGUYEN_CFG["catalogue"]["file"]] if NGUYEN_CFG["catalogue"]["source"] == "file" else []


if "nguyen" in config["systems"]:
    add_targets("nguyen", [NGUYEN["metrics"], NGUYEN["figure_numbers"], NGUYEN["fig11"], NGUYEN["fig12"], NGUYEN["fig13"]]
                + [NGUYEN[k].format(data=d) for k in ("fig15", "fig16") for d in NGUYEN_DATA]
                + [NGUYEN["fig20"].format(survey=s) for s in ("lsst", "des")]
                + [NGUYEN["fig22"].format(model=m) for m in NGUYEN_MODELS])


NGUYEN_WILDCARDS = {"survey": "lsst|des", "split": "train|val", "model": "lsst|des", "data": "lsst|des|des_real",
                    "shard": r"\d+", "stage": "t1|t2"}


rule prepare_blends:
    # BTK CatsimGenerator, brightest galaxy centred; chunks seeded by index, so the blends
    # do not depend on nguyen.blends.n_shards (sec. 3.1.2).
    input:
        catalogue=NGUYEN_CATALOGUE,
    output:
        shard=temp(directory(NGUYEN["shard"])),
    params:
        nguyen=NGUYEN_CFG,
        seed=config["seed"] + 20,
    log:
        log_path("prepare_blends", "{survey}_{split}_{shard}"),
    benchmark:
        bench_path("prepare_blends", "{survey}_{split}_{shard}")
    wildcard_constraints:
        survey=NGUYEN_WILDCARDS["survey"],
        split=NGUYEN_WILDCARDS["split"],
        shard=NGUYEN_WILDCARDS["shard"],
    resources:
        **rule_resources("prepare_blends"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/prepare_blends.py"


rule merge_blends:
    # Join the shards; eq. 9 constants from the training blends, stored in both splits.
    input:
        train=expand(NGUYEN["shard"], split="train", shard=range(NGUYEN_CFG["blends"]["n_shards"]), allow_missing=True),
        val=expand(NGUYEN["shard"], split="val", shard=range(NGUYEN_CFG["blends"]["n_shards"]), allow_missing=True),
    output:
        train=directory(NGUYEN["blends"].replace("{split}", "train")),
        val=directory(NGUYEN["blends"].replace("{split}", "val")),
    log:
        log_path("merge_blends", "{survey}"),
    wildcard_constraints:
        survey=NGUYEN_WILDCARDS["survey"],
    resources:
        **rule_resources("merge_blends"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/merge_blends.py"


rule train_deblender_vae:
    # Training 1 (noisy isolated -> clean, stage t1) and training 2 (new encoder, noisy
    # blends -> clean, decoder of t1 frozen; stage t2). Resumable from results/checkpoints/.
    input:
        train=NGUYEN["blends"].replace("{survey}", "{model}").replace("{split}", "train"),
        val=NGUYEN["blends"].replace("{survey}", "{model}").replace("{split}", "val"),
        t1=lambda wildcards: NGUYEN_MODEL_FILES[(wildcards.model, "t1")] if wildcards.stage == "t2" else [],
    output:
        weights=NGUYEN["weights"],
        hyperparameters=NGUYEN["hyperparameters"],
        history=NGUYEN["history"],
    params:
        nguyen=NGUYEN_CFG,
        seed=lambda wildcards: config["seed"] + (21 if wildcards.stage == "t1" else 22),
        device=config["device"],
        checkpoint_dir=lambda wildcards: NGUYEN["checkpoint"].format(model=wildcards.model, stage=wildcards.stage),
    log:
        log_path("train_deblender_vae", "{model}_{stage}"),
    benchmark:
        bench_path("train_deblender_vae", "{model}_{stage}")
    wildcard_constraints:
        model=NGUYEN_WILDCARDS["model"],
        stage=NGUYEN_WILDCARDS["stage"],
    threads: rule_threads("train_deblender_vae")
    resources:
        **rule_resources("train_deblender_vae"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/train_deblender_vae.py"


rule train_ellipticity_regressor:
    # Training 3: regressor from the frozen training-2 mu to (e1, e2), MSE.
    input:
        train=NGUYEN["blends"].replace("{survey}", "{model}").replace("{split}", "train"),
        val=NGUYEN["blends"].replace("{survey}", "{model}").replace("{split}", "val"),
        t2=lambda wildcards: NGUYEN_MODEL_FILES[(wildcards.model, "t2")],
    output:
        weights=NGUYEN["weights"].replace("{stage}", "t3"),
        hyperparameters=NGUYEN["hyperparameters"].replace("{stage}", "t3"),
        history=NGUYEN["history"].replace("{stage}", "t3"),
    params:
        nguyen=NGUYEN_CFG,
        seed=config["seed"] + 23,
        device=config["device"],
        checkpoint_dir=lambda wildcards: NGUYEN["checkpoint"].format(model=wildcards.model, stage="t3"),
    log:
        log_path("train_ellipticity_regressor", "{model}"),
    benchmark:
        bench_path("train_ellipticity_regressor", "{model}")
    threads: rule_threads("train_ellipticity_regressor")
    wildcard_constraints:
        model=NGUYEN_WILDCARDS["model"],
    resources:
        **rule_resources("train_ellipticity_regressor"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/train_ellipticity_regressor.py"


rule fit_deblender_flow:
    # Beyond the report (its sec. 5): a MAF on the training-1 latent means.
    input:
        train=NGUYEN["blends"].replace("{survey}", "{model}").replace("{split}", "train"),
        val=NGUYEN["blends"].replace("{survey}", "{model}").replace("{split}", "val"),
        t1=lambda wildcards: NGUYEN_MODEL_FILES[(wildcards.model, "t1")],
    output:
        weights=NGUYEN["weights"].replace("{stage}", "flow"),
        hyperparameters=NGUYEN["hyperparameters"].replace("{stage}", "flow"),
        history=NGUYEN["history"].replace("{stage}", "flow"),
    params:
        nguyen=NGUYEN_CFG,
        seed=config["seed"] + 24,
        device=config["device"],
        checkpoint_dir=lambda wildcards: NGUYEN["checkpoint"].format(model=wildcards.model, stage="flow"),
    log:
        log_path("fit_deblender_flow", "{model}"),
    benchmark:
        bench_path("fit_deblender_flow", "{model}")
    threads: rule_threads("fit_deblender_flow")
    wildcard_constraints:
        model=NGUYEN_WILDCARDS["model"],
    resources:
        **rule_resources("fit_deblender_flow"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/fit_deblender_flow.py"


rule prepare_des_real:
    # Real DES: im3shape catalogue (valid e, snr_w cut) and per-band cutouts (sec. 3.1.3).
    input:
        catalogue=NGUYEN_REAL["catalogue"] or [],
        cutouts=NGUYEN_REAL["cutouts"] or [],
    output:
        cutouts=directory(NGUYEN["des_real"]),
    params:
        real=NGUYEN_REAL,
        stamp_pixels=NGUYEN_CFG["blends"]["stamp_pixels"],
    log:
        log_path("prepare_des_real"),
    resources:
        **rule_resources("prepare_des_real"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/prepare_des_real.py"


rule evaluate_deblender:
    # Reconstructions after trainings 1 and 2, regressor, flow-prior estimates; SSIM/cosine.
    input:
        unpack(lambda wildcards: {st: NGUYEN_MODEL_FILES[(NGUYEN_DATA[wildcards.data], st)] for st in NGUYEN_STAGES}),
        data=lambda wildcards: NGUYEN["des_real"] if wildcards.data == "des_real" else NGUYEN["blends"].format(survey=wildcards.data, split="val"),
    output:
        evaluation=directory(NGUYEN["evaluation"]),
    params:
        nguyen=NGUYEN_CFG,
        model=lambda wildcards: NGUYEN_DATA[wildcards.data],
        seed=config["seed"] + 25,
        device=config["device"],
    log:
        log_path("evaluate_deblender", "{data}"),
    benchmark:
        bench_path("evaluate_deblender", "{data}")
    threads: rule_threads("evaluate_deblender")
    wildcard_constraints:
        data=NGUYEN_WILDCARDS["data"],
    resources:
        **rule_resources("evaluate_deblender"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/evaluate_deblender.py"


rule tabulate_deblending:
    # deblending_metrics.csv (rows per data set and stage) and the numbers behind the figures.
    input:
        evaluations=expand(NGUYEN["evaluation"], data=list(NGUYEN_DATA)),
        histories=expand(NGUYEN["history"], model=NGUYEN_MODELS, stage=list(NGUYEN_STAGES)),
    output:
        metrics=report(NGUYEN["metrics"], caption="../report/nguyen_metrics.rst", category="Nguyen 2025", subcategory="Tables"),
        figure_numbers=report(NGUYEN["figure_numbers"], caption="../report/nguyen_figure_numbers.rst", category="Nguyen 2025", subcategory="Tables"),
    params:
        data=list(NGUYEN_DATA),
        histories=[f"{m}_{s}" for m in NGUYEN_MODELS for s in NGUYEN_STAGES],
    log:
        log_path("tabulate_deblending"),
    resources:
        **rule_resources("tabulate_deblending"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/tabulate_deblending.py"


rule plot_deblending_examples:
    # Figs. 11 and 12 on the LSST validation blends.
    input:
        evaluation=NGUYEN["evaluation"].format(data="lsst"),
    output:
        fig11=report(NGUYEN["fig11"], caption="../report/nguyen_fig11.rst", category="Nguyen 2025", subcategory="Deblending"),
        fig12=report(NGUYEN["fig12"], caption="../report/nguyen_fig12.rst", category="Nguyen 2025", subcategory="Deblending"),
    log:
        log_path("plot_deblending_examples"),
    resources:
        **rule_resources("plot_deblending_examples"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_deblending_examples.py"


rule plot_deblending_similarity:
    # Fig. 13: SSIM and cosine similarity after trainings 1 and 2.
    input:
        evaluations=expand(NGUYEN["evaluation"], data=[d for d in NGUYEN_DATA if d != "des_real"]),
    output:
        figure=report(NGUYEN["fig13"], caption="../report/nguyen_fig13.rst", category="Nguyen 2025", subcategory="Deblending"),
    params:
        data=[d for d in NGUYEN_DATA if d != "des_real"],
    log:
        log_path("plot_deblending_similarity"),
    resources:
        **rule_resources("plot_deblending_similarity"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_deblending_similarity.py"


rule plot_deblending_ellipticities:
    # Figs. 15-16 (LSST) and 17-18 (DES): estimates against the truth, round bias.
    input:
        evaluation=NGUYEN["evaluation"],
    output:
        scatter=report(NGUYEN["fig15"], caption="../report/nguyen_fig15.rst", category="Nguyen 2025", subcategory="Ellipticities"),
        distribution=report(NGUYEN["fig16"], caption="../report/nguyen_fig16.rst", category="Nguyen 2025", subcategory="Ellipticities"),
    log:
        log_path("plot_deblending_ellipticities", "{data}"),
    wildcard_constraints:
        data=NGUYEN_WILDCARDS["data"],
    resources:
        **rule_resources("plot_deblending_ellipticities"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_deblending_ellipticities.py"


rule plot_blend_normalisation:
    # Figs. 20-21: raw and eq. 9-normalised r-band images.
    input:
        blends=NGUYEN["blends"].replace("{split}", "val"),
    output:
        figure=report(NGUYEN["fig20"], caption="../report/nguyen_fig20.rst", category="Nguyen 2025", subcategory="Data"),
    log:
        log_path("plot_blend_normalisation", "{survey}"),
    wildcard_constraints:
        survey=NGUYEN_WILDCARDS["survey"],
    resources:
        **rule_resources("plot_blend_normalisation"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_blend_normalisation.py"


rule plot_deblender_losses:
    # Figs. 22-23: loss curves of trainings 1-3 and of the latent flow.
    input:
        histories=expand(NGUYEN["history"], stage=list(NGUYEN_STAGES), allow_missing=True),
    output:
        figure=report(NGUYEN["fig22"], caption="../report/nguyen_fig22.rst", category="Nguyen 2025", subcategory="Training"),
    params:
        stages=list(NGUYEN_STAGES),
    log:
        log_path("plot_deblender_losses", "{model}"),
    wildcard_constraints:
        model=NGUYEN_WILDCARDS["model"],
    resources:
        **rule_resources("plot_deblender_losses"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_deblender_losses.py"
