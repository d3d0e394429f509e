# Stage 1: galaxy sets (COSMOS or simulated), split into train/val/test Zarr stores.


rule prepare_galaxies:
    input:
        cosmos=cosmos_input,
    output:
        train=directory(f"{RESULTS}/galaxies/{{source}}/{{product}}/train.zarr"),
        val=directory(f"{RESULTS}/galaxies/{{source}}/{{product}}/val.zarr"),
        test=directory(f"{RESULTS}/galaxies/{{source}}/{{product}}/test.zarr"),
    params:
        split_sizes=lambda wildcards: config["galaxies"]["split_sizes"][wildcards.product],
        cosmos=cosmos_options(config),
        simulated=config["galaxies"]["simulated"],
        product=lambda wildcards: config["galaxies"][wildcards.product],
        seed=config["seed"],
    log:
        f"{RESULTS}/logs/prepare_galaxies/{{source}}_{{product}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/prepare_galaxies/{{source}}_{{product}}.tsv"
    wildcard_constraints:
        source="simulated|cosmos",
        product="chianese|lanusse",
    threads: 1
    resources:
        **rule_resources("prepare_galaxies"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/prepare_galaxies.py"


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
