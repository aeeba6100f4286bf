"""Trials that report a lot, fast, or through a frozen Redis: every point is kept, once, and no attempt is lost.

A burst of reports used to fail the write that carried them (one Lua call with
every buffered point, past what Lua's unpack() takes): the trial was left
running unsupervised and ended `lost`. These run real workers against a real
redis-server.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import yaml

from sweepctl.embedded import EmbeddedRedis
from sweepctl.records import Sweep, SweepState, Trial, TrialState
from sweepctl.settings import RedisSettings
from sweepctl.store import Outcome, Store, keys
from sweepctl.sweepfile import parse_sweep
from tests.support.processes import Processes, pids_in_group, process_alive, wait_for
from tests.system.helpers import submit, wait_until_done, write_sweep
from workers.metric_buffer import MAX_METRIC_NAMES
from workers.trial import TrialRunner, WorkerIdentity

pytestmark = pytest.mark.system

BURST = """\
import sys
out = sys.stdout
for i in range({lines}):
    out.write(f"step={{i}} loss={{1 / (i + 1)!r}}\\n")
"""

STEADY = """\
import sys, time
# {rate} report lines a second for {seconds} s, each flushed as it is written
for i in range({rate} * {seconds}):
    print(f"step={{i}} loss={{1 / (i + 1)!r}}", flush=True)
    time.sleep(1 / {rate})
"""

SWEEP = """
method: random
metric: {name: loss}
program: chatty.py
parameters:
  x: {min: 0.0, max: 1.0}
run_cap: 1
"""


def test_a_burst_of_100000_reports_is_recorded_whole_by_one_attempt(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a program that prints 100,000 report lines as fast as it can, then exits 0
    (tmp_path / "chatty.py").write_text(BURST.format(lines=100_000))
    sweep_id = submit(procs, write_sweep(tmp_path, SWEEP))
    procs.start("controller")
    procs.start("worker", "--gpus", "none", log=tmp_path / "worker.log")

    # When it runs
    wait_until_done(store, sweep_id, timeout=120)

    # Then it completed on its first attempt, with every report in its history, in order
    trial = store.get_trial(sweep_id, 1)
    assert trial.state is TrialState.COMPLETED, (trial.error, (tmp_path / "worker.log").read_text()[-2000:])
    assert trial.attempt == 1 and trial.lost_attempts == ()
    assert trial.reports == 100_000 and trial.dropped_points == 0
    history = store.metric_history(sweep_id, 1)
    assert [p.step for p in history] == list(range(100_000))
    assert trial.objective == 1 / 100_000 == history[-1].values["loss"]
    assert store.rejections(sweep_id) == {}


@pytest.mark.timeout(240)
def test_a_30_second_redis_freeze_under_a_trial_reporting_500_lines_a_second_loses_no_point(
    tmp_path: Path, procs: Processes, store: Store, redis_server: EmbeddedRedis
) -> None:
    # Given `sweepctl run` on a Redis of our own, with a trial reporting 500 lines a second for 38 s (longer in fact:
    # each line's sleep comes on top of its printing), so that it still reports for seconds after the freeze below
    (tmp_path / "chatty.py").write_text(STEADY.format(rate=500, seconds=38))
    sweep_file = write_sweep(tmp_path, SWEEP)
    run = procs.start("run", str(sweep_file), "--workers", "1", "--redis", redis_server.url, log=tmp_path / "run.log")
    sweep_id = wait_for(lambda: store.sweep_ids(), 30, "the sweep to be submitted")[0]  # type: ignore[index]
    wait_for(lambda: len(store.metric_history(sweep_id, 1)) > 2000, 60, "the trial to be reporting")

    # When Redis is frozen (SIGSTOP) for 30 s in the middle of it, then thawed
    assert redis_server.process is not None
    redis_server.process.send_signal(signal.SIGSTOP)
    try:
        time.sleep(30)
    finally:
        redis_server.process.send_signal(signal.SIGCONT)

    # Then `sweepctl run` rode it out and finished, and the trial kept every point, once, on one attempt
    assert run.wait(150) == 0, (tmp_path / "run.log").read_text()[-3000:]
    trial = store.get_trial(sweep_id, 1)
    assert store.get_sweep(sweep_id).state is SweepState.FINISHED
    assert trial.state is TrialState.COMPLETED and trial.attempt == 1 and trial.lost_attempts == ()
    assert trial.dropped_points == 0 and trial.reports == 500 * 38
    assert [p.step for p in store.metric_history(sweep_id, 1)] == list(range(500 * 38))
    assert "Traceback" not in (tmp_path / "run.log").read_text()


def test_a_trial_inventing_500000_metric_names_keeps_the_first_thousand_and_counts_the_rest(
    tmp_path: Path, procs: Processes, store: Store
) -> None:
    # Given a program that reports its loss, then 500,000 metrics each with a name of its own
    (tmp_path / "chatty.py").write_text("print('loss=0.5')\nfor i in range(500_000):\n    print(f'metric_{i}=1')\n")
    sweep_id = submit(procs, write_sweep(tmp_path, SWEEP))
    procs.start("controller")
    procs.start("worker", "--gpus", "none")

    # When it runs
    wait_until_done(store, sweep_id, timeout=120)

    # Then it completed; names past the cap were rejected reports, and the trial record stays small
    trial = store.get_trial(sweep_id, 1)
    assert trial.state is TrialState.COMPLETED and trial.objective == 0.5
    assert len(trial.last_metrics) == MAX_METRIC_NAMES
    assert trial.reports == MAX_METRIC_NAMES
    assert trial.rejected_reports == {"too_many_metric_names": 500_001 - MAX_METRIC_NAMES}
    assert store.redis.hstrlen(keys.trial_key(sweep_id, 1), "last_metrics") < 50_000


class _BrokenProgress(Store):
    """A store whose progress writes fail with an error nobody expects (what the unpack() overflow raised)."""

    def record_progress(self, *args: object, **kwargs: object) -> Outcome:
        raise RuntimeError("a write that fails for no reason the runner knows")


def test_an_error_while_supervising_stops_the_trial_before_the_task_fails(tmp_path: Path, redis_settings: RedisSettings) -> None:
    # Given a running trial program that reports every 50 ms for a minute, and writes its pid first
    (tmp_path / "chatty.py").write_text(
        "import os, time\nopen('pid', 'w').write(str(os.getpid()))\n"
        "for i in range(1200):\n    print(f'step={i} loss=1', flush=True)\n    time.sleep(0.05)\n"
    )
    store = _BrokenProgress(redis_settings.client())
    spec = parse_sweep(yaml.safe_load(SWEEP))
    store.create_sweep(
        Sweep(id="broken", raw_spec=dict(spec.raw), state=SweepState.RUNNING, seed=1, created_at=time.time(), workdir=str(tmp_path))
    )
    store.create_trial(Trial(sweep_id="broken", number=1, state=TrialState.QUEUED, params={"x": 0.5}, seed=1))
    runner = TrialRunner(store, WorkerIdentity(worker_id="host/cpu0/1", host="host", slot="cpu0"))

    # When its first metric write raises something unexpected
    try:
        with pytest.raises(RuntimeError, match="no reason the runner knows"):
            runner.run("broken", 1, 1)

        # Then by the time the task fails, the trial's process is gone: no lapsed lease can start a second one beside it
        pid = int((tmp_path / "pid").read_text())
        wait_for(lambda: not process_alive(pid), 5, "the trial process to be stopped")
        assert not pids_in_group(pid)
    finally:
        runner.launcher.close()
