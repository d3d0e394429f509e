"""Figures drawn from stored results (Matplotlib, Agg backend); never recompute them."""

import matplotlib

matplotlib.use("Agg")
