"""`sweepctl reproduce SWEEP NUMBER`: run one recorded trial again here and print its result beside the recorded one."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import click
import yaml

from sweepctl import rerun
from sweepctl.analysis.reproduce import Difference, RerunResult, provenance_differences, result_record, side_by_side
from sweepctl.cli.connect import open_store, redis_option
from sweepctl.cli.output import format_option, table
from sweepctl.errors import RerunError, StoreError
from sweepctl.records import Trial
from sweepctl.spec import SweepSpec


def _read(
    redis_url: str | None, state_dir: str | None, sweep_id: str, number: int, fold: int | None
) -> tuple[Trial, SweepSpec, str]:
    """The trial (or the fold of a k-fold trial: each fold ran a command of its own), its sweep's spec and the folder
    the sweep's trials ran in (the store is closed before the re-run)."""
    with open_store(redis_url, state_dir) as (store, _):
        sweep = store.get_sweep(sweep_id)
        spec = store.spec_of(sweep)
        try:
            trial = store.get_trial(sweep_id, number)
        except StoreError as exc:
            raise RerunError(f"sweep {sweep_id!r} has no trial {number}") from exc
        if trial.folds and (fold is None or not 0 <= fold < trial.folds):
            raise RerunError(f"trial {number} of sweep {sweep_id} ran as {trial.folds} folds: give one, --fold 0 to {trial.folds - 1}")
        if fold is not None and not trial.folds:
            raise RerunError(f"--fold: trial {number} of sweep {sweep_id} is no k-fold trial (its sweep has no cross_validation)")
        if fold is not None:
            trial = store.get_trial(sweep_id, number, fold=fold)
    return trial, spec, sweep.workdir or os.getcwd()


def _differences(trial: Trial, spec: SweepSpec, workdir: str) -> tuple[Difference, ...]:
    """The current code and data against the record, read with the worker's own provenance functions."""
    from workers import provenance  # a role, imported only by this command

    code_path = Path(workdir) / spec.program if spec.program else Path(workdir)
    current_data = provenance.data_fingerprints(spec.data, Path(workdir)) if spec.data else {}
    return provenance_differences(trial, provenance.code_version(code_path), current_data)


def _judge(spec: SweepSpec, output: rerun.RerunOutput) -> RerunResult:
    """The re-run judged exactly as a worker judges a trial's end."""
    from workers.outcome import judge_exit  # a role, imported only by this command

    metric = None if spec.metric is None else spec.metric.name
    others = {m.name: output.last_metrics.get(m.name) for m in spec.other_objectives}
    verdict = judge_exit(
        output.returncode, metric=metric, last_value=None if metric is None else output.last_metrics.get(metric), others=others
    )
    return RerunResult(
        state=verdict.state,
        objective=verdict.objective,
        exit_code=output.returncode,
        error=verdict.error,
        last_metrics=dict(output.last_metrics),
        last_step=output.last_step,
    )


def _exit_status(result: RerunResult) -> int:
    """0 for a completed re-run; else the trial's own status (128+N for signal N), or 1 when it exited 0 and still failed."""
    code = result.exit_code or 0
    if result.completed:
        return 0
    if code < 0:
        return 128 - code
    return code or 1


@click.command()
@click.argument("sweep_id")
@click.argument("number", type=int)
@click.option(
    "--folder",
    type=click.Path(file_okay=False),
    default=None,
    help="Run the trial in this folder (new or empty) [default: a new temporary folder]; it is kept afterwards.",
)
@click.option("--fold", type=int, default=None, help="The fold to re-run, of a k-fold trial (cross_validation): 0 to folds - 1.")
@redis_option
@format_option
def reproduce(
    sweep_id: str, number: int, folder: str | None, fold: int | None, redis_url: str | None, state_dir: str | None, fmt: str
) -> None:
    """Run trial NUMBER of a sweep again here: same argv, parameters, seed and environment, in a fresh folder.

    Warns (stderr) when the code's commit or dirty flag or a data fingerprint differs from the record,
    streams the trial's output to stderr, then prints the new result beside the recorded one.
    Exits 0 when the re-run completed, else with the trial's status.
    """
    trial, spec, workdir = _read(redis_url, state_dir, sweep_id, number, fold)
    fresh = Path(folder).resolve() if folder else Path(tempfile.mkdtemp(prefix=f"sweepctl-reproduce-{sweep_id}-{number}-"))
    plan = rerun.plan_rerun(trial, spec, workdir, fresh)
    differences = _differences(trial, spec, workdir)
    for difference in differences:
        click.echo(f"warning: {difference.message}", err=True)
    rerun.prepare(plan)
    click.echo(f"re-running trial {number} of sweep {sweep_id} in {fresh}", err=True)
    output = rerun.run(plan, lambda line: click.echo(line, err=True))
    result = _judge(spec, output)
    _print(trial, result, differences, fresh, fmt)
    if result.error:
        click.echo(f"re-run {result.state.value}: {result.error}", err=True)
    sys.exit(_exit_status(result))


def _print(trial: Trial, result: RerunResult, differences: tuple[Difference, ...], folder: Path, fmt: str) -> None:
    if fmt == "table":
        click.echo(table(side_by_side(trial, result), ("what", "recorded", "rerun", "change")))
        return
    record: dict[str, Any] = {
        "sweep_id": trial.sweep_id,
        "number": trial.number,
        "argv": list(trial.argv),
        "folder": str(folder),
        "differences": [{"drift": d.drift.value, "message": d.message, "path": d.path} for d in differences],
        **result_record(trial, result),
    }
    click.echo(json.dumps(record, indent=2) if fmt == "json" else yaml.safe_dump(record, sort_keys=False).rstrip())
