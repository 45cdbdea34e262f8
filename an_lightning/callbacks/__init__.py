"""Training callbacks for the GAN task: periodic FID, layout pictures."""

from .fid import TrainingFID
from .layout_stats import LayoutEntropy
from .layouts import LayoutImages

__all__ = ["LayoutEntropy", "LayoutImages", "TrainingFID"]
