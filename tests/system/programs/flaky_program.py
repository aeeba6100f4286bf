"""A trial program for the `retry` tests: its trials fail until the sweep's folder has `fixed.flag`, as a
missing data mount or a bug fixed later would make them (the flag is the fix). `--case` picks a trial's part:

  1, 3  reports its loss and exits 0
  2, 5  reports a first step, then exits 4 until fixed; fixed, as 1
  4     reports a first step, then sleeps 60 s until fixed (the test kills its worker: LOST); fixed, as 1

Every run appends a JSON line {"event": "start", "number", "attempt"} to $RUN_LOG.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

CASES = {1: ("ok", 0.5), 2: ("fails", 0.1), 3: ("ok", 0.3), 4: ("hangs", 0.2), 5: ("fails", 0.4)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", type=int, required=True)
    kind, loss = CASES[parser.parse_known_args()[0].case]
    log = os.environ.get("RUN_LOG")
    if log:
        number, attempt = int(os.environ["SWEEPCTL_TRIAL_NUMBER"]), int(os.environ["SWEEPCTL_TRIAL_ATTEMPT"])
        record = {"event": "start", "number": number, "attempt": attempt}
        with open(log, "a") as f:
            f.write(json.dumps(record) + "\n")
    print("step=0 loss=9.0", flush=True)
    fixed = Path("fixed.flag").exists()
    if kind == "fails" and not fixed:
        print("no fixed.flag: the data is not there", file=sys.stderr)
        return 4
    if kind == "hangs" and not fixed:
        time.sleep(60)
    print(f"step=1 loss={loss}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
