"""Train: ``python -m an_lightning.fit CONFIG.yaml [--dotted.key=value ...]``.

LightningCLI maps the YAML 1:1 onto constructor arguments (``model``, ``data``,
``trainer``), fails on unknown keys, and takes any key as a command-line override;
``--print_config`` prints the resolved config. A config may name the one it overlays
(``base: imagenet.yaml``) and state only what differs. Each run lives in its own
directory (``run_dir``, default ``runs/<config name>``); running the same command again
resumes from the newest checkpoint there instead of starting over. The machinery is
``an_lightning.cli.fit_cli``.
"""

from __future__ import annotations

import sys

from .cli.errors import fail, held_output
from .cli.fit_cli import prepare, resume_point, train
from .cli.lock import RunLock
from .cli.quiet import FIT_NOISE, ignored_warnings
from .cli.run_dir import RunError


def main(argv: list[str] | None = None) -> None:
    lock = None
    with ignored_warnings(*FIT_NOISE):
        try:
            # A refused start (bad config, a run dir in use, a checkpoint of another
            # model) prints its error line and nothing else.
            with held_output():
                cli = prepare(sys.argv[1:] if argv is None else argv)
                lock = RunLock(cli.run_dir)  # rank 0 holds it for the job; a no-op elsewhere
                try:
                    lock.acquire()
                except RunError as err:
                    fail(str(err))
                start = resume_point(cli)
            train(cli, start)
        finally:
            if lock is not None:
                lock.release()


if __name__ == "__main__":
    main()
