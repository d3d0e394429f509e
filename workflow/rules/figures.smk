# Figures: read stored results and draw; never recompute.


rule plot_galaxies:
    input:
        test=f"{RESULTS}/galaxies/{{source}}/{{product}}/test.zarr",
    output:
        figure=f"{RESULTS}/figures/galaxies/{{source}}_{{product}}.png",
    params:
        n_galaxies=config["figures"]["n_galaxies"],
    log:
        f"{RESULTS}/logs/plot_galaxies/{{source}}_{{product}}.log",
    wildcard_constraints:
        source="simulated|cosmos",
        product="chianese|lanusse",
    resources:
        **rule_resources("plot_galaxies"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_galaxies.py"
