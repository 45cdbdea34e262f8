"""Inpainting networks: the AN paper's two-stage generator and Yu et al.'s critics."""

from .critics import Critic, GlobalLocalCritic
from .generator import InpaintGenerator
from .patches import composite, crop, hole_boxes

__all__ = ["Critic", "GlobalLocalCritic", "InpaintGenerator", "composite", "crop", "hole_boxes"]
