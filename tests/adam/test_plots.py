"""The figures of Adam et al. 2022 draw for any number of samples (the paper-smoke preset
draws two prior samples)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from galprior.plots.adam import prior_samples_figure  # noqa: E402


@pytest.mark.parametrize("n", [1, 2, 3, 8])
def test_prior_samples_figure_has_one_panel_per_quantity_for_any_n(n):
    rng = np.random.default_rng(0)
    quantities = ["flux", "size", "ellipticity"]
    moments = pd.DataFrame({"quantity": quantities, "ks_statistic": [0.1, 0.2, 0.3],
                            **{f"{who}_q{q}": np.full(3, q / 100) for who in ("samples", "training")
                               for q in (25, 50, 75)}})
    fig = prior_samples_figure(rng.uniform(size=(n, 8, 8)), rng.uniform(size=(n, 8, 8)), moments)
    titles = [ax.get_title() for ax in fig.axes]
    assert sum(t.startswith(tuple(quantities)) for t in titles) == 3
    assert len(fig.axes) == 2 * n + 3
