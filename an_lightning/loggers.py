"""W&B logging that works without an account: offline unless credentials exist."""

from __future__ import annotations

import netrc
import os
from pathlib import Path

from lightning.pytorch.loggers import WandbLogger


def has_wandb_credentials() -> bool:
    """An API key in the environment or in ~/.netrc (what ``wandb login`` writes)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return netrc.netrc(path).authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, PermissionError):
        return False


class AutoWandbLogger(WandbLogger):
    """``WandbLogger`` that runs offline (``wandb sync`` later) where no account is set up.

    ``offline=None`` decides from the credentials; ``WANDB_MODE`` still wins, as in wandb.
    """

    def __init__(
        self,
        project: str = "an_lightning",
        name: str | None = None,
        save_dir: str = ".",
        id: str | None = None,
        offline: bool | None = None,
        log_model: bool = False,
        **kwargs,
    ) -> None:
        if offline is None:
            offline = os.environ.get("WANDB_MODE") == "offline" or not has_wandb_credentials()
        super().__init__(
            project=project,
            name=name,
            save_dir=save_dir,
            id=id,
            offline=offline,
            log_model=log_model,
            **kwargs,
        )


def log_image(loggers, key: str, path: Path, grid, step: int) -> None:
    """Send a written picture to every logger that takes images (W&B, TensorBoard)."""
    for logger in loggers:  # loggers differ in how they take images
        if hasattr(logger, "log_image"):  # W&B
            logger.log_image(key, [str(path)], step=step)
        elif hasattr(getattr(logger, "experiment", None), "add_image"):  # TensorBoard
            logger.experiment.add_image(key, grid, step, dataformats="HWC")
