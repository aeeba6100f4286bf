"""What waiting for a replica (Redis WAIT) costs per recorded result.

A private master (redis-server on loopback, AOF everysec as shipped) and a real replica of it.
N trials are created and claimed beforehand; what is timed is `Store.finish_trial` of each, the
write a worker waits on before it takes its next trial, through a store that asks for 0 replicas
(the default of a single server's URL) and one that asks for 1 (the default of a Sentinel URL),
alternating rounds. Beside it, the floor: a bare HSET against HSET + WAIT 1 in one round trip,
which is all WAIT can add. Prints microseconds per trial and the ratios; writes a markdown table.

    python benchmarks/sentinel_wait.py [--trials 2000] [--rounds 3] [--output benchmarks/results/sentinel_wait.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

from sweepctl.embedded import EmbeddedRedis, find_redis_server, free_port
from sweepctl.records import Sweep, SweepState, Trial, TrialState
from sweepctl.settings import RedisSettings
from sweepctl.store import Outcome, Store

SPEC = {"method": "random", "metric": {"name": "loss"}, "program": "train.py", "parameters": {"x": {"min": 0, "max": 1}}}
PASSWORD = "bench"


def start_replica(master: EmbeddedRedis, folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    folder.mkdir(parents=True)
    argv = [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--appendonly", "yes",
            "--save", "", "--replicaof", "127.0.0.1", str(master.port), "--masterauth", PASSWORD, "--requirepass", PASSWORD]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    client = redis.Redis(port=port, password=PASSWORD, decode_responses=True, socket_timeout=2)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if client.info("replication").get("master_link_status") == "up":
                return proc, port
        except redis.RedisError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("the replica did not sync within 30 s")


def claimed_trials(store: Store, sweep_id: str, trials: int) -> None:
    store.create_sweep(Sweep(id=sweep_id, raw_spec=SPEC, state=SweepState.RUNNING, seed=1, created_at=time.time()))
    for n in range(1, trials + 1):
        trial = Trial(sweep_id=sweep_id, number=n, state=TrialState.QUEUED, params={"x": n / (trials + 1)}, seed=n)
        assert store.create_trial(trial) is Outcome.OK
        assert store.claim_trial(sweep_id, n, 1, worker="host/cpu0/1", host="host") is Outcome.OK


def finish_all(store: Store, sweep_id: str, trials: int) -> float:
    """Seconds to finish every trial of the sweep, one result at a time as workers send them."""
    started = time.perf_counter()
    for n in range(1, trials + 1):
        assert store.finish_trial(sweep_id, n, 1, TrialState.COMPLETED, n / trials, ended_at=1.0, exit_code=0) is Outcome.OK
    return time.perf_counter() - started


def floor(client: redis.Redis, trials: int, wait: bool) -> float:
    """Seconds for `trials` bare HSETs, each with WAIT 1 in the same round trip when `wait`."""
    started = time.perf_counter()
    for n in range(trials):
        pipe = client.pipeline(transaction=False)
        pipe.hset("bench:floor", str(n), "1")
        if wait:
            pipe.wait(1, 1000)
        replies = pipe.execute()
        assert not wait or replies[1] == 1
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "sentinel_wait.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(data_dir=Path(tmp) / "master", password=PASSWORD) as master:
        raw = redis.Redis(port=master.port, password=PASSWORD, decode_responses=True)
        raw.config_set("repl-diskless-sync-delay", 0)
        version = str(raw.info("server")["redis_version"])
        replica, _ = start_replica(master, Path(tmp) / "replica")
        try:
            stores = {replicas: Store.connect(RedisSettings.from_url(f"{master.url}?replicas={replicas}")) for replicas in (0, 1)}
            cases: dict[str, Callable[[int], float]] = {}
            for replicas, store in stores.items():
                def case(r: int, store: Store = store, replicas: int = replicas) -> float:
                    sweep_id = f"bench{replicas}r{r}"
                    claimed_trials(store, sweep_id, args.trials)
                    return finish_all(store, sweep_id, args.trials)

                cases[f"finish_trial, replicas={replicas}"] = case
            cases["floor: HSET"] = lambda r: floor(raw, args.trials, wait=False)
            cases["floor: HSET + WAIT 1"] = lambda r: floor(raw, args.trials, wait=True)
            seconds: dict[str, list[float]] = {name: [] for name in cases}
            for r in range(args.rounds):
                for name, run in cases.items():
                    seconds[name].append(run(r))
        finally:
            replica.kill()
            replica.wait()
    micros = {name: statistics.median(s) / args.trials * 1e6 for name, s in seconds.items()}
    load = os.getloadavg()
    report(args, micros, load, version)


def report(args: argparse.Namespace, micros: dict[str, float], load: tuple[float, float, float], version: str) -> None:
    base, waited = micros["finish_trial, replicas=0"], micros["finish_trial, replicas=1"]
    floor_base, floor_waited = micros["floor: HSET"], micros["floor: HSET + WAIT 1"]
    rows = [
        ("`Store.finish_trial`, replicas=0 (single-server default)", base, 1.0),
        ("`Store.finish_trial`, replicas=1 (Sentinel default)", waited, waited / base),
        ("floor: bare HSET", floor_base, 1.0),
        ("floor: HSET + WAIT 1, one round trip", floor_waited, floor_waited / floor_base),
    ]
    lines = [
        "# WAIT for one replica: cost per recorded result",
        "",
        f"`python benchmarks/sentinel_wait.py --trials {args.trials} --rounds {args.rounds}`; master and replica on loopback,"
        f" Redis {version}; median of {args.rounds} alternating rounds;"
        f" load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min) on this shared 2-core machine.",
        "",
        "| case | µs per trial | ratio |",
        "|---|---|---|",
        *(f"| {name} | {us:.0f} | x{ratio:.2f} |" for name, us, ratio in rows),
        "",
        f"WAIT adds {waited - base:.0f} µs per recorded result (x{waited / base:.2f});"
        f" in the floor it adds {floor_waited - floor_base:.0f} µs.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.output.write_text(text)


if __name__ == "__main__":
    main()
