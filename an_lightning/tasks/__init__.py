"""LightningModules: a shared adversarial base and one subclass per task."""

from .base import AdversarialTask
from .gan import ClassConditionalGAN
from .inpaint import Inpainting

__all__ = ["AdversarialTask", "ClassConditionalGAN", "Inpainting"]
