# Stage 5: metrics of the lens inference.


rule evaluate_lenses:
    input:
        mocks=f"{RESULTS}/lenses/chianese_mocks.zarr",
        map=f"{RESULTS}/inference/chianese_map.zarr",
        posterior=f"{RESULTS}/inference/chianese_posterior.zarr",
    output:
        table=report(
            f"{RESULTS}/tables/chianese/lens_recovery.csv",
            caption="../report/lens_recovery.rst",
            category="Chianese et al. 2020",
            subcategory="Lens recovery",
        ),
        coverage=report(
            f"{RESULTS}/tables/chianese/interval_coverage.csv",
            caption="../report/interval_coverage.rst",
            category="Chianese et al. 2020",
            subcategory="Lens recovery",
        ),
        summary=report(
            f"{RESULTS}/tables/chianese/recovery_summary.csv",
            caption="../report/recovery_summary.rst",
            category="Chianese et al. 2020",
            subcategory="Lens recovery",
        ),
    log:
        f"{RESULTS}/logs/evaluate_lenses/all.log",
    resources:
        **rule_resources("evaluate_lenses"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/evaluate_lenses.py"
