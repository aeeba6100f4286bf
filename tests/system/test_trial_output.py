"""A trial's output, however large, costs the worker bounded memory and linear time.

Real processes, no Redis: a runner process with a real LauncherClient and TrialProcess reads
a trial that floods both pipes, and reports its own peak memory (VmHWM), so that
nothing else a test session allocated can hide or inflate the figure.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.processes import child_env
from workers.trial_process import MAX_LINE_CHARS, TAIL_CHARS

pytestmark = pytest.mark.system

FLOOD = """
import sys
line = b"x" * (4 << 20) + b"\\n"
for _ in range(150):
    sys.stdout.buffer.write(line)
    sys.stderr.buffer.write(line)
sys.stderr.buffer.write(b"Error: flooded\\n")
"""

RUNNER = """
import json, sys, time
from sweepctl.protocol import classify_line
from workers.trial_process import LauncherClient, TrialProcess


def peak_rss() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


launcher = LauncherClient(grace=1.0)
try:
    warm = TrialProcess(launcher, ["/bin/true"], env={}, cwd=".", on_stdout_line=classify_line)
    warm.wait(30)
    warm.finish_output()
    before = peak_rss()
    lengths = []
    began = time.monotonic()
    cpu = time.process_time()
    trial = TrialProcess(launcher, [sys.executable, "-c", sys.argv[1]], env={}, cwd=".",
                         on_stdout_line=lambda line: (lengths.append(len(line)), classify_line(line)))
    code = trial.wait(90)
    trial.kill_leftovers()
    trial.finish_output(30)
    print(json.dumps({
        "code": code, "growth": peak_rss() - before, "seconds": time.monotonic() - began, "cpu": time.process_time() - cpu,
        "lines": len(lengths), "longest": max(lengths), "stdout_tail": len(trial.stdout.text()),
        "stderr_tail": len(trial.stderr.text()), "last_line": trial.stderr.last_line(),
    }))
finally:
    launcher.close()
"""


@pytest.mark.timeout(200)
def test_150_lines_of_4_mb_on_both_streams_cost_the_runner_little_memory(tmp_path: Path) -> None:
    # Given a runner whose trial prints 150 lines of 4 MB to stdout and to stderr (1.2 GB in all)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(RUNNER), FLOOD],
        env=child_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    # When it has read all of it
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    # Then the trial ended normally, the runner's peak memory grew by little (on the code before
    # the cap: 1.28 GB and 40 s of CPU), every line reached the parser capped, and the tails are bounded
    assert seen["code"] == 0
    assert seen["growth"] < 50 << 20, f"peak RSS grew by {seen['growth'] >> 20} MB"
    assert seen["lines"] == 150 and seen["longest"] < MAX_LINE_CHARS + 100
    assert seen["stdout_tail"] <= TAIL_CHARS and seen["stderr_tail"] <= TAIL_CHARS
    assert seen["last_line"] == "Error: flooded"
