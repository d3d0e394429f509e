# Figures and tables: read stored results and draw; never recompute.


rule record_provenance:
    # Package version and the full configuration of the run, for the report.
    output:
        provenance=report(
            f"{RESULTS}/tables/provenance.yaml",
            caption="../report/provenance.rst",
            category="Provenance",
        ),
    params:
        config=config,
    log:
        f"{RESULTS}/logs/record_provenance/all.log",
    resources:
        **rule_resources("record_provenance"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/record_provenance.py"


rule plot_galaxies:
    input:
        test=f"{RESULTS}/galaxies/{{source}}/{{product}}/test.zarr",
    output:
        figure=report(
            f"{RESULTS}/figures/galaxies/{{source}}_{{product}}.png",
            caption="../report/galaxies.rst",
            category=lambda wildcards: PAPERS[wildcards.product],
            subcategory="Training galaxies",
            labels={"source": "{source}", "product": "{product}"},
        ),
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


rule plot_mock_lenses:
    input:
        mocks=f"{RESULTS}/lenses/chianese_mocks.zarr",
    output:
        figure=report(
            f"{RESULTS}/figures/chianese/mock_lenses.png",
            caption="../report/mock_lenses.rst",
            category="Chianese et al. 2020",
            subcategory="Mock lenses",
        ),
    params:
        n_systems=config["figures"]["n_systems"],
    log:
        f"{RESULTS}/logs/plot_mock_lenses/all.log",
    resources:
        **rule_resources("plot_mock_lenses"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_mock_lenses.py"


rule plot_score_lenses:
    input:
        mocks=f"{RESULTS}/lenses/score_mocks.zarr",
    output:
        figure=report(
            f"{RESULTS}/figures/adam/mock_lenses.png",
            caption="../report/score_lenses.rst",
            category="Adam et al. 2022",
            subcategory="Mock lenses",
        ),
    params:
        n_systems=config["figures"]["n_systems"],
    log:
        f"{RESULTS}/logs/plot_score_lenses/all.log",
    resources:
        **rule_resources("plot_score_lenses"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_score_lenses.py"


rule plot_vae_training:
    input:
        history=f"{RESULTS}/models/vae/history.csv",
    output:
        figure=report(
            f"{RESULTS}/figures/chianese/vae_loss.png",
            caption="../report/vae_loss.rst",
            category="Chianese et al. 2020",
            subcategory="VAE",
        ),
    log:
        f"{RESULTS}/logs/plot_vae_training/all.log",
    resources:
        **rule_resources("plot_vae_training"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_vae_training.py"


rule plot_reconstructions:
    input:
        reconstructions=f"{RESULTS}/models/vae/reconstructions.zarr",
    output:
        fig2=report(
            f"{RESULTS}/figures/chianese/fig2_reconstructions.png",
            caption="../report/fig2_reconstructions.rst",
            category="Chianese et al. 2020",
            subcategory="Fig. 2",
        ),
        fig3=report(
            f"{RESULTS}/figures/chianese/fig3_rotation_test.png",
            caption="../report/fig3_rotation_test.rst",
            category="Chianese et al. 2020",
            subcategory="Fig. 3",
        ),
    params:
        n_galaxies=config["figures"]["n_galaxies"],
    log:
        f"{RESULTS}/logs/plot_reconstructions/all.log",
    resources:
        **rule_resources("plot_reconstructions"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_reconstructions.py"


rule plot_lens_fits:
    input:
        mocks=f"{RESULTS}/lenses/chianese_mocks.zarr",
        map=f"{RESULTS}/inference/chianese_map.zarr",
    output:
        figure=report(
            f"{RESULTS}/figures/chianese/fig6_7_fit_system{{system}}.png",
            caption="../report/fig6_7_fits.rst",
            category="Chianese et al. 2020",
            subcategory="Figs. 6-7",
        ),
    log:
        f"{RESULTS}/logs/plot_lens_fits/system{{system}}.log",
    resources:
        **rule_resources("plot_lens_fits"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_lens_fits.py"


rule plot_posteriors:
    input:
        mocks=f"{RESULTS}/lenses/chianese_mocks.zarr",
        posterior=f"{RESULTS}/inference/chianese_posterior.zarr",
    output:
        figure=report(
            f"{RESULTS}/figures/chianese/fig8_9_corner_system{{system}}.png",
            caption="../report/fig8_9_corner.rst",
            category="Chianese et al. 2020",
            subcategory="Figs. 8-9",
        ),
    log:
        f"{RESULTS}/logs/plot_posteriors/system{{system}}.log",
    resources:
        **rule_resources("plot_posteriors"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_posteriors.py"


rule plot_map_traces:
    input:
        map=f"{RESULTS}/inference/chianese_map.zarr",
    output:
        figure=report(
            f"{RESULTS}/figures/chianese/map_loss_traces.png",
            caption="../report/map_traces.rst",
            category="Chianese et al. 2020",
            subcategory="MAP",
        ),
    log:
        f"{RESULTS}/logs/plot_map_traces/all.log",
    resources:
        **rule_resources("plot_map_traces"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_map_traces.py"
