# Stage 3: generative source models trained on the galaxy sets.


rule train_vae:
    # Chianese et al. 2020 sec. 2 / app. D. Resumes from results/checkpoints/ after a
    # kill (the folder is named by a hash of the settings and outlives failed jobs).
    input:
        train=galaxy_store("chianese", "train"),
        val=galaxy_store("chianese", "val"),
    output:
        weights=f"{RESULTS}/models/vae/weights.pt",
        hyperparameters=f"{RESULTS}/models/vae/hyperparameters.json",
        history=f"{RESULTS}/models/vae/history.csv",
    params:
        architecture=config["vae"]["architecture"],
        training=config["vae"]["training"],
        seed=config["seed"] + 3,
        checkpoint_dir=f"{RESULTS}/checkpoints/vae-{settings_hash(config['vae'], config['galaxies'])}",
    log:
        f"{RESULTS}/logs/train_vae/all.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_vae/all.tsv"
    threads: 2
    resources:
        **rule_resources("train_vae"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/train_vae.py"


rule fit_latent_prior:
    # Multivariate normal of the encoded training means, covariance x 9 (sec. 4).
    input:
        weights=f"{RESULTS}/models/vae/weights.pt",
        hyperparameters=f"{RESULTS}/models/vae/hyperparameters.json",
        train=galaxy_store("chianese", "train"),
    output:
        prior=f"{RESULTS}/models/vae/latent_prior.npz",
    params:
        covariance_scale=config["vae"]["latent_prior"]["covariance_scale"],
    log:
        f"{RESULTS}/logs/fit_latent_prior/all.log",
    resources:
        **rule_resources("fit_latent_prior"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/fit_latent_prior.py"


rule reconstruct_galaxies:
    # Reconstructions and the rotation test of test galaxies (Figs. 2-3).
    input:
        weights=f"{RESULTS}/models/vae/weights.pt",
        hyperparameters=f"{RESULTS}/models/vae/hyperparameters.json",
        test=galaxy_store("chianese", "test"),
    output:
        reconstructions=directory(f"{RESULTS}/models/vae/reconstructions.zarr"),
    params:
        n_galaxies=config["figures"]["n_galaxies"],
    log:
        f"{RESULTS}/logs/reconstruct_galaxies/all.log",
    resources:
        **rule_resources("reconstruct_galaxies"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/reconstruct_galaxies.py"
