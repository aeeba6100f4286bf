"""Starting and measuring the processes of a whole-system benchmark, shared by dispatch.py and scale.py.

Every process is started in its own session (process group), so that stopping it stops whatever it
started too; the private redis-server has a random password and listens on loopback only.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.processes import child_env as test_env
from tests.support.processes import wait_for as wait_for  # the benchmarks wait as the tests do

if TYPE_CHECKING:
    from sweepctl.embedded import EmbeddedRedis


def child_env(redis_url: str | None = None, pythonpath: Sequence[Path] = ()) -> dict[str, str]:
    """Our environment without SWEEPCTL_* settings, the repository importable, the URL if given."""
    return test_env(None if redis_url is None else {"SWEEPCTL_REDIS_URL": redis_url}, pythonpath)


def start_group(argv: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM the process group we started (warm shutdown), SIGKILL it if it lingers."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            # the leader is gone; make sure nothing of its group survives it
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return
        except subprocess.TimeoutExpired:
            continue


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100), as numpy's default."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def private_redis(folder: Path) -> EmbeddedRedis:
    from sweepctl.embedded import EmbeddedRedis

    return EmbeddedRedis(data_dir=folder, password=secrets.token_urlsafe(16)).start()


_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int, *, reaped_children: bool = False) -> float:
    """CPU seconds a process used so far (user + system), plus its reaped children's if asked."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK
