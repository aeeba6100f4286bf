"""A trial's W&B run fed into its metric path: what it logs with `wandb.log` becomes its history, its summary its objective.

The runner makes one feed per attempt before the trial starts (it writes the
attempt's W&B parameter file, `sweepctl.wandb_files`), polls it before each
metric flush while the trial runs, reads it to the end once the trial has ended,
and closes it (a W&B folder the trial never used is removed). Rows go through
`MetricBuffer.add_logged`, the same checks, limits and counts as report lines;
the run's summary through `MetricBuffer.set_final`. Reading never stops a trial:
should it fail, it is logged and the feed goes quiet.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sweepctl.records import Trial
from sweepctl.wandb_files import WandbRunFiles, remove_if_unused, run_files, write_params
from sweepctl.wandb_reader import WandbProgress, WandbRunReader
from workers.metric_buffer import MetricBuffer

log = logging.getLogger(__name__)


class WandbFeed:
    """One trial attempt's W&B run, read into its MetricBuffer."""

    def __init__(self, trial: Trial, folder: str) -> None:
        self.files: WandbRunFiles = write_params(run_files(trial, Path(folder)), trial.params)
        self._reader: WandbRunReader | None = WandbRunReader(self.files)

    def poll(self, metrics: MetricBuffer) -> None:
        """Feed what the run wrote since the last poll (cheap while the trial has not started a W&B run)."""
        self._feed(metrics, final=False)

    def finish(self, metrics: MetricBuffer) -> None:
        """Feed everything left in the run's files: the trial has ended."""
        self._feed(metrics, final=True)
        if self._reader is not None:
            for problem in self._reader.problems():
                log.warning("W&B run %s: %s", self.files.run_id, problem)

    def close(self) -> None:
        """Remove the attempt's W&B folder if the trial wrote no run in it."""
        try:
            remove_if_unused(self.files)
        except OSError as exc:
            log.warning("cannot remove the unused W&B folder %s: %s", self.files.directory, exc)

    def _feed(self, metrics: MetricBuffer, *, final: bool) -> None:
        if self._reader is None:
            return
        try:
            progress = self._reader.read_all() if final else self._reader.read()
        except Exception:  # noqa: BLE001  # a reading bug must not take the trial down: its result matters more
            log.exception("W&B run %s: reading it failed; its metrics are no longer read", self.files.run_id)
            self._reader = None
            return
        _give(progress, metrics)


def _give(progress: WandbProgress, metrics: MetricBuffer) -> None:
    for row in progress.rows:
        metrics.add_logged(row.step, row.values)
    if progress.summary is not None:
        metrics.set_final(progress.summary)
