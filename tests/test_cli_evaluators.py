"""The evaluator registry: a checkpoint's task class picks its checks and evaluation."""

import pytest

from an_lightning.cli.evaluate_gan import check_gan_args, evaluate_gan
from an_lightning.cli.evaluate_inpaint import check_inpaint_args, evaluate_inpaint
from an_lightning.cli.evaluators import evaluator_for
from an_lightning.tasks import AdversarialTask, ClassConditionalGAN, Inpainting


def test_each_task_kind_has_its_checks_and_evaluation():
    gan, inpaint = evaluator_for(ClassConditionalGAN), evaluator_for(Inpainting)
    assert (gan.check, gan.evaluate) == (check_gan_args, evaluate_gan)
    assert (inpaint.check, inpaint.evaluate) == (check_inpaint_args, evaluate_inpaint)


def test_a_subclass_uses_its_nearest_registered_base():
    class MyGAN(ClassConditionalGAN):
        pass

    assert evaluator_for(MyGAN) == evaluator_for(ClassConditionalGAN)


def test_a_task_kind_without_an_evaluator_is_a_one_line_error():
    class Other(AdversarialTask):
        pass

    with pytest.raises(ValueError, match="no evaluator for Other checkpoints"):
        evaluator_for(Other)
