"""The store layer: every intermediate of the workflow as a Zarr store with a declared layout.

Torch-free. ``base`` holds the machinery (checks, atomic writes, provenance), one module
per system holds its layouts, ``atomic`` the one atomic-write helper used for every file
the workflow writes, ``docs`` the documentation generated from the declarations.
"""

from .adam import OodSampleSet, ScoreGalaxySet, ScoreLensSet, ScorePriorSampleSet, SdeEvaluationSet, SdePosteriorSet
from .atomic import atomic_json_save, atomic_write
from .base import ENTRY_CHUNK, ArraySpec, Store, StoreError, StoreReader, StoreWriter, config_hash
from .chianese import MapResultSet, MockLensSet, PosteriorSampleSet, ReconstructionSet
from .galaxies import GalaxySet
from .lanusse import LatentSampleSet, MorphologySampleSet
from .nguyen import BlendSet, DeblendEvaluation, DesCutoutSet

# Every layout by its name (the ``layout`` attribute of a store).
LAYOUTS: dict[str, type[Store]] = {cls.LAYOUT: cls for cls in (
    GalaxySet, MockLensSet, ReconstructionSet, MapResultSet, PosteriorSampleSet, ScoreGalaxySet, ScoreLensSet,
    ScorePriorSampleSet, SdePosteriorSet, SdeEvaluationSet, OodSampleSet,
    BlendSet, DeblendEvaluation, DesCutoutSet,
    LatentSampleSet, MorphologySampleSet,
)}

__all__ = [
    "ENTRY_CHUNK", "ArraySpec", "Store", "StoreError", "StoreReader", "StoreWriter", "LAYOUTS", "atomic_write", "atomic_json_save",
    "config_hash",
    "GalaxySet", "MockLensSet", "ReconstructionSet", "MapResultSet", "PosteriorSampleSet",
    "ScoreGalaxySet", "ScoreLensSet", "ScorePriorSampleSet", "SdePosteriorSet", "SdeEvaluationSet", "OodSampleSet",
    "BlendSet", "DeblendEvaluation", "DesCutoutSet",
    "LatentSampleSet", "MorphologySampleSet",
]
