"""Check a sweep against the experiment: every parameter a config key, every run parsable.

Uses the fit CLI's own parser (LightningCLI + jsonargparse) without building the
model or data, so a typo in a dotted key or a value of the wrong type stops the
sweep before any run directory is written or any job submitted.
"""

from __future__ import annotations

import contextlib
import io

from ..cli.errors import HINT
from ..cli.quiet import FIT_NOISE, ignored_warnings
from .spec import Sweep, SweepError


def parse_fit_args(args: list[str]):
    """The fit CLI's parsed config for ``args`` (``CONFIG.yaml --k=v ...``), nothing built."""
    from jsonargparse import ArgumentError

    from ..cli.fit_cli import FitCLI, build_cli, to_cli_args

    class ParseOnly(FitCLI):
        """Stops right after parsing (a public hook): nothing seeded, built or written."""

        def parse_arguments(self, parser, args) -> None:
            super().parse_arguments(parser, args)
            raise Parsed(parser, self.config)

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), ignored_warnings(*FIT_NOISE):
            build_cli(to_cli_args(args), ParseOnly, exit_on_error=False)
    except Parsed as done:
        return done.parser, done.config
    except SystemExit as exc:  # the fit CLI refused: keep its message, not its usage line
        raise SweepError(_complaint(exc.code, err.getvalue())) from None
    except ArgumentError as exc:
        raise SweepError(" ".join(f"{exc} {err.getvalue()}".split())) from None
    raise AssertionError("the fit CLI returned without parsing")  # parse_arguments always runs


class Parsed(Exception):
    """Carries the fit CLI's parser and config out of its constructor."""

    def __init__(self, parser, config) -> None:
        super().__init__("parsed")
        self.parser, self.config = parser, config


def _complaint(code: object, stderr: str) -> str:
    """What the fit CLI said after its last ``error:``, on one line, without its hint
    and its usage (a sweep is not run as ``fit CONFIG.yaml``)."""
    from ..cli.fit_cli import USAGE

    text = code if isinstance(code, str) else stderr
    text = " ".join((text.rpartition("error:")[2] or text).split())
    text = text.replace(f"({USAGE})", "").replace(HINT, "")
    return " ".join(text.split()) or f"the fit CLI exited with {code}"


def check_parameters(sweep: Sweep, base_args: list[str]) -> None:
    """``SweepError`` unless every parameter is a key of the base config (or ``config``)."""
    _, config = parse_fit_args(base_args)
    known = set(config.keys()) | {"config"}
    unknown = [name for name in sweep.config.get("parameters", {}) if name not in known]
    if unknown:
        base = " ".join(base_args[:1])
        raise SweepError(
            f"{sweep.path}: parameter {unknown[0]!r} is not a config key of {base} "
            f"(parameters are dotted config keys; list them with "
            f"`python -m an_lightning.fit {base} --print_config`)"
        )


def check_runs(sweep: Sweep, run_args: dict[int, list[str]]) -> None:
    """``SweepError`` naming the first grid point whose arguments the fit CLI rejects."""
    for index, args in run_args.items():
        try:
            parse_fit_args(args)
        except SweepError as err:
            raise SweepError(f"{sweep.path}: run {index} does not parse: {err}") from None
