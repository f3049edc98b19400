"""The published import path of `Predictor` (its code is in mivolo.model.predictor)."""

from mivolo.model.predictor import Predictor

__all__ = ["Predictor"]
