"""LOC networks: interchangeable backbones with shared occupancy and language heads."""
from loc_core.models.factory import architecture, create_model, list_models

__all__ = ['architecture', 'create_model', 'list_models']
