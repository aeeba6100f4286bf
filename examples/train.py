"""An example training program that reports over stdout, W&B style arguments.

Runs unchanged under `wandb agent` and `sweepctl`: it reads `--name=value`
arguments and prints `step=N loss=X` lines, which sweepctl records as the
metric history (the last `loss` is the objective). No sweepctl import needed.
"""

from __future__ import annotations

import argparse
import math
import random


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--optimizer.name", dest="optimizer", default="sgd")
    parser.add_argument("--optimizer.momentum", dest="momentum", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    # A made-up loss surface: best near lr=0.03, momentum=0.9 with sgd; adam prefers smaller lr.
    best_lr = 0.03 if args.optimizer == "sgd" else 0.003
    gap = (math.log10(args.lr) - math.log10(best_lr)) ** 2 + (args.momentum - 0.9) ** 2
    loss = 1.0
    for step in range(1, args.epochs + 1):
        loss = 0.1 + gap + 0.9 / step + rng.uniform(0, 0.01)
        print(f"step={step} loss={loss:.6f}", flush=True)


if __name__ == "__main__":
    main()
