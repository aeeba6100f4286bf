"""An example training program that reports over stdout, W&B style arguments.

Runs unchanged under `wandb agent` and `sweepctl`: it reads `--name=value`
arguments as W&B's agent writes them, a nested parameter group as one Python
literal (`--optimizer={'name': 'sgd', 'momentum': 0.9}`), and prints
`step=N loss=X` lines, which sweepctl records as the metric history (the last
`loss` is the objective). No sweepctl import needed.
"""

from __future__ import annotations

import argparse
import ast
import math
import random


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=5)
    # A group arrives as Python's str() of a dict; literal_eval reads it back without running anything.
    parser.add_argument("--optimizer", type=ast.literal_eval, default={"name": "sgd", "momentum": 0.0})
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    # A made-up loss surface: best near lr=0.03, momentum=0.9 with sgd; adam prefers smaller lr.
    optimizer, momentum = args.optimizer["name"], float(args.optimizer.get("momentum", 0.0))
    best_lr = 0.03 if optimizer == "sgd" else 0.003
    gap = (math.log10(args.lr) - math.log10(best_lr)) ** 2 + (momentum - 0.9) ** 2
    loss = 1.0
    for step in range(1, args.epochs + 1):
        loss = 0.1 + gap + 0.9 / step + rng.uniform(0, 0.01)
        print(f"step={step} loss={loss:.6f}", flush=True)


if __name__ == "__main__":
    main()
