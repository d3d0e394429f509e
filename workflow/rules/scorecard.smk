# One scorecard of the four papers: each headline number of the systems that ran, ours
# beside the paper's (src/galprior/metrics/scorecard.py); docs/results.md is made from it.

SCORECARD = out("tables", "scorecard.csv")
# the tables each system's headline numbers are read from
SCORECARD_INPUTS = {
    "chianese": lambda: [CHIANESE[k] for k in ("lens_recovery", "interval_coverage", "snr_table")],
    "adam": lambda: [ADAM[k] for k in ("summary", "prior_moments", "pixel_coverage", "operator_checks")],
    "nguyen": lambda: [NGUYEN["metrics"]],
    "lanusse": lambda: [LANUSSE[k] for k in ("summary", "tests")],
}
SCORECARD_SYSTEMS = [s for s in config["systems"] if s in SCORECARD_INPUTS]

if SCORECARD_SYSTEMS:
    add_targets("shared", [SCORECARD])


rule tabulate_scorecard:
    # Headline numbers of every system that ran, against its paper.
    input:
        tables=[path for system in SCORECARD_SYSTEMS for path in SCORECARD_INPUTS[system]()],
    output:
        scorecard=report(SCORECARD, caption="../report/scorecard.rst", category="Scorecard"),
    params:
        systems=SCORECARD_SYSTEMS,
        # the tables folder: the scorecard's own folder
        tables_dir=lambda wildcards, output: os.path.dirname(output.scorecard),
    log:
        log_path("tabulate_scorecard"),
    resources:
        **rule_resources("tabulate_scorecard"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/tabulate_scorecard.py"
