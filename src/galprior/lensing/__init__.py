"""Strong-lensing physics: deflections, ray tracing, sources, PSF, noise, mock lenses.

Maths lives in ``galprior.lensing.func`` (pure torch functions); this package adds the
thin parametrised classes (``EPL``, ``ExternalShear``, ``LensSimulator``,
``LensingOperator``) and mock generation (``mocks``).
"""

from .lenses import EPL, ExternalShear
from .operator import LensingOperator
from .simulator import LENS_PARAMETER_NAMES, SOURCE_PARAMETER_NAMES, LensSimulator, validate_inputs

__all__ = [
    "EPL", "ExternalShear", "LensSimulator", "LensingOperator",
    "LENS_PARAMETER_NAMES", "SOURCE_PARAMETER_NAMES", "validate_inputs",
]
