"""Settings the paper states for this system (see :mod:`galprior.paper_settings`)."""

from galprior.paper_settings import PaperSetting

SETTINGS: tuple[PaperSetting, ...] = (
)
