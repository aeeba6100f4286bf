"""A trial program for system tests: behaves as its --mode argument says.

Every run appends JSON lines to $RUN_LOG: a "start" event {number, attempt,
pid, pgid, argv, ...} and, when it completes, an "end" event (so tests can count
how often each trial really ran and finished), and writes its argv to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="ok")
    parser.add_argument("--x", type=float, default=0.0)
    parser.add_argument("--sleep", type=float, default=0.0)
    args, _ = parser.parse_known_args()
    log_event(
        "start",
        pid=os.getpid(),
        pgid=os.getpgid(0),
        argv=sys.argv,
        cuda=os.environ.get("CUDA_VISIBLE_DEVICES"),
        redis_url_visible="SWEEPCTL_REDIS_URL" in os.environ,
        params=os.environ.get("SWEEPCTL_PARAMS"),
        seed=os.environ.get("SWEEPCTL_TRIAL_SEED"),
        cwd=os.getcwd(),
    )
    print(json.dumps(sys.argv), file=sys.stderr, flush=True)
    if args.mode == "spawn":
        # A grandchild in the same process group: cancelling must take it down too.
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    for step in range(3):
        print(f"step={step} loss={(args.x - 1) ** 2 + 1 / (step + 1)}", flush=True)
        time.sleep(args.sleep / 3)
    if args.mode == "exit":
        print("bad things happened", file=sys.stderr)
        return 3
    if args.mode == "raise":
        raise RuntimeError("boom")
    if args.mode == "nan":
        print(f"loss={math.nan}")
        return 0
    if args.mode in ("hang", "spawn"):
        time.sleep(120)
    # The final value goes through the Python reporting API, the others above as plain lines.
    from sweepctl import report

    report(loss=(args.x - 1) ** 2)
    log_event("end")
    return 0


def log_event(event: str, **details: object) -> None:
    """One JSON line in $RUN_LOG: which trial attempt started or ended, and how."""
    log = os.environ.get("RUN_LOG")
    if not log:
        return
    record = {
        "event": event,
        "number": int(os.environ["SWEEPCTL_TRIAL_NUMBER"]),
        "attempt": int(os.environ.get("SWEEPCTL_TRIAL_ATTEMPT", "1")),
        **details,
    }
    with open(log, "a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    sys.exit(main())
