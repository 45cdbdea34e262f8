"""Training callbacks for the GAN task: periodic FID, layout pictures."""

from .fid import TrainingFID
from .layouts import LayoutImages

__all__ = ["LayoutImages", "TrainingFID"]
