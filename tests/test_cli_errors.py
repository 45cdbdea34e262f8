"""Bad input -> one ``error:`` line and exit status 2; tracebacks only on request."""

import logging
import sys
import warnings
from contextlib import contextmanager

import pytest

from an_lightning.cli.errors import (
    HINT,
    USER_ERRORS,
    CommandParser,
    command_errors,
    debugging,
    fail,
    held_output,
    root_cause,
)

CHATTY = "an_lightning.test.chatty"


@pytest.fixture(autouse=True)
def no_debug(monkeypatch):
    monkeypatch.delenv("AN_LIGHTNING_DEBUG", raising=False)


def test_fail_prints_one_line_ending_in_the_usage_and_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        fail("bad\n   value", usage="usage: cmd [-h]")
    assert exc.value.code == 2
    assert capsys.readouterr().err == "error: bad value (usage: cmd [-h])\n"
    with pytest.raises(SystemExit) as exc:
        fail("other", status=3)
    assert exc.value.code == 3 and capsys.readouterr().err == "error: other\n"


@pytest.mark.parametrize("kind", USER_ERRORS)
def test_user_errors_become_one_line(kind, capsys):
    with pytest.raises(SystemExit) as exc, command_errors():
        raise kind("no such file: x.yaml")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and err.endswith(f" {HINT}\n")
    assert "no such file: x.yaml" in err and "Traceback" not in err


def test_the_innermost_cause_is_reported(capsys):
    with pytest.raises(SystemExit), command_errors(usage="usage: fit CONFIG"):
        try:
            raise FileNotFoundError("runs/x.yaml\n does not exist")
        except FileNotFoundError as err:
            raise ValueError("the config could not be read") from err
    assert (
        capsys.readouterr().err == f"error: runs/x.yaml does not exist {HINT} (usage: fit CONFIG)\n"
    )


def test_root_cause_follows_the_chain_unless_suppressed():
    try:
        try:
            raise KeyError("inner")
        except KeyError:
            raise TypeError("outer") from None
    except TypeError as err:
        assert root_cause(err) == "outer"
    try:
        try:
            raise KeyError("inner")
        except KeyError:
            raise TypeError("outer")  # noqa: B904 (implicit context)
    except TypeError as err:
        assert root_cause(err) == "'inner'"


def test_other_exceptions_and_debug_mode_keep_the_traceback(monkeypatch):
    with pytest.raises(RuntimeError, match="a bug"), command_errors():
        raise RuntimeError("a bug")
    assert not debugging()
    monkeypatch.setenv("AN_LIGHTNING_DEBUG", "0")
    assert not debugging()
    monkeypatch.setenv("AN_LIGHTNING_DEBUG", "1")
    assert debugging()
    with pytest.raises(ValueError, match="bad option"), command_errors():
        raise ValueError("bad option")


@contextmanager
def chatty():
    """A logger writing to this test's stderr, as Lightning's do."""
    logger = logging.getLogger(CHATTY)
    handler = logging.StreamHandler(sys.stderr)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield logger
    finally:
        logger.removeHandler(handler)


def test_held_output_drops_log_lines_and_warnings_of_a_failed_block(capsys):
    with chatty() as logger, warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(ValueError), held_output((CHATTY,)):
            logger.info("GPU available: False")
            warnings.warn("a tip", UserWarning, stacklevel=1)
            raise ValueError("bad config")
        logger.info("after")
    assert capsys.readouterr().err == "after\n"  # the handler writes to stderr again
    assert seen == []


def test_held_output_prints_them_after_a_successful_block(capsys):
    with chatty() as logger, warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with held_output((CHATTY,)):
            logger.info("GPU available: False")
            warnings.warn("a tip", UserWarning, stacklevel=1)
            assert capsys.readouterr().err == ""  # held while the block runs
    assert capsys.readouterr().err == "GPU available: False\n"
    assert [str(w.message) for w in seen] == ["a tip"]


def test_a_command_parser_error_is_one_line_and_abbreviations_are_refused(capsys):
    p = CommandParser(prog="python -m an_lightning.sample")
    p.add_argument("--per-class", type=int, default=8)
    for argv, message in (
        (["--per-class", "many"], "argument --per-class: invalid int value: 'many'"),
        (["--per-clas", "2"], "unrecognized arguments: --per-clas 2"),
    ):
        with pytest.raises(SystemExit) as exc:
            p.parse_args(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and err == (
            f"error: {message}; python -m an_lightning.sample --help lists the options\n"
        )
