"""A trial for the report test: loss(step) = a + 1/step, 12 reports 0.15 s apart; a = 0 fails at once (exit 3)."""

from __future__ import annotations

import sys
import time


def main() -> int:
    a = float(sys.argv[sys.argv.index("--a") + 1]) if "--a" in sys.argv else float(sys.argv[1].split("=", 1)[1])
    if a == 0:
        print("a = 0 is not a valid curve", file=sys.stderr)
        return 3
    for step in range(1, 13):
        print(f"step={step} loss={a + 1 / step}", flush=True)
        time.sleep(0.15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
