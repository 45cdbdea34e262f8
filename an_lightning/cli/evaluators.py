"""Which evaluator ``python -m an_lightning.evaluate`` runs for a checkpoint's task kind.

Each task class maps to an ``Evaluator``: the check of its options (run before the model
is loaded, so bad input fails before minutes of work) and the evaluation itself. A
subclass without an entry of its own uses its nearest registered base class.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..tasks import AdversarialTask, ClassConditionalGAN, Inpainting
from .evaluate_gan import check_gan_args, evaluate_gan
from .evaluate_inpaint import Result, check_inpaint_args, evaluate_inpaint

__all__ = ["EVALUATORS", "Evaluator", "Result", "evaluator_for"]


@dataclass(frozen=True)
class Evaluator:
    check: Callable[[argparse.Namespace], None]
    evaluate: Callable[[Any, Path, argparse.Namespace], Result]  # (task, checkpoint, args)


EVALUATORS: dict[type[AdversarialTask], Evaluator] = {
    ClassConditionalGAN: Evaluator(check_gan_args, evaluate_gan),
    Inpainting: Evaluator(check_inpaint_args, evaluate_inpaint),
}


def evaluator_for(kind: type[AdversarialTask]) -> Evaluator:
    """The evaluator of the most specific registered class among ``kind``'s bases."""
    for cls in kind.__mro__:
        if cls in EVALUATORS:
            return EVALUATORS[cls]
    raise ValueError(f"no evaluator for {kind.__name__} checkpoints")
