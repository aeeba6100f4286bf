"""A program for the k-fold system and fault tests: one fold of a trial, told its fold three ways.

It checks that `--fold` (the `${fold}` macro), SWEEPCTL_FOLD and `sweepctl.fold()` agree, and
SWEEPCTL_FOLDS with `sweepctl.folds()`; logs a JSON line to $RUN_LOG as it starts ("start": number,
fold, attempt, pid) and as it completes ("end"), sleeps `--sleep` seconds (in steps, reporting), and
reports loss = (x - 1)**2 + fold / 10, so each fold of a trial has its own objective.
`--fail-fold F` fails fold F (exit 3) of every trial.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import sweepctl


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fold", type=int, required=True)
    parser.add_argument("--x", type=float, default=0.0)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--fail-fold", type=int, default=-1)
    args, _ = parser.parse_known_args()
    told = (args.fold, int(os.environ["SWEEPCTL_FOLD"]), sweepctl.fold())
    if len(set(told)) != 1 or sweepctl.folds() != int(os.environ["SWEEPCTL_FOLDS"]):
        print(f"the fold is told inconsistently: {told}, folds {sweepctl.folds()}", file=sys.stderr)
        return 2
    log_event("start", args.fold, pid=os.getpid())
    for step in range(3):
        sweepctl.report(step=step, loss=(args.x - 1) ** 2 + args.fold / 10 + 1 / (step + 1))
        time.sleep(args.sleep / 3)
    if args.fold == args.fail_fold:
        print("this fold fails", file=sys.stderr)
        return 3
    sweepctl.report(loss=(args.x - 1) ** 2 + args.fold / 10)
    log_event("end", args.fold)
    return 0


def log_event(event: str, fold: int, **details: object) -> None:
    log = os.environ.get("RUN_LOG")
    if not log:
        return
    record = {
        "event": event,
        "number": int(os.environ["SWEEPCTL_TRIAL_NUMBER"]),
        "fold": fold,
        "attempt": int(os.environ["SWEEPCTL_TRIAL_ATTEMPT"]),
        **details,
    }
    with open(log, "a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    sys.exit(main())
