"""A trial's W&B run read back while it runs: the rows it logged since the last look, and its summary.

`WandbRunReader.read()` is meant to be called every fraction of a second while
the trial runs: until the run's folder exists it costs one failed directory
listing (no wandb import, no tree walk); then it reads on in the run's file from
where it stopped (`sweepctl.wandb_log`, at most MAX_READ bytes a file a call).
`read_all()` reads to the end, once the trial has ended.

The run followed is the one W&B names after the attempt's run id (what
WANDB_RUN_ID gives `wandb.init()`): `offline-run-<time>-<id>/run-<id>.wandb`
(`run-<time>-<id>/` when the worker's environment makes runs online). Should a
trial start it more than once (a second `wandb.init()` with the same id), each is
followed, in the order W&B's folder names give (their start times), up to MAX_RUNS.

The summary is W&B's: every numeric entry of the run's summary, its nested ones
under dotted names, as the run's summary records leave it. W&B keeps each logged
name's last value there unless the script sets it (`run.summary["acc"] = 0.9`) or
a `define_metric` summary changes it; an entry that is no number is not in it.
At most MAX_SUMMARY_NAMES names are kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from sweepctl.wandb_files import WandbRunFiles
from sweepctl.wandb_log import RunLog
from sweepctl.wandb_records import HistoryRow, SummaryChange, decode_record, flatten

MAX_RUNS = 16
MAX_SUMMARY_NAMES = 10_000
_RUN_FOLDER_PREFIXES = ("offline-run-", "run-")


@dataclass
class WandbProgress:
    """What a read found: the rows logged since the last read, and the summary's numbers when they changed (else None)."""

    rows: list[HistoryRow] = field(default_factory=list)
    summary: dict[str, float] | None = None


class RunSummary:
    """A run's summary as its records leave it: numeric entries only, by dotted name."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self._groups: set[str] = set()  # dotted names that have entries below them

    def apply(self, change: SummaryChange) -> None:
        for path in change.removals:
            self._drop(path)
        for path, value in change.updates:
            self._drop(path)
            found: dict[str, float] = {}
            flatten(path, value, found)
            for name, number in found.items():
                if name in self.values or len(self.values) < MAX_SUMMARY_NAMES:
                    self.values[name] = number
                    parts = name.split(".")
                    self._groups.update(".".join(parts[:n]) for n in range(1, len(parts)))

    def _drop(self, path: tuple[str, ...]) -> None:
        """Setting or removing a path replaces what was there: the entry, anything below it, and any entry above it."""
        name = ".".join(path)
        for n in range(1, len(path) + 1):
            self.values.pop(".".join(path[:n]), None)
        if name in self._groups:
            below = name + "."
            for key in [k for k in self.values if k.startswith(below)]:
                del self.values[key]


class WandbRunReader:
    """Follows one trial attempt's W&B run(s) in its W&B folder."""

    def __init__(self, files: WandbRunFiles) -> None:
        self.files = files
        self._logs: dict[str, RunLog] = {}  # by run folder name
        self.summary = RunSummary()

    @property
    def found(self) -> bool:
        """Whether the trial has started a W&B run (with its run id)."""
        return bool(self._logs)

    def problems(self) -> list[str]:
        """Why a run's file could not be read to its end, or what was skipped in it."""
        found = []
        for name, run_log in self._logs.items():
            if run_log.framing.broken:
                found.append(f"{name}: {run_log.framing.broken}")
            if run_log.framing.oversized:
                found.append(f"{name}: {run_log.framing.oversized} record(s) over the size limit skipped")
        return found

    def read(self) -> WandbProgress:
        """Rows logged and the summary as changed since the last read (at most MAX_READ bytes of each run file)."""
        self._discover()
        progress = WandbProgress()
        changed = False
        for run_log in self._logs.values():
            for record in run_log.read():
                changed = self._take(decode_record(record), progress) or changed
        if changed:
            progress.summary = dict(self.summary.values)
        return progress

    def read_all(self) -> WandbProgress:
        """Everything the run files hold past the last read: for when the trial has ended."""
        total = WandbProgress()
        while True:
            offsets = [log.framing.offset for log in self._logs.values()]
            step = self.read()
            total.rows.extend(step.rows)
            total.summary = step.summary if step.summary is not None else total.summary
            if offsets == [log.framing.offset for log in self._logs.values()]:
                return total

    def _take(self, decoded: HistoryRow | SummaryChange | None, progress: WandbProgress) -> bool:
        """Add a decoded record to `progress`; whether it changed the summary."""
        if isinstance(decoded, HistoryRow):
            if decoded.values:
                progress.rows.append(decoded)
            return False
        if isinstance(decoded, SummaryChange) and (decoded.updates or decoded.removals):
            self.summary.apply(decoded)
            return True
        return False

    def _discover(self) -> None:
        """Look for the run's folder(s): one listing of a small folder (or of none, while wandb.init() has not run)."""
        if len(self._logs) >= MAX_RUNS:
            return
        suffix = f"-{self.files.run_id}"
        try:
            with os.scandir(self.files.runs_folder) as entries:
                names = sorted(
                    e.name for e in entries if e.name.endswith(suffix) and e.name.startswith(_RUN_FOLDER_PREFIXES) and e.is_dir()
                )
        except OSError:
            return
        for name in names:
            path = self.files.runs_folder / name / f"run-{self.files.run_id}.wandb"
            if name not in self._logs and len(self._logs) < MAX_RUNS and path.is_file():
                self._logs[name] = RunLog(path)

