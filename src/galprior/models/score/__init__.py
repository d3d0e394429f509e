"""Score-based galaxy prior of Adam et al. 2022: VE SDE, NCSN++, DSM loss, EMA, training.

The units the prior learns galaxies in are :mod:`galprior.data.score_normalisation`.

Importing this package registers the ``"score"`` model family (``ScoreUNet``).
"""

from galprior.models.ema import EMA
from .loss import dsm_loss
from .network import ScoreUNet
from .sde import VESDE, largest_pairwise_distance, technique2_probability, technique2_steps

__all__ = ["EMA", "dsm_loss", "ScoreUNet", "VESDE", "largest_pairwise_distance",
           "technique2_probability", "technique2_steps"]
