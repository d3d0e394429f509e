# Stage 4: lens inference on the mock systems (Chianese et al. 2020 sec. 4-5).


rule infer_map:
    # MAP of ~80 lens + source + latent parameters, restarts batched over systems.
    input:
        mocks=f"{RESULTS}/lenses/chianese_mocks.zarr",
        weights=f"{RESULTS}/models/vae/weights.pt",
        hyperparameters=f"{RESULTS}/models/vae/hyperparameters.json",
        prior=f"{RESULTS}/models/vae/latent_prior.npz",
    output:
        map=directory(f"{RESULTS}/inference/chianese_map.zarr"),
    params:
        priors=config["inference"]["priors"],
        map=config["inference"]["map"],
        seed=config["seed"] + 4,
    log:
        f"{RESULTS}/logs/infer_map/all.log",
    benchmark:
        f"{RESULTS}/benchmarks/infer_map/all.tsv"
    threads: 2
    resources:
        **rule_resources("infer_map"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/infer_map.py"


rule infer_hmc:
    # NUTS/HMC from the MAP with a Laplace mass matrix, for the chosen systems.
    input:
        mocks=f"{RESULTS}/lenses/chianese_mocks.zarr",
        map=f"{RESULTS}/inference/chianese_map.zarr",
        weights=f"{RESULTS}/models/vae/weights.pt",
        hyperparameters=f"{RESULTS}/models/vae/hyperparameters.json",
        prior=f"{RESULTS}/models/vae/latent_prior.npz",
    output:
        posterior=directory(f"{RESULTS}/inference/chianese_posterior.zarr"),
    params:
        priors=config["inference"]["priors"],
        hmc=config["inference"]["hmc"],
        seed=config["seed"] + 5,
    log:
        f"{RESULTS}/logs/infer_hmc/all.log",
    benchmark:
        f"{RESULTS}/benchmarks/infer_hmc/all.tsv"
    threads: 2
    resources:
        **rule_resources("infer_hmc"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/infer_hmc.py"
