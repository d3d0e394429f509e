"""Posterior sampling of pixelated lensed sources with a score prior (Adam et al. 2022).

- ``likelihood``: the convolved likelihood (eq. 19) and its score;
- ``solvers``: Euler-Maruyama (eq. 20), predictor-corrector and Heun;
- ``posterior``: posterior samples for the mock lenses (known lens, and a lens from a MAP fit);
- ``ood``: the out-of-distribution experiment (Fig. 2).
"""

from .likelihood import convolved_likelihood_score, convolved_log_likelihood
from .solvers import SOLVERS, score_evaluations, solve

__all__ = ["convolved_likelihood_score", "convolved_log_likelihood", "SOLVERS", "score_evaluations", "solve"]
