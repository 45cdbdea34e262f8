"""The digit-class count reads real digits right, follows the asked labels, and runs on a
trained checkpoint."""

import json

import pytest
import torch
from torch import nn

from an_lightning.data.digits_data import load_digits_uint8
from benchmarks import demo_classes


@pytest.fixture(scope="module")
def classifier():
    return demo_classes.fit_classifier(32)


class RealDigits(nn.Module):
    """A stand-in G that returns a real digit (in G's [-1, 1]) of class ``(y + shift) % 10``."""

    z_dim, num_classes = 4, 10

    def __init__(self, shift: int = 0) -> None:
        super().__init__()
        images, labels = load_digits_uint8(32)
        self.images, self.labels, self.shift = images.float() / 127.5 - 1, labels, shift

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        pick = torch.randint(1_000_000, (len(y),), generator=torch.Generator().manual_seed(1))
        out = []
        for i, c in enumerate(((y + self.shift) % 10).tolist()):
            of_class = (self.labels == c).nonzero().flatten()
            out.append(self.images[of_class[pick[i] % len(of_class)]])
        return torch.stack(out)


def test_the_classifier_reads_held_out_real_digits(classifier):
    _, held_out = classifier
    assert held_out >= 0.97  # 0.990 when written


def test_accuracy_counts_the_class_each_sample_was_drawn_for(classifier):
    clf, _ = classifier
    right = demo_classes.class_accuracy(clf, RealDigits(), per_class=20, seed=0)
    wrong = demo_classes.class_accuracy(clf, RealDigits(shift=1), per_class=20, seed=0)
    assert len(right) == len(wrong) == 10
    assert min(right) >= 0.9 and max(wrong) <= 0.1


def test_features_read_uint8_data_and_generator_output_alike():
    images, _ = load_digits_uint8(32)
    as_g = images[:5].float() / 127.5 - 1
    f_data, f_g = demo_classes.digit_features(images[:5]), demo_classes.digit_features(as_g)
    assert f_data.shape == (5, 64)
    assert abs(f_data - f_g).max() < 1e-6 and f_data.min() >= 0 and f_data.max() <= 1


def test_a_trained_run_gets_a_table_and_json(tiny_run, tmp_path, capsys):
    out = tmp_path / "classes.json"
    assert demo_classes.main([str(tiny_run), "--per-class", "3", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["g_iter"] == 4 and result["per_class"] == 3 and result["grid_per_class"] == 8
    for kind in ("ema", "raw", "grid"):
        values = result["accuracy"][kind]
        assert len(values) == 10 and all(0 <= v <= 1 for v in values)
        assert result["min"][kind] == min(values)
        assert result["mean"][kind] == pytest.approx(sum(values) / 10)
    assert "| mean |" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["{missing}"], "does not exist"),
        (["{run}", "--per-class", "0"], "--per-class 0"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tiny_run, tmp_path, capsys, argv, message):
    out = tmp_path / "classes.json"
    argv = [a.format(missing=tmp_path / "nope", run=tiny_run) for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        demo_classes.main([*argv, "--out", str(out)])
    assert exit_info.value.code == 2 and not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]


def test_an_inpainting_checkpoint_is_refused(inpaint_run, capsys):
    with pytest.raises(SystemExit) as exit_info:
        demo_classes.main([str(inpaint_run), "--per-class", "1"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error:")
