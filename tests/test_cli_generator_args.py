"""The arguments sample and layouts share: declared and checked once, in one order."""

import argparse

import pytest

from an_lightning.cli import generator_args


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    generator_args.add_input_args(p, per_class=3, classes_help="default: the first two")
    p.add_argument("--random", type=int, default=5)
    generator_args.add_generator_args(p, raw_help="G itself")
    return p.parse_args(["run", "--out", "pics", *argv])


def test_defaults():
    args = parse()
    assert (args.checkpoint, args.classes, args.per_class, args.seed, args.raw) == (
        "run", None, 3, 0, False
    )  # fmt: skip
    assert args.device in ("cpu", "cuda") and args.truncation is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [  # the first bad argument in the order the commands always checked them
        (["--per-class", "0", "--random", "-1"], "--per-class must be 1 or more, got 0"),
        (["--random", "-1", "--classes", "-2"], "--random must be 0 or more, got -1"),
        (["--classes", "1", "-2", "--device", "nope"], "--classes [-2] are negative"),
        (["--device", "nope"], "--device 'nope' is not a torch device"),
        (["--truncation", "-1", "--device", "nope"], "--truncation must be a positive"),
    ],
)
def test_checks_stop_at_the_first_bad_argument(argv, message):
    with pytest.raises(ValueError) as err:
        generator_args.check_args(parse(*argv), {"--random": 0})
    assert message in str(err.value)


def test_out_is_checked_only_when_the_command_writes(tmp_path):
    file = tmp_path / "file"
    file.write_text("taken")
    args = parse("--device", "cpu")
    args.out, args.checkpoint = file, tmp_path / "none.ckpt"
    with pytest.raises(ValueError, match="is a file, but names the folder"):
        generator_args.check_args(args)
    with pytest.raises(ValueError, match=r"none\.ckpt does not exist"):
        generator_args.check_args(args, writes=False)


def test_chosen_classes_default_to_the_first_ones_of_the_model():
    assert generator_args.chosen_classes(parse(), 10, 4) == [0, 1, 2, 3]
    assert generator_args.chosen_classes(parse(), 3, 4) == [0, 1, 2]
    assert generator_args.chosen_classes(parse("--classes", "2", "0"), 3, 4) == [2, 0]
    with pytest.raises(ValueError, match=r"--classes \[3\] outside \[0, 3\): the model has 3"):
        generator_args.chosen_classes(parse("--classes", "0", "3"), 3, 4)
