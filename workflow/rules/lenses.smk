# Stage 2: mock strong-lens systems rendered from the test galaxies.


rule make_mock_lenses:
    # Chianese et al. 2020 sec. 5.1: EPL + shear, three noise levels.
    input:
        test=galaxy_store("chianese", "test"),
    output:
        mocks=directory(f"{RESULTS}/lenses/chianese_mocks.zarr"),
    params:
        options=config["lenses"]["chianese"],
        seed=config["seed"] + 1,
    log:
        f"{RESULTS}/logs/make_mock_lenses/all.log",
    benchmark:
        f"{RESULTS}/benchmarks/make_mock_lenses/all.tsv"
    resources:
        **rule_resources("make_mock_lenses"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/make_mock_lenses.py"


rule make_score_lenses:
    # Adam et al. 2022: SIE + shear, 256^2 render pooled to 128^2, relative noise.
    input:
        test=galaxy_store("chianese", "test"),
    output:
        mocks=directory(f"{RESULTS}/lenses/score_mocks.zarr"),
    params:
        options=config["lenses"]["score"],
        seed=config["seed"] + 2,
    log:
        f"{RESULTS}/logs/make_score_lenses/all.log",
    benchmark:
        f"{RESULTS}/benchmarks/make_score_lenses/all.tsv"
    resources:
        **rule_resources("make_score_lenses"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/make_score_lenses.py"


rule tabulate_snr:
    # Table 1 of Chianese et al. 2020: S/N of each mock system at each noise level.
    input:
        mocks=f"{RESULTS}/lenses/chianese_mocks.zarr",
    output:
        table=report(
            f"{RESULTS}/tables/chianese/table1_snr.csv",
            caption="../report/table1_snr.rst",
            category="Chianese et al. 2020",
            subcategory="Table 1",
        ),
    log:
        f"{RESULTS}/logs/tabulate_snr/all.log",
    resources:
        **rule_resources("tabulate_snr"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/tabulate_snr.py"
