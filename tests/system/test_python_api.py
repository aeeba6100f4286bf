"""The Python API of W&B notebooks: `sweepctl.sweep(config)` then `sweepctl.agent(id, function=train, count=N)`.

Each story runs a plain Python script in a process of its own (its own session,
so whatever it leaves running shows), on the embedded store of a folder of the
test, and reads that store back after the script has ended.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sweepctl.lifecycle import agent_queue
from sweepctl.local_store import serve_local_store
from sweepctl.records import SweepState, TrialState
from sweepctl.settings import RedisSettings
from sweepctl.store import Store
from tests.support.processes import Processes, child_env, pids_in_group, wait_for

pytestmark = pytest.mark.system

PREAMBLE = """
import json, os, sys, time
import sweepctl

STATE = sys.argv[1]
OUT = sys.argv[2]
seen = []

def done(**extra):
    with open(OUT, "w") as f:
        json.dump({"pid": os.getpid(), "seen": seen, **extra}, f)
"""


def run_script(tmp_path: Path, body: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], dict]:
    """Run PREAMBLE + body as `python script.py STATE OUT` in a session of its own; (the run, what it wrote to OUT)."""
    script, out = write_script(tmp_path, body)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "state"), str(out)],
        cwd=tmp_path,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        leftovers = pids_in_group(proc.pid)
        if leftovers or proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert leftovers == [], f"the script left processes running: {leftovers}"
    done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert done.returncode == 0, stderr
    return done, json.loads(out.read_text())


def write_script(tmp_path: Path, body: str) -> tuple[Path, Path]:
    script = tmp_path / "notebook.py"
    script.write_text(PREAMBLE + textwrap.dedent(body))
    return script, tmp_path / "out.json"


@contextmanager
def local_store(tmp_path: Path) -> Iterator[Store]:
    """The embedded store the script used, served again for the test (nothing must serve it any more)."""
    with serve_local_store(tmp_path / "state", command="test", long_running=True, create=False) as served:
        yield Store.connect(RedisSettings.from_url(served.url))


def assert_no_server_left(tmp_path: Path) -> None:
    """No redis-server of the script's store still runs: none names its folder on its command line."""
    folder = str(tmp_path / "state")
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            assert folder not in cmdline, f"process {proc.name} still serves the script's store: {cmdline!r}"


def test_sweep_then_agent_runs_exactly_count_trials_in_the_calling_process(tmp_path: Path) -> None:
    # Given a notebook-style script: a W&B config with no program, and a train() that reads its
    # parameters, reports a short curve, and raises on its second call
    _, out = run_script(
        tmp_path,
        """
        config = {
            "method": "random",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"lr": {"min": 0.001, "max": 0.1}, "layers": {"values": [1, 2, 3]}},
        }

        def train():
            params = sweepctl.params()
            seen.append({"pid": os.getpid(), "number": int(os.environ["SWEEPCTL_TRIAL_NUMBER"]), "params": params})
            if len(seen) == 2:
                raise ValueError("boom on the second call")
            for step in range(4):
                sweepctl.report(step=step, loss=params["lr"] * params["layers"] / (step + 1))

        sweep_id = sweepctl.sweep(config, state_dir=STATE)
        sweepctl.agent(sweep_id, function=train, count=4, state_dir=STATE)
        done(sweep_id=sweep_id)
        """,
    )
    # Then the function was called 4 times, all in the script's own process
    sweep_id = out["sweep_id"]
    assert len(out["seen"]) == 4
    assert {call["pid"] for call in out["seen"]} == {out["pid"]}
    # And nothing of the store runs after the script ended
    assert_no_server_left(tmp_path)
    with local_store(tmp_path) as store:
        # And exactly 4 trials ran (3 completed, the raising one failed); any others still wait in the queue
        trials = {t.number: t for t in store.get_trials(sweep_id)}
        ran = [t for t in trials.values() if t.state is not TrialState.QUEUED]
        assert sorted(t.number for t in ran) == sorted(call["number"] for call in out["seen"])
        assert sorted(t.state.value for t in ran) == ["completed", "completed", "completed", "failed"]
        assert store.get_sweep(sweep_id).state is SweepState.RUNNING
        for call in out["seen"]:
            trial = trials[call["number"]]
            # each call got its own trial's parameters, and ran as a trial of the agent's process
            assert call["params"] == trial.params
            assert trial.worker.endswith(f"/agent/{out['pid']}") and trial.attempt == 1
        failed = trials[out["seen"][1]["number"]]
        assert failed.state is TrialState.FAILED and failed.error == "raised ValueError: boom on the second call"
        assert "Traceback" in failed.stderr_tail and "in train" in failed.stderr_tail
        # And each completed trial's reports are its metric history, the last value its objective
        for call in (out["seen"][0], *out["seen"][2:]):
            trial, p = trials[call["number"]], call["params"]
            history = store.metric_history(sweep_id, trial.number)
            expected = [p["lr"] * p["layers"] / (step + 1) for step in range(4)]
            assert [point.step for point in history] == [0, 1, 2, 3]
            assert [point.values["loss"] for point in history] == pytest.approx(expected)
            assert trial.state is TrialState.COMPLETED and trial.objective == pytest.approx(expected[-1])
        # And its trials wait in a queue of their own, which no worker consumes
        assert store.get_spec(sweep_id).queue == agent_queue(sweep_id)


def test_hyperband_stops_an_in_process_trial_by_raising_from_its_next_report(tmp_path: Path) -> None:
    # Given a sweep with hyperband (min_iter 1, eta 2): the first call reports a good curve,
    # the second a bad one for as long as it is let run, the third a good one again
    _, out = run_script(
        tmp_path,
        """
        config = {
            "method": "random",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
            "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 2},
        }

        def train():
            bad = len(seen) == 1
            seen.append({"number": int(os.environ["SWEEPCTL_TRIAL_NUMBER"]), "stopped": False, "reports": 0})
            try:
                for step in range(400 if bad else 4):
                    sweepctl.report(step=step, loss=10.0 if bad else 1.0)
                    seen[-1]["reports"] += 1
                    time.sleep(0.05 if bad else 0)
            except sweepctl.TrialStopped:
                seen[-1]["stopped"] = True
                raise

        sweep_id = sweepctl.sweep(config, state_dir=STATE)
        sweepctl.agent(sweep_id, function=train, count=3, state_dir=STATE)
        done(sweep_id=sweep_id)
        """,
    )
    # Then the bad trial's function saw TrialStopped from report() long before its 400 steps,
    # and the agent went on to a third trial
    good, bad, after = out["seen"]
    assert (good["stopped"], bad["stopped"], after["stopped"]) == (False, True, False)
    assert bad["reports"] < 400
    with local_store(tmp_path) as store:
        stopped = store.get_trial(out["sweep_id"], bad["number"])
        # And the trial is recorded as stopped early by hyperband, with what it reported until then
        assert stopped.state is TrialState.STOPPED and stopped.error.startswith("stopped early: ")
        assert stopped.stop_requested is not None and stopped.last_metrics["loss"] == 10.0
        assert len(store.metric_history(out["sweep_id"], bad["number"])) == bad["reports"] + 1
        assert store.get_trial(out["sweep_id"], after["number"]).state is TrialState.COMPLETED


def test_a_trial_past_its_trial_timeout_is_stopped_from_its_next_report_and_the_agent_goes_on(tmp_path: Path) -> None:
    # Given a sweep whose trials may take 1 s, and a function that would report for 20 s
    _, out = run_script(
        tmp_path,
        """
        config = {"method": "random", "metric": {"name": "loss"}, "parameters": {"x": {"min": 0.0, "max": 1.0}}, "trial_timeout": 1}

        def train():
            seen.append({"number": int(os.environ["SWEEPCTL_TRIAL_NUMBER"]), "stopped": False})
            try:
                for step in range(400):
                    sweepctl.report(step=step, loss=1.0)
                    time.sleep(0.05)
            except sweepctl.TrialStopped:
                seen[-1]["stopped"] = True
                raise

        sweep_id = sweepctl.sweep(config, state_dir=STATE)
        sweepctl.agent(sweep_id, function=train, count=2, state_dir=STATE)
        done(sweep_id=sweep_id)
        """,
    )
    # Then both calls were stopped by TrialStopped, and both trials are recorded as timed out
    assert [call["stopped"] for call in out["seen"]] == [True, True]
    with local_store(tmp_path) as store:
        for call in out["seen"]:
            trial = store.get_trial(out["sweep_id"], call["number"])
            assert trial.state is TrialState.TIMED_OUT and trial.error == "ran past trial_timeout (1s) and was stopped"


def test_ctrl_c_hands_the_running_trial_back_and_leaves_nothing_running(tmp_path: Path) -> None:
    # Given an agent whose second call waits, in the calling process's main thread, to be interrupted
    script, out_path = write_script(
        tmp_path,
        """
        def train():
            seen.append(int(os.environ["SWEEPCTL_TRIAL_NUMBER"]))
            if len(seen) == 2:
                open(OUT + ".waiting", "w").close()
                time.sleep(60)
            sweepctl.report(loss=1.0)

        config = {"method": "random", "metric": {"name": "loss"}, "parameters": {"x": {"min": 0.0, "max": 1.0}}}
        sweep_id = sweepctl.sweep(config, state_dir=STATE)
        try:
            sweepctl.agent(sweep_id, function=train, count=3, state_dir=STATE)
        except KeyboardInterrupt:
            done(sweep_id=sweep_id, interrupted=True)
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "state"), str(out_path)], cwd=tmp_path, env=child_env(), start_new_session=True
    )
    try:
        wait_for(lambda: Path(f"{out_path}.waiting").exists() or proc.poll() is not None, 60, "the second trial to start")
        assert proc.poll() is None, "the script ended before its second trial waited"
        # When the user presses Ctrl-C
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # Then KeyboardInterrupt reached the caller after the agent cleaned up: no process of its session, no store server
    out = json.loads(out_path.read_text())
    assert out["interrupted"] is True and pids_in_group(proc.pid) == []
    assert_no_server_left(tmp_path)
    with local_store(tmp_path) as store:
        first, interrupted = (store.get_trial(out["sweep_id"], n) for n in out["seen"])
        # And the first trial completed, the interrupted one went back to the queue as its next attempt (no loss)
        assert first.state is TrialState.COMPLETED
        assert interrupted.state is TrialState.QUEUED and interrupted.attempt == 2
        assert [entry["reason"] for entry in interrupted.lost_attempts] == ["handed_back"]


def test_a_wandb_agent_function_runs_unchanged_in_process_its_config_history_and_summary_recorded(tmp_path: Path) -> None:
    # Given a train() written for wandb.agent: wandb.init(), wandb.config, wandb.log, run.summary, no network, no sweepctl call
    _, out = run_script(
        tmp_path,
        """
        import wandb

        def train():
            run = wandb.init()
            seen.append({"number": int(os.environ["SWEEPCTL_TRIAL_NUMBER"]), "config": dict(wandb.config), "mode": run.settings.mode})
            lr = wandb.config.optimizer["lr"]
            for step in range(3):
                wandb.log({"val/loss": lr * (3 - step), "epoch": step})
            run.summary["val/loss"] = lr / 2  # the summary, not the last row, is what W&B ranks a run by

        config = {
            "method": "grid",
            "metric": {"name": "val/loss"},
            "parameters": {"optimizer": {"parameters": {"lr": {"values": [1e-05, 0.5]}, "name": {"value": "adam"}}}},
        }
        sweep_id = sweepctl.sweep(config, state_dir=STATE)
        sweepctl.agent(sweep_id, function=train, state_dir=STATE)
        done(sweep_id=sweep_id)
        """,
        timeout=180,
    )
    # Then each of the two trials found its own nested parameters in wandb.config, W&B offline
    with local_store(tmp_path) as store:
        for call in out["seen"]:
            trial = store.get_trial(out["sweep_id"], call["number"])
            lr = trial.params["optimizer"]["lr"]
            assert call["config"] == trial.params and call["mode"] == "offline"
            # And what it logged is its history, step by step, and its W&B summary its objective
            history = store.metric_history(out["sweep_id"], trial.number)
            assert [(p.step, p.values["val/loss"], p.values["epoch"]) for p in history] == [(s, lr * (3 - s), s) for s in range(3)]
            assert trial.state is TrialState.COMPLETED and trial.objective == lr / 2
        assert sorted(c["config"]["optimizer"]["lr"] for c in out["seen"]) == [1e-05, 0.5]
        # And the agent returned once the grid was done
        assert store.get_sweep(out["sweep_id"]).state is SweepState.FINISHED


def test_a_sweep_without_program_is_refused_by_run_and_failed_clearly_by_a_worker_pointed_at_it(
    tmp_path: Path, procs: Processes, store: Store, redis_settings: RedisSettings
) -> None:
    # Given a sweep made with sweepctl.sweep on a shared Redis, with no program
    sweep_id = _sweep_in_subprocess(tmp_path, redis_settings.url)
    spec = store.get_spec(sweep_id)
    assert spec.runs_in_caller and spec.queue == agent_queue(sweep_id)
    # When `sweepctl run` is given such a file, it refuses it before recording anything
    (tmp_path / "noprogram.yaml").write_text("metric: {name: loss}\nparameters: {x: {min: 0.0, max: 1.0}}\n")
    refused = procs.run("run", "noprogram.yaml", "--redis", redis_settings.url)
    assert refused.returncode == 2 and "no program and no function" in refused.stderr
    assert store.sweep_ids() == [sweep_id]
    # When a worker is pointed at its queue on purpose, with a controller creating its trials
    procs.start("worker", "--gpus", "none", "--queues", spec.queue, log=tmp_path / "worker.log")
    procs.start("controller", "--sweep", sweep_id, log=tmp_path / "controller.log")
    # Then the trial it takes fails, saying where such trials run
    failed = wait_for(lambda: [t for t in store.get_trials(sweep_id) if t.state is TrialState.FAILED], 60, "a failed trial")
    assert isinstance(failed, list)
    assert "no program and no function" in (failed[0].error or "") and "sweepctl.agent(" in (failed[0].error or "")


def _sweep_in_subprocess(tmp_path: Path, url: str) -> str:
    code = "import sweepctl; print(sweepctl.sweep({'metric': {'name': 'loss'}, 'parameters': {'x': {'min': 0.0, 'max': 1.0}}}))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=child_env({"SWEEPCTL_REDIS_URL": url}), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_agent_refuses_what_it_cannot_run(tmp_path: Path, redis_settings: RedisSettings) -> None:
    # Given a sweep of a program, made on a shared Redis
    code = """
import sweepctl
sid = sweepctl.sweep({"metric": {"name": "loss"}, "parameters": {"x": {"min": 0.0, "max": 1.0}}, "program": "train.py"})
for call in (lambda: sweepctl.agent(sid, function=lambda: None), lambda: sweepctl.agent(sid, count=0)):
    try:
        call()
    except sweepctl.SweepError as exc:
        print(type(exc).__name__, exc)
"""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=child_env({"SWEEPCTL_REDIS_URL": redis_settings.url}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    program, count = done.stdout.splitlines()
    # Then a program's sweep is pointed to `sweepctl agent`, and a count below 1 is refused
    assert program.startswith("ConfigError") and "runs program 'train.py' on workers" in program and "`sweepctl agent " in program
    assert count.startswith("ConfigError count: expected a whole number of trials, at least 1")
