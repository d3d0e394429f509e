# Shared stage: galaxy sets (COSMOS or simulated), prepared in independent shards,
# joined and split into train/val/test Zarr stores, and their gallery figures.


rule prepare_galaxies:
    # One shard of galaxies passing the product's cuts (galaxies.n_shards jobs).
    input:
        cosmos=cosmos_input,
    output:
        shard=temp(directory(galaxy_shard("{product}", "{shard}", "{source}"))),
    params:
        split_sizes=lambda wildcards: split_sizes(config, wildcards.source, wildcards.product),
        n_shards=config["galaxies"]["n_shards"],
        cosmos=lambda wildcards: cosmos_options(config, wildcards.product),
        simulated=config["galaxies"]["simulated"],
        product=lambda wildcards: config["galaxies"][wildcards.product],
        seed=config["seed"],
    log:
        log_path("prepare_galaxies", "{source}_{product}_shard{shard}"),
    benchmark:
        bench_path("prepare_galaxies", "{source}_{product}_shard{shard}")
    wildcard_constraints:
        source="simulated|cosmos",
        product="chianese|lanusse",
        shard=r"\d+",
    threads: lambda wildcards: config["galaxies"]["simulated"]["workers"] if wildcards.source == "simulated" else 1
    priority: 3  # every system's chain starts from the galaxies
    resources:
        **rule_resources("prepare_galaxies"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/prepare_galaxies.py"


rule split_galaxies:
    # Join the shards and split them by a seeded permutation.
    input:
        shards=lambda wildcards: [
            galaxy_shard(wildcards.product, k, wildcards.source)
            for k in range(config["galaxies"]["n_shards"])
        ],
    output:
        train=directory(galaxy_store("{product}", "train", "{source}")),
        val=directory(galaxy_store("{product}", "val", "{source}")),
        test=directory(galaxy_store("{product}", "test", "{source}")),
    params:
        split_sizes=lambda wildcards: split_sizes(config, wildcards.source, wildcards.product),
        seed=config["seed"],
    log:
        log_path("split_galaxies", "{source}_{product}"),
    wildcard_constraints:
        source="simulated|cosmos",
        product="chianese|lanusse",
    priority: 3
    resources:
        **rule_resources("split_galaxies"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/split_galaxies.py"


rule download_cosmos:
    # Opt-in (galaxies.cosmos.<product>.download: true): GalSim's COSMOS 23.5 or 25.2 training
    # sample (named by the folder), fetched with resumed range requests, verified, unpacked
    # atomically; one job per configured download folder.
    output:
        directory("{cosmos_folder}"),
    log:
        log_path("download_cosmos", "{cosmos_folder}"),
    wildcard_constraints:
        cosmos_folder=cosmos_download_pattern(),
    resources:
        **rule_resources("download_cosmos"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/download_cosmos.py"


rule plot_galaxies:
    input:
        test=galaxy_store("{product}", "test", "{source}"),
    output:
        figure=report(
            galaxy_figure("{product}", "{source}"),
            caption="../report/galaxies.rst",
            category=lambda wildcards: PRODUCT_PAPER[wildcards.product],
            subcategory="Training galaxies",
            labels={"source": "{source}", "product": "{product}"},
        ),
    params:
        n_galaxies=config["figures"]["n_galaxies"],
    log:
        log_path("plot_galaxies", "{source}_{product}"),
    wildcard_constraints:
        source="simulated|cosmos",
        product="chianese|lanusse",
    resources:
        **rule_resources("plot_galaxies"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_galaxies.py"
