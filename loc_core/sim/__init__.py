"""A seeded synthetic driving world: procedural town, moving agents, simulated LiDAR and six
cameras (open3d ray casting), exact Occ3D ground truth and novel (never trained) objects.

Entry points: `SyntheticSource` (yields `Frame`s like `NuScenesSource`), `SimConfig`,
`NOVEL_CLASSES`, and the `loc-sim` command (`python -m loc_core.sim.cli`)."""
from loc_core.sim.config import SimConfig
from loc_core.sim.novel import NOVEL_CLASSES
from loc_core.sim.source import SyntheticSource

__all__ = ['NOVEL_CLASSES', 'SimConfig', 'SyntheticSource']
