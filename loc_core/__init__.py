"""loc_core: the LOC model and its data stages, in pure Python + PyTorch (no ROS imports)."""
from loc_core import _env  # noqa: F401  (must stay the first import: see _env's docstring)

__version__ = '0.1.0'
