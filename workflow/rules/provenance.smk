# The provenance of a run (package versions and the full configuration), for the report.

add_targets("shared", [out("tables", "provenance.yaml")])


rule record_provenance:
    # Package version and the full configuration of the run, for the report.
    output:
        provenance=report(
            out("tables", "provenance.yaml"),
            caption="../report/provenance.rst",
            category="Provenance",
        ),
    params:
        config=config,
    log:
        log_path("record_provenance"),
    resources:
        **rule_resources("record_provenance"),
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/record_provenance.py"
