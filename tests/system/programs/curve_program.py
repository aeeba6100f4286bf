"""A trial with a known learning curve: loss(step) = a + 1/step, one report every 0.2 s for 30 steps."""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> int:
    a = float(sys.argv[sys.argv.index("--a") + 1]) if "--a" in sys.argv else float(sys.argv[1].split("=", 1)[1])
    log = os.environ.get("RUN_LOG")
    if log:
        with open(log, "a") as f:
            f.write(
                json.dumps({"event": "start", "number": int(os.environ["SWEEPCTL_TRIAL_NUMBER"]), "pgid": os.getpgid(0), "a": a}) + "\n"
            )
    for step in range(1, 31):
        print(f"step={step} loss={a + 1 / step}", flush=True)
        time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
