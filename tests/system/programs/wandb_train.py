"""A W&B training script as W&B users write it: nothing of sweepctl, only wandb.init, wandb.config, wandb.log, run.summary.

Its curves are known, so a test can tell what it should have recorded:
  val/loss(step) = 10 * lr + width / 100 + 1 / (step + 1)
  val_acc(step)  = 1 - lr - |step - 2| / 10         (best at step 2, falling after)
At the end it sets run.summary["val_acc"] to its best accuracy (W&B's summary would
otherwise keep the last one). `wandb.config.epochs` steps, `wandb.config.pause` s apart.
"""

from __future__ import annotations

import sys
import time

import wandb


def train(_params: object = None) -> None:
    """The training loop; a `function:` trial calls it with its parameters, which it ignores as W&B functions do."""
    run = wandb.init()
    config = wandb.config
    lr, width = config.lr, config["model"]["width"]  # attribute access, and a nested group as a dict
    best = float("-inf")
    for step in range(config.epochs):
        acc = 1 - lr - abs(step - 2) / 10
        best = max(best, acc)
        wandb.log({"val/loss": 10 * lr + width / 100 + 1 / (step + 1), "val_acc": acc, "sample": wandb.Histogram([1, 2, 3])})
        time.sleep(config.pause)
    run.summary["val_acc"] = best
    wandb.finish()


if __name__ == "__main__":
    train()
    sys.exit(0)
