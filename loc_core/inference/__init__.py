"""Inference: one entry point, `LocPredictor(config).predict(frame) -> OccupancyResult`."""
from loc_core.inference.result import FREE_LABEL, UNKNOWN_LABEL, OccupancyResult

__all__ = ['OccupancyResult', 'FREE_LABEL', 'UNKNOWN_LABEL']
