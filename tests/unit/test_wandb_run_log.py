"""Reading a W&B run's `.wandb` file back: framing, records and summary, on a file the real `wandb` package wrote.

A tiny W&B script runs once for the module (offline, with the variables a worker
gives a trial, and with no network at all where `unshare` can take it away); the
wandb package's own protobuf classes and its own view of the run's summary are the
oracles of what our reader must find in the file.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sweepctl import wandb_log
from sweepctl.records import Trial, TrialState
from sweepctl.wandb_files import WandbRunFiles, run_files, write_params
from sweepctl.wandb_log import BLOCK_SIZE, FILE_HEADER, RunLog
from sweepctl.wandb_reader import WandbRunReader
from sweepctl.wandb_records import HistoryRow, SummaryChange, decode_record, flatten

pb = pytest.importorskip("wandb.proto.wandb_internal_pb2")

PARAMS = {"lr": 0.5, "optimizer": {"name": "adam", "beta": 0.9}, "layers": [8, 16]}

SCRIPT = textwrap.dedent(
    """
    import json, wandb

    def plain(value):  # wandb's summary objects, as JSON
        if callable(getattr(type(value), "keys", None)):
            return {str(k): plain(value[k]) for k in value.keys()}
        return value if isinstance(value, (int, float, str, bool, type(None), list)) else str(value)

    run = wandb.init()
    with open("config.json", "w") as f:
        json.dump({"lr": wandb.config.lr, "beta": wandb.config["optimizer"]["beta"], "all": dict(wandb.config)}, f)
    for i in range(5):
        wandb.log({"val/loss": 1.0 / (i + 1), "val_acc": i / 10, "nested": {"a": i, "b": {"c": 2 * i}}, "text": "hi",
                   "flag": True, "hist": wandb.Histogram([1, 2, 3]), "table": wandb.Table(columns=["a"], data=[[1]])})
    wandb.log({"big": "x" * 100_000, "after_big": 1.0})
    wandb.log({"val/loss": float("nan")})
    wandb.log({"val/loss": 0.01}, step=10, commit=True)
    run.summary["val_acc"] = 42.0
    run.summary["best"] = {"x": 1.5}
    with open("summary.json", "w") as f:
        json.dump(plain(run.summary), f)
    wandb.finish()
    """
)


@dataclass(frozen=True)
class RealRun:
    files: WandbRunFiles
    log_path: Path
    folder: Path
    without_network: bool


def _no_network_prefix() -> list[str]:
    """`unshare -rn` (a network namespace with no interface up) when this machine allows it, else nothing."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    works = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=30).returncode == 0
    return [unshare, "-rn"] if works else []


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> RealRun:
    folder = tmp_path_factory.mktemp("wandb-script")
    (folder / "train.py").write_text(SCRIPT)
    trial = Trial(sweep_id="abcd1234", number=3, state=TrialState.RUNNING, params=PARAMS, seed=7, attempt=2)
    files = write_params(run_files(trial, folder), trial.params)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(files.environment(env))
    prefix = _no_network_prefix()
    done = subprocess.run([*prefix, sys.executable, "train.py"], cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    logs = list(files.runs_folder.glob(f"offline-run-*-{files.run_id}/run-{files.run_id}.wandb"))
    assert len(logs) == 1, list(files.runs_folder.iterdir())
    return RealRun(files=files, log_path=logs[0], folder=folder, without_network=bool(prefix))


def _pb_records(path: Path) -> list[Any]:
    records = []
    for raw in _read_whole(path):
        record = pb.Record()
        record.ParseFromString(raw)
        records.append(record)
    return records


def _read_whole(path: Path) -> list[bytes]:
    return _read_whole_log(RunLog(path))


def _read_whole_log(log: RunLog) -> list[bytes]:
    found: list[bytes] = []
    while True:
        offset = log.framing.offset
        found += log.read()
        if log.framing.offset == offset:
            return found


# --- the worker's variables make a W&B script join the sweep, with no network -------------------


def test_the_script_got_its_parameters_in_wandb_config(real_run: RealRun) -> None:
    # Given the W&B script run with a trial's variables and parameter file
    seen = json.loads((real_run.folder / "config.json").read_text())
    # Then wandb.config held the trial's parameters: attribute access, a nested group as a dict, a list
    assert seen["lr"] == 0.5
    assert seen["beta"] == 0.9
    assert seen["all"] == PARAMS


def test_a_wandb_script_runs_with_no_network_at_all(real_run: RealRun) -> None:
    if not real_run.without_network:
        pytest.skip("this machine cannot take the network away from a process (unshare -rn)")
    # Given the script ran in a network namespace with no interface up / Then it still ran and wrote its run offline
    assert real_run.log_path.stat().st_size > BLOCK_SIZE


# --- framing -------------------------------------------------------------------------------------


def test_every_record_of_a_real_run_is_read_once_in_order(real_run: RealRun) -> None:
    # Given the run's file / When read with our framing and each record parsed by wandb's own protobuf class
    records = _pb_records(real_run.log_path)
    # Then the records' own numbers run 1, 2, 3, ... with none missing or repeated
    assert [r.num for r in records] == list(range(1, len(records) + 1))
    # And the 100 kB row (a record spanning several 32 KiB blocks) is among them, whole
    big = [r for r in records if r.WhichOneof("record_type") == "history" and any(i.nested_key == ["big"] for i in r.history.item)]
    assert len(big) == 1
    assert real_run.log_path.stat().st_size > 3 * BLOCK_SIZE


def test_a_file_read_while_it_grows_gives_the_same_records_as_read_whole(real_run: RealRun, tmp_path: Path) -> None:
    # Given the run's bytes appended to a file piece by piece, cut anywhere (inside headers, pieces, padding)
    data = real_run.log_path.read_bytes()
    whole = _read_whole(real_run.log_path)
    growing = tmp_path / "run-growing.wandb"
    growing.write_bytes(b"")
    log = RunLog(growing)
    found: list[bytes] = []
    cuts = sorted({*range(0, len(data), 2999), *range(1, 40), len(data)})
    for start, end in zip(cuts, cuts[1:]):
        with growing.open("ab") as file:
            file.write(data[start:end])
        # When it is read after each piece (a truncated tail each time but the last)
        found += log.read()
    found += log.read()
    # Then nothing is lost, doubled or broken
    assert found == whole
    assert log.framing.broken is None


def test_reads_are_bounded_and_resume_where_they_stopped(real_run: RealRun, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _read_whole(real_run.log_path)
    # Given reads of at most one block (the least that always holds a whole physical record)
    monkeypatch.setattr(wandb_log, "MAX_READ", BLOCK_SIZE)
    log = RunLog(real_run.log_path)
    # When the file is read one bounded piece after another
    first = log.read()
    assert 0 < log.framing.offset <= BLOCK_SIZE
    found = first + _read_whole_log(log)
    # Then the same records come, in order
    assert found == whole


def test_a_record_over_the_size_limit_is_skipped_and_counted(real_run: RealRun, monkeypatch: pytest.MonkeyPatch) -> None:
    every = len(_read_whole(real_run.log_path))
    # Given a limit below the 100 kB row
    monkeypatch.setattr(wandb_log, "MAX_RECORD", 50_000)
    log = RunLog(real_run.log_path)
    records = _read_whole_log(log)
    # Then the records holding it (its history row and its summary update) are skipped, counted, and every other one still comes
    nums = []
    for raw in records:
        record = pb.Record()
        record.ParseFromString(raw)
        nums.append(record.num)
    assert log.framing.oversized == 2
    assert nums == sorted(nums)
    assert len(nums) == every - 2
    assert log.framing.broken is None



def test_a_corrupt_record_stops_the_reading_there_after_retries(real_run: RealRun, tmp_path: Path) -> None:
    # Given a copy of the run whose bytes are flipped inside a record in its second block
    data = bytearray(real_run.log_path.read_bytes())
    data[BLOCK_SIZE + 100] ^= 0xFF
    broken = tmp_path / "run-broken.wandb"
    broken.write_bytes(bytes(data))
    log = RunLog(broken)
    # When it is read again and again
    found = [raw for _ in range(5) for raw in log.read()]
    # Then the records before the damage are kept, the reading stops at it, and says why
    assert 0 < len(found) < len(_read_whole(real_run.log_path))
    assert log.framing.offset < BLOCK_SIZE + 100
    assert log.framing.broken is not None and "checksum" in log.framing.broken


def test_a_file_that_is_no_wandb_log_is_not_read(tmp_path: Path) -> None:
    other = tmp_path / "run-other.wandb"
    other.write_bytes(b"SQLite format 3\x00" + bytes(100))
    log = RunLog(other)
    assert log.read() == []
    assert log.framing.broken is not None


def test_garbage_after_a_good_header_never_raises(tmp_path: Path) -> None:
    # Given files of random bytes behind a W&B header / When read and whatever comes is decoded
    rng = random.Random(15)
    for n in range(50):
        junk = tmp_path / f"run-junk{n}.wandb"
        junk.write_bytes(FILE_HEADER + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000))))
        for raw in _read_whole(junk):
            decode_record(raw)
    # Then nothing raised; and random protobuf bytes decode to nothing or to something plain
    for _ in range(2000):
        found = decode_record(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 60))))
        assert found is None or isinstance(found, (HistoryRow, SummaryChange))


# --- records --------------------------------------------------------------------------------------


def test_only_history_and_summary_records_decode(real_run: RealRun) -> None:
    for raw in _read_whole(real_run.log_path):
        record = pb.Record()
        record.ParseFromString(raw)
        kind = record.WhichOneof("record_type")
        decoded = decode_record(raw)
        assert isinstance(decoded, HistoryRow) == (kind == "history")
        assert isinstance(decoded, SummaryChange) == (kind == "summary")


def test_history_rows_are_what_the_script_logged(real_run: RealRun) -> None:
    # When the run is read as a worker reads it
    progress = WandbRunReader(real_run.files).read_all()
    rows = {row.step: row.values for row in progress.rows}
    # Then each logged step has its numbers, nested ones under dotted names; strings, booleans and W&B objects are left out
    for i in range(5):
        assert rows[i] == {"val/loss": 1.0 / (i + 1), "val_acc": i / 10, "nested.a": float(i), "nested.b.c": float(2 * i)}
    assert rows[5] == {"after_big": 1.0}
    assert math.isnan(rows[6]["val/loss"])
    # And a step given with step= is the row's step
    assert rows[10] == {"val/loss": 0.01}
    assert sorted(rows) == [0, 1, 2, 3, 4, 5, 6, 10]


def test_the_summary_is_wandbs_own(real_run: RealRun) -> None:
    # Given the summary as wandb itself held it at the end of the script
    theirs: dict[str, float] = {}
    for key, value in json.loads((real_run.folder / "summary.json").read_text()).items():
        if not key.startswith("_"):
            flatten((key,), value, theirs)
    # When the run's file is read
    ours = WandbRunReader(real_run.files).read_all().summary
    # Then the numbers are the same: the last logged values, and what the script set in run.summary
    assert ours == theirs
    assert ours == {"val/loss": 0.01, "val_acc": 42.0, "nested.a": 4.0, "nested.b.c": 8.0, "after_big": 1.0, "best.x": 1.5}


PROBE = """
import sys
from pathlib import Path
from sweepctl.wandb_files import WandbRunFiles
from sweepctl.wandb_reader import WandbRunReader
reader = WandbRunReader(WandbRunFiles(Path(sys.argv[1]), "s1-0-1", "s1"))
print(reader.read().rows, reader.found, "wandb" in sys.modules)
"""


def test_a_reader_finds_nothing_and_imports_nothing_before_wandb_init(tmp_path: Path) -> None:
    # Given an attempt's W&B folder where the trial never started a W&B run
    files = write_params(run_files(Trial(sweep_id="s1", number=0, state=TrialState.RUNNING, params={}, seed=0), tmp_path), {})
    # When a fresh process reads it
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", PROBE, str(files.directory)], capture_output=True, text=True, timeout=60, env=env)
    # Then it finds no row and no run, and wandb was never imported
    assert out.stdout.split() == ["[]", "False", "False"], out.stderr
