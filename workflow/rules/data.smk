# Stage 1: galaxy sets (COSMOS or simulated), prepared in independent shards, then
# joined and split into train/val/test Zarr stores.


rule prepare_galaxies:
    # One shard of galaxies passing the product's cuts (galaxies.n_shards jobs).
    input:
        cosmos=cosmos_input,
    output:
        shard=temp(directory(f"{RESULTS}/galaxies/{{source}}/{{product}}/shards/{{shard}}.zarr")),
    params:
        split_sizes=lambda wildcards: split_sizes(config, wildcards.source, wildcards.product),
        n_shards=config["galaxies"]["n_shards"],
        cosmos=cosmos_options(config),
        simulated=config["galaxies"]["simulated"],
        product=lambda wildcards: config["galaxies"][wildcards.product],
        seed=config["seed"],
    log:
        f"{RESULTS}/logs/prepare_galaxies/{{source}}_{{product}}_shard{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/prepare_galaxies/{{source}}_{{product}}_shard{{shard}}.tsv"
    wildcard_constraints:
        source="simulated|cosmos",
        product="chianese|lanusse",
        shard=r"\d+",
    threads: config["galaxies"]["simulated"]["workers"]
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
            f"{RESULTS}/galaxies/{wildcards.source}/{wildcards.product}/shards/{k}.zarr"
            for k in range(config["galaxies"]["n_shards"])
        ],
    output:
        train=directory(f"{RESULTS}/galaxies/{{source}}/{{product}}/train.zarr"),
        val=directory(f"{RESULTS}/galaxies/{{source}}/{{product}}/val.zarr"),
        test=directory(f"{RESULTS}/galaxies/{{source}}/{{product}}/test.zarr"),
    params:
        split_sizes=lambda wildcards: split_sizes(config, wildcards.source, wildcards.product),
        seed=config["seed"],
    log:
        f"{RESULTS}/logs/split_galaxies/{{source}}_{{product}}.log",
    wildcard_constraints:
        source="simulated|cosmos",
        product="chianese|lanusse",
    resources:
        **rule_resources("split_galaxies"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/split_galaxies.py"


rule download_cosmos:
    # Opt-in (galaxies.cosmos.download: true): GalSim's COSMOS 25.2 training sample.
    output:
        directory(config["galaxies"]["cosmos"]["directory"] or "resources/cosmos-unset"),
    params:
        parent=lambda wildcards, output: os.path.dirname(os.path.abspath(output[0])),
    log:
        f"{RESULTS}/logs/download_cosmos/all.log",
    resources:
        **rule_resources("download_cosmos"),
    conda:
        "../../envs/data.yaml"
    shell:
        "galsim_download_cosmos -s 25.2 -d {params.parent} --nolink -q -v 1 > {log} 2>&1"
