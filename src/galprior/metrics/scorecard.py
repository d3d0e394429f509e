"""One scorecard of the four papers: each headline number, ours beside the paper's.

Each row is one number a paper states (or a property it claims), read from the system's
own tables of a finished run (``results/tables/<system>/*.csv``): ``system``,
``quantity``, ``ours`` (as a number), ``paper`` (as the paper prints it), ``source`` (the
section, figure or table), ``measured`` (how ours is measured), ``meets`` (``yes`` /
``no``; ``n/a`` where the run has nothing to measure it on) and ``criterion`` (what
``meets`` asks of ours). Torch-free: it reads tables only.

``python -m galprior.metrics.scorecard results/tables/scorecard.csv > docs/results.md``
writes the results page from a run's scorecard (rule ``tabulate_scorecard`` writes the
CSV); the page embeds the CSV it was made from, and a test checks that the two agree.

The criteria are ours where the paper gives a number without a tolerance: a number of
the paper is met within its own rounding or the tolerance named in the row.
"""

from __future__ import annotations

import io
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["COLUMNS", "Headline", "HEADLINES", "scorecard", "results_markdown"]

COLUMNS = ("system", "quantity", "ours", "paper", "source", "measured", "meets", "criterion")
SYSTEMS = {"chianese": "Chianese et al. 2020", "adam": "Adam et al. 2022", "nguyen": "Nguyen 2025",
           "lanusse": "Lanusse et al. 2021"}

Tables = Callable[[str], pd.DataFrame]


@dataclass(frozen=True)
class Headline:
    """One headline number: how to compute ours from the tables, and what meets the paper."""

    system: str
    quantity: str
    paper: str
    source: str
    measured: str
    criterion: str
    value: Callable[[Tables], float]
    meets: Callable[[float], bool]


def _level(frame: pd.DataFrame, level: float) -> pd.DataFrame:
    return frame[np.isclose(frame["noise_sigma"], level)]


def _chianese_median_error(level: float) -> Callable[[Tables], float]:
    def value(tables: Tables) -> float:
        rows = _level(tables("chianese/lens_recovery.csv"), level)
        rows = rows[rows["parameter"] == "einstein_radius"]
        return float(np.median(np.abs(rows["map_rel_error"])))
    return value


def _chianese_within_2pct(tables: Tables) -> float:
    rows = _level(tables("chianese/lens_recovery.csv"), 0.0333)
    rows = rows[rows["parameter"] == "einstein_radius"]
    return float(np.mean(np.abs(rows["map_rel_error"]) <= 0.02))


def _chianese_width(level: float) -> Callable[[Tables], float]:
    def value(tables: Tables) -> float:
        rows = _level(tables("chianese/lens_recovery.csv"), level)
        passed = rows["diagnostics_flag"].isna() | (rows["diagnostics_flag"].astype(str) == "")
        rows = rows[(rows["parameter"] == "einstein_radius") & rows["q84"].notna() & passed]
        if rows.empty:
            return math.nan
        return float(np.median((rows["q84"] - rows["q16"]) / 2 / rows["truth"]))
    return value


def _chianese_snr_ratio(level: float, paper_median: float) -> Callable[[Tables], float]:
    def value(tables: Tables) -> float:
        return float(np.median(_level(tables("chianese/table1_snr.csv"), level)["snr"])) / paper_median
    return value


def _chianese_coverage(tables: Tables) -> float:
    rows = tables("chianese/interval_coverage.csv")
    rows = rows[rows["n_posteriors"] > 0]
    if rows.empty:
        return math.nan
    return float(np.average(rows["coverage68"], weights=rows["n_posteriors"]))


def _adam_known(column: str, solver: str = "euler_maruyama") -> Callable[[Tables], float]:
    def value(tables: Tables) -> float:
        rows = tables("adam/sde_summary.csv")
        rows = rows[(rows["solver"] == solver) & (rows["lens"] == "known")]
        return float(np.median(rows[column]))
    return value


def _adam_coverage_z(solver: str, width: float = 1.0) -> Callable[[Tables], float]:
    """(coverage - expected) / Monte-Carlo error of the known-lens run of ``solver``, the
    systems pooled (mean coverage, errors added in quadrature)."""
    def value(tables: Tables) -> float:
        rows = tables("adam/pixel_coverage.csv")
        rows = rows[(rows["solver"] == solver) & (rows["lens"] == "known") & (rows["width_std"] == width)]
        if rows.empty:
            return math.nan
        error = float(np.sqrt((rows["mc_error"] ** 2).sum())) / len(rows)
        return float((rows["coverage"].mean() - rows["expected"].mean()) / error)
    return value


def _adam_operator_eigenvalue(tables: Tables) -> float:
    return float(tables("adam/operator_checks.csv")["eigenvalue_max"].median())


def _adam_prior_ks(tables: Tables) -> float:
    return float(tables("adam/prior_moments.csv")["ks_statistic"].max())


def _nguyen(column: str, survey: str = "lsst", stage: str = "t2") -> Callable[[Tables], float]:
    def value(tables: Tables) -> float:
        rows = tables("nguyen/deblending_metrics.csv")
        rows = rows[(rows["survey"] == survey) & (rows["stage"] == stage)]
        return float(rows[column].iloc[0])
    return value


def _nguyen_regressor_gain(tables: Tables) -> float:
    """RMS ellipticity error of the regressor over that of the reconstructions (t2, LSST)."""
    return _nguyen("e_rmse_regressor")(tables) / _nguyen("e_rmse_reconstruction")(tables)


def _lanusse(column: str, sample: str = "flowvae") -> Callable[[Tables], float]:
    def value(tables: Tables) -> float:
        rows = tables("lanusse/morphology_summary.csv").set_index("sample")
        return float(rows.loc[sample, column])
    return value


def _lanusse_margin_low(family: str) -> Callable[[Tables], float]:
    """Lower end of the interval of the Flow-VAE's margin over the parametric twins (the
    twins' distance to the data minus the Flow-VAE's, paired galaxy bootstrap) in ``family``."""
    def value(tables: Tables) -> float:
        rows = tables("lanusse/morphology_summary.csv").set_index("sample")
        return float(rows.loc["flowvae", f"difference_low_{family}"])
    return value


def _lanusse_twins_decided(tables: Tables) -> float:
    """Statistic families (size/shape, Gini-M20, MID) in which the paired test tells the
    parametric twins from the data at p < 0.01."""
    rows = tables("lanusse/morphology_summary.csv").set_index("sample")
    return float(sum(rows.loc["parametric", f"p_value_{family}"] < 0.01
                     for family in ("second_order", "gini_m20", "mid")))


HEADLINES: tuple[Headline, ...] = (
    # Chianese et al. 2020
    Headline("chianese", "median |MAP r_Ein error| at sigma = 0.0333", "percent level, biases ~1 %",
             "sec. 5.2-5.3", "median over the mock systems of |r_Ein(MAP) / r_Ein(true) - 1|, "
             "highest S/N (lens_recovery.csv)", "<= 0.01",
             _chianese_median_error(0.0333), lambda v: v <= 0.01),
    Headline("chianese", "median |MAP r_Ein error| at sigma = 0.1", "percent level",
             "sec. 5.2-5.3", "as above, medium S/N", "<= 0.03",
             _chianese_median_error(0.1), lambda v: v <= 0.03),
    Headline("chianese", "fraction of systems with |MAP r_Ein error| <= 2 % at sigma = 0.0333",
             "percent level", "sec. 5.2", "lens_recovery.csv, highest S/N", ">= 7/8",
             _chianese_within_2pct, lambda v: v >= 7 / 8 - 1e-9),
    Headline("chianese", "posterior half-width of r_Ein (relative) at sigma = 0.333", "~3 %",
             "sec. 5.3", "median over the sampled systems whose chains pass the diagnostics of "
             "(q84 - q16) / 2 / r_Ein(true)",
             "within a factor 2 of 0.03", _chianese_width(0.333), lambda v: 0.015 <= v <= 0.06),
    Headline("chianese", "posterior half-width of r_Ein (relative) at sigma = 0.0333", "<~1 %",
             "sec. 5.3", "as above, highest S/N", "<= 0.01",
             _chianese_width(0.0333), lambda v: v <= 0.01),
    Headline("chianese", "median S/N at sigma = 0.0333 over Table 1's", "757-849 (Table 1)",
             "Table 1, eq. 24-25", "median eq. 24 S/N of the mocks / 803", "within a factor 2 (0.5-2)",
             _chianese_snr_ratio(0.0333, 803.0), lambda v: 0.5 <= v <= 2.0),
    Headline("chianese", "coverage of the 68 % intervals of the lens parameters", "(not in the paper)",
             "beyond the paper", "interval_coverage.csv, weighted by posteriors that pass the "
             "diagnostics", "0.5-0.85", _chianese_coverage, lambda v: 0.5 <= v <= 0.85),
    # Adam et al. 2022
    Headline("adam", "median chi2_nu over the source-seen pixels, Euler-Maruyama, true lens",
             "'almost down to the noise level' (chi2_nu ~ 1)", "sec. 3, Figs. 1 and 3",
             "sde_summary.csv chi2_nu_source_pixels_median, median over systems", "0.8-1.2",
             _adam_known("chi2_nu_source_pixels_median"), lambda v: 0.8 <= v <= 1.2),
    Headline("adam", "median chi2_nu over all pixels, Euler-Maruyama, true lens",
             "'almost down to the noise level'", "sec. 3, Fig. 1", "sde_summary.csv chi2_nu_median",
             "0.8-1.2", _adam_known("chi2_nu_median"), lambda v: 0.8 <= v <= 1.2),
    Headline("adam", "Spearman correlation of posterior std with magnification",
             "lower std where highly magnified", "sec. 3, Fig. 1",
             "std_magnification_spearman of the Euler-Maruyama known-lens run, median over systems",
             "< 0", _adam_known("std_magnification_spearman"), lambda v: v < 0),
    Headline("adam", "per-pixel 1-std coverage in the source region minus a calibrated posterior's, in "
             "Monte-Carlo errors, Euler-Maruyama, true lens", "(not in the paper)", "beyond the paper",
             "pixel_coverage.csv, systems pooled (expectation: Student t with n - 1 dof)", "|z| <= 2",
             _adam_coverage_z("euler_maruyama"), lambda v: abs(v) <= 2),
    Headline("adam", "per-pixel 1-std coverage in the source region minus a calibrated posterior's, in "
             "Monte-Carlo errors, implicit Euler-Maruyama, true lens", "(not in the paper)", "beyond the paper",
             "pixel_coverage.csv, systems pooled (expectation: Student t with n - 1 dof)", "|z| <= 2",
             _adam_coverage_z("imex_euler_maruyama"), lambda v: abs(v) <= 2),
    Headline("adam", "largest eigenvalue of A^T A (eq. 19 assumes A A^T ~ 1)",
             "'a reasonable approximation': diagonal <= 1, few nonzero off-diagonal elements", "app. A",
             "operator_checks.csv eigenvalue_max, median over the mock systems", "<= 2",
             _adam_operator_eigenvalue, lambda v: v <= 2),
    Headline("adam", "largest KS statistic, prior samples against training galaxies (flux, size, "
             "ellipticity)", "(not in the paper)", "beyond the paper", "prior_moments.csv",
             "<= 0.15", _adam_prior_ks, lambda v: v <= 0.15),
    # Nguyen 2025
    Headline("nguyen", "SSIM after training 2, LSST", "0.93", "sec. 4.2, Fig. 13",
             "deblending_metrics.csv ssim_mean, LSST validation blends, t2", ">= 0.925",
             _nguyen("ssim_mean"), lambda v: v >= 0.925),
    Headline("nguyen", "cosine similarity after training 2, LSST", "0.985", "sec. 4.2, Fig. 13",
             "deblending_metrics.csv cosine_mean, t2", ">= 0.98",
             _nguyen("cosine_mean"), lambda v: v >= 0.98),
    Headline("nguyen", "regressor RMS ellipticity error over the reconstructions'",
             "the regressor does better", "sec. 4.3, Figs. 15-16",
             "e_rmse_regressor / e_rmse_reconstruction, LSST t2", "< 1",
             _nguyen_regressor_gain, lambda v: v < 1),
    Headline("nguyen", "mean |e| of the regressor over the truth's (roundness)",
             "the regressor reduces the round bias", "sec. 4.3, Fig. 16",
             "roundness_regressor, LSST t2 (1: no bias)", "0.9-1.1",
             _nguyen("roundness_regressor"), lambda v: 0.9 <= v <= 1.1),
    Headline("nguyen", "median |g - r colour error| after training 2, LSST", "(not in the report)",
             "beyond the report (its science: photometry)", "deblending_metrics.csv colour_gr_abs_median, "
             "band fluxes through the inverse of eq. 9, t2", "<= 0.1 mag",
             _nguyen("colour_gr_abs_median"), lambda v: v <= 0.1),
    Headline("nguyen", "median |r - i colour error| after training 2, LSST", "(not in the report)",
             "beyond the report", "deblending_metrics.csv colour_ri_abs_median, t2", "<= 0.1 mag",
             _nguyen("colour_ri_abs_median"), lambda v: v <= 0.1),
    # Lanusse et al. 2021
    Headline("lanusse", "mean size of Flow-VAE samples against COSMOS", "1 % difference",
             "sec. 4.4, Fig. 6", "morphology_summary.csv rel_diff_sigma (HSM determinant radius)",
             "|diff| <= 0.02", _lanusse("rel_diff_sigma"), lambda v: abs(v) <= 0.02),
    Headline("lanusse", "mean |g| of Flow-VAE samples against COSMOS", "4 % difference",
             "sec. 4.4, Fig. 6", "morphology_summary.csv rel_diff_abs_g (HSM)", "|diff| <= 0.05",
             _lanusse("rel_diff_abs_g"), lambda v: abs(v) <= 0.05),
    Headline("lanusse", "statistic families in which the parametric twins are told from COSMOS (p < 0.01)",
             "(the test the comparison rests on)", "sec. 4.4, Figs. 7-9",
             "morphology_summary.csv p_value_<family>, paired swap test, of size/shape, Gini-M20, MID", ">= 2",
             _lanusse_twins_decided, lambda v: v >= 2),
    Headline("lanusse", "Flow-VAE's margin over the parametric twins, Gini-M20: lower end of its interval",
             "Flow-VAE closer than the parametric fits", "sec. 4.4, Figs. 8-9",
             "morphology_summary.csv difference_low_gini_m20 (energy distances, 95 % paired bootstrap)", "> 0",
             _lanusse_margin_low("gini_m20"), lambda v: v > 0),
    Headline("lanusse", "Flow-VAE's margin over the parametric twins, MID: lower end of its interval",
             "Flow-VAE closer than the parametric fits", "sec. 4.4, Fig. 9",
             "morphology_summary.csv difference_low_mid (energy distances, 95 % paired bootstrap)", "> 0",
             _lanusse_margin_low("mid"), lambda v: v > 0),
)


def scorecard(tables_dir: str | Path, systems: list[str] | None = None) -> pd.DataFrame:
    """The scorecard of a run whose tables are under ``tables_dir`` (the systems it ran)."""
    tables_dir = Path(tables_dir)
    cache: dict[str, pd.DataFrame] = {}

    def tables(name: str) -> pd.DataFrame:
        if name not in cache:
            cache[name] = pd.read_csv(tables_dir / name)
        return cache[name]

    rows = []
    for h in HEADLINES:
        if systems is not None and h.system not in systems:
            continue
        try:
            ours = h.value(tables)
        except (KeyError, IndexError) as err:
            raise KeyError(f"scorecard: {h.system} '{h.quantity}': {err} not in the tables of "
                           f"{tables_dir}") from err
        meets = "n/a" if not math.isfinite(ours) else ("yes" if h.meets(ours) else "no")
        rows.append({"system": h.system, "quantity": h.quantity, "ours": ours, "paper": h.paper,
                     "source": h.source, "measured": h.measured, "meets": meets,
                     "criterion": h.criterion})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def read_scorecard(path: str | Path | io.StringIO) -> pd.DataFrame:
    """A scorecard CSV as written: ``meets`` keeps its ``n/a`` (which pandas would read as
    missing); an empty ``ours`` is NaN."""
    return pd.read_csv(path, keep_default_na=False, na_values={"ours": [""]})


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:.3g}"


def results_markdown(card: pd.DataFrame, csv_text: str) -> str:
    """docs/results.md: the scorecard by system, then the CSV it was made from."""
    lines = ["# Results of the quick default", "",
             "Generated by `python -m galprior.metrics.scorecard results/tables/scorecard.csv` "
             "from the scorecard of a run of the quick default (`config/config.yaml`, 2 CPU "
             "cores; rule `tabulate_scorecard`); do not edit. Each row is a headline number of "
             "a paper, ours measured as the `measured` column says, and whether it meets the "
             "paper by the `criterion` column. The quick default is a small CPU setting: the "
             "paper preset is the one meant to reach the papers.", ""]
    for system, title in SYSTEMS.items():
        rows = card[card["system"] == system]
        if rows.empty:
            continue
        lines += [f"## {title}", "", "| quantity | ours | paper | where | meets | criterion | measured |",
                  "|---|---|---|---|---|---|---|"]
        for _, r in rows.iterrows():
            lines.append(f"| {r['quantity']} | {_fmt(float(r['ours']))} | {r['paper']} | {r['source']} | "
                         f"{r['meets']} | {r['criterion']} | {r['measured']} |")
        lines.append("")
    lines += ["## The scorecard", "", "```csv", csv_text.rstrip("\n"), "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "results/tables/scorecard.csv")
    text = path.read_text()
    print(results_markdown(read_scorecard(path), text), end="")
