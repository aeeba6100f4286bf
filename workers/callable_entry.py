"""Runs a `function: "module:callable"` trial, in the process the launcher forked for it.

The callable gets the trial's nested parameters as one dict. It may report
along the way with `sweepctl.report(...)` and may return a number (the value
of METRIC), a mapping of metric values (any names, `ndcg@10` too; its `step`, if
any, is the step), or None (what it reported stands).
A sweep without a metric (METRIC "") has no name for a returned number: it is
left out, with a line on stderr.
An exception prints its traceback and exits 1: the trial is recorded FAILED.
"""

from __future__ import annotations

import atexit
import importlib
import io
import os
import signal
import sys
import threading
import traceback
from collections.abc import Mapping
from typing import Any

from sweepctl.report import params, report


def load_callable(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    # The sweep's folder is the trial's cwd: its modules must import as they would there.
    sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise SystemExit(f"sweepctl: {target!r} is not a callable")
    return fn


def run_callable(target: str, metric: str) -> int:
    """Call the trial's function with its parameters and report what it returned; the exit code."""
    report_result(load_callable(target)(params()), metric)
    return 0


def report_result(result: Any, metric: str) -> None:
    """Report what a trial function returned: a number is the value of `metric`, a mapping metric values; None nothing."""
    if result is None:
        return
    if not metric and not isinstance(result, Mapping):
        print(f"sweepctl: the sweep has no metric; the returned value {result!r} is not recorded", file=sys.stderr)
        return
    values: dict[str, Any] = dict(result) if isinstance(result, Mapping) else {metric: result}
    step = values.pop("step", None)  # a returned mapping's "step" is the step, as report(step=) takes it
    report(values, step=step)


def run_function(target: str, metric: str, *, at_exit: bool) -> int:
    """Call the trial's function here; its exit code, as an interpreter running it would give it (-N: signal N)."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)  # reports reach the runner as they are written
    sys.argv = [target]
    code = 0
    try:
        code = run_callable(target, metric)
    except SystemExit as exc:
        code = exit_code(exc.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        code = -signal.SIGINT
    except BaseException:  # noqa: BLE001  # whatever the objective raises ends the trial, never the launcher
        traceback.print_exc()
        code = 1
    # What interpreter shutdown would do before exiting: wait for non-daemon threads (and run
    # atexit, unless the process goes on to run more trials).
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    if at_exit:
        atexit._run_exitfuncs()
    else:
        end_wandb(code)
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def end_wandb(code: int) -> None:
    """In a process that runs the next trial next: end this trial's W&B run as exiting would, and forget its settings.

    W&B's agent does the same between the runs of one process (`wandb.teardown()`):
    the run is finished and written, and the next `wandb.init()` reads the next
    trial's variables (run id, parameter file) instead of this one's.
    """
    wandb = sys.modules.get("wandb")
    teardown = getattr(wandb, "teardown", None)
    if teardown is None:
        return  # the trial never imported wandb: nothing to end, nothing imported
    try:
        teardown(exit_code=code)
    except BaseException:  # noqa: BLE001  # W&B failing to end its run must not end the process's next trials
        traceback.print_exc()


def exit_code(value: object) -> int:
    """The exit status `sys.exit(value)` gives an interpreter (a message is printed, as the interpreter does)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1
