"""Tables of the signal-to-noise ratios of mock lenses (Chianese et al. 2020 Table 1)."""

from __future__ import annotations

import pandas as pd

from galprior.store import MockLensSet


def snr_table(mocks: MockLensSet) -> pd.DataFrame:
    """S/N of every system at every noise level, one row each (long format)."""
    rows = []
    for s in range(len(mocks)):
        for level, sigma in enumerate(mocks.noise_sigma):
            rows.append({"system": s, "galaxy_index": int(mocks.galaxy_index[s]),
                         "noise_level": level, "noise_sigma": float(sigma),
                         "snr": float(mocks.snr[s, level])})
    return pd.DataFrame(rows)
