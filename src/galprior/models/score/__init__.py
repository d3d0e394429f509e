"""Score-based galaxy prior of Adam et al. 2022: VE SDE, NCSN++, DSM loss, EMA, training, its units.

Importing this package registers the ``"score"`` model family (``ScoreUNet``).
"""

from galprior.models.ema import EMA
from .loss import dsm_loss
from .network import ScoreUNet
from .normalisation import NORMALISATIONS, Normalisation, get_normalisation
from .sde import VESDE, largest_pairwise_distance, technique2_probability, technique2_steps

__all__ = ["EMA", "dsm_loss", "ScoreUNet", "NORMALISATIONS", "Normalisation", "get_normalisation", "VESDE", "largest_pairwise_distance",
           "technique2_probability", "technique2_steps"]
