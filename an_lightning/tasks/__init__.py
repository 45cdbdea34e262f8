"""LightningModules: a shared adversarial base and one subclass per task."""

from .base import AdversarialTask
from .gan import ClassConditionalGAN

__all__ = ["AdversarialTask", "ClassConditionalGAN"]
