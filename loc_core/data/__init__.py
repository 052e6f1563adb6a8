"""Data core: the Frame currency, the Occ3D vocabulary and label files, and data sources."""
from loc_core.data.boxes import Boxes
from loc_core.data.frame import CameraView, Frame
from loc_core.data.occ3d_io import (OCC3D_SHAPE, Occ3DFormatError, Occ3DLabels, load_occ3d_labels,
                                    save_occ3d_labels)

__all__ = ['Boxes', 'CameraView', 'Frame', 'Occ3DLabels', 'Occ3DFormatError', 'OCC3D_SHAPE',
           'load_occ3d_labels', 'save_occ3d_labels']
