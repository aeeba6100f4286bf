"""A W&B training script, as people write them for `wandb agent`: nothing of sweepctl in it.

`wandb.config` holds the trial's parameters (a group as a dict), `wandb.log` reports each
epoch, `run.summary` the best value: under sweepctl it runs offline, and the worker reads
the run back into the trial's history and objective (`pip install 'sweepctl[wandb]'`).
"""

from __future__ import annotations

import math

import wandb


def main() -> None:
    run = wandb.init()
    config = wandb.config
    optimizer = config.optimizer  # a parameter group arrives as one dict, as W&B's agent delivers it
    best_lr = 0.03 if optimizer["name"] == "sgd" else 0.003
    gap = (math.log10(config.lr) - math.log10(best_lr)) ** 2 + (float(optimizer["momentum"]) - 0.9) ** 2
    best = math.inf
    for epoch in range(1, config.epochs + 1):
        loss = 0.1 + gap + 0.9 / epoch
        best = min(best, loss)
        wandb.log({"val/loss": loss, "epoch": epoch})
    run.summary["val/loss"] = best
    run.finish()


if __name__ == "__main__":
    main()
