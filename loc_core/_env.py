"""The import environment of loc_core. Imported first by `loc_core/__init__.py`; nowhere else.

Two facts of the machines we run on are handled here, once:

* The only torchvision wheel is a CUDA build. Against the CPU torch its import fails with
  "operator torchvision::nms does not exist", because its fake-tensor registrations refer to
  operator schemas that only its (unloadable) C++ extension defines. Declaring those two schemas
  before torchvision's first import lets it (and open_clip) import and run on the CPU.
* Model weights can never be downloaded: `HF_HUB_OFFLINE=1` is the default, so a library that
  would reach for a hub fails fast instead of hanging on a closed network.
"""
import os
import sys

os.environ.setdefault('HF_HUB_OFFLINE', '1')

_TORCHVISION_SCHEMAS = (
    'nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor',
    'qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor',
)
_torchvision_library = None  # keeps the schema registrations alive for the process


def _declare_torchvision_schemas() -> None:
    """Declare torchvision's nms/qnms schemas when its C++ ops are missing (CPU torch)."""
    global _torchvision_library
    if 'torchvision' in sys.modules or _torchvision_library is not None:
        return
    import torch

    if hasattr(torch.ops, 'torchvision') and _has_op('nms'):
        return
    library = torch.library.Library('torchvision', 'DEF')
    for schema in _TORCHVISION_SCHEMAS:
        name = schema.split('(', 1)[0]
        if not _has_op(name):
            library.define(schema)
    _torchvision_library = library


def _has_op(name: str) -> bool:
    import torch

    try:
        getattr(torch.ops.torchvision, name)
    except (AttributeError, RuntimeError):
        return False
    return True


_declare_torchvision_schemas()
