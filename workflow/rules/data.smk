# Stage 1: galaxy sets (COSMOS or simulated), split into train/val/test Zarr stores.


rule prepare_galaxies:
    output:
        train=directory(f"{RESULTS}/galaxies/{{source}}/{{product}}/train.zarr"),
        val=directory(f"{RESULTS}/galaxies/{{source}}/{{product}}/val.zarr"),
        test=directory(f"{RESULTS}/galaxies/{{source}}/{{product}}/test.zarr"),
    params:
        galaxies=config["galaxies"],
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
