"""A real Prometheus server scrapes the exporter during a real sweep on (fake-NVML) GPU workers.

Every query of every Grafana dashboard must return data, every alert and
recording rule must evaluate without error, and every series the catalog
promises must really be exported. (Whether each alert fires when it should is
shown by its promtool unit tests in deploy/prometheus/tests.)
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from metrics.catalog import exported_series_names
from sweepctl.embedded import free_port
from sweepctl.store import Store
from tests.deploy.promql_names import dashboard_queries
from tests.support.processes import REPO, Processes, wait_for
from tests.system.helpers import submit, write_sweep
from tests.system.test_exporter import GPUS, gpu_env

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="no prometheus server on PATH (tests/run.sh installs it)"),
]

THREE_GPUS = GPUS + [{**GPUS[0], "uuid": "GPU-20000000-aaaa-bbbb-cccc-000000000000", "pci_bus_id": "00000000:2A:00.0"}]
DASHBOARDS = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
RULES = REPO / "deploy" / "prometheus" / "rules"


def api(port: int, path: str, **params: str) -> dict:
    url = f"http://127.0.0.1:{port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]


def query(port: int, expr: str) -> list:
    return api(port, "query", query=expr)["result"]


@pytest.fixture
def prometheus(tmp_path: Path) -> tuple[int, int, subprocess.Popen[bytes]]:
    """A Prometheus server scraping an exporter port every second, with the shipped rules loaded."""
    exporter_port, port = free_port(), free_port()
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules / "*.yml")],
        "scrape_configs": [{"job_name": "sweepctl", "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
        start_new_session=True,
    )
    try:
        # Started, not yet listening: on a busy machine the server can take over a second to bind.
        wait_for(lambda: proc.poll() is not None or _ready(port), 60, "Prometheus to be ready", interval=0.2)
        assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
        yield exporter_port, port, proc
    finally:
        proc.kill()
        proc.wait(10)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_every_dashboard_query_returns_data_and_every_rule_evaluates(
    tmp_path: Path, procs: Processes, store: Store, prometheus: tuple[int, int, subprocess.Popen[bytes]]
) -> None:
    exporter_port, port, _ = prometheus
    assert DASHBOARDS, "no dashboards found"
    # Given a sweep on three GPU workers: a trial that fails, one that hangs on its GPU, and a
    # stream of trials that complete while Prometheus watches
    modes = json.dumps(["exit", "hang"] + [f"ok{i}" for i in range(40)])  # distinct: no parameter set runs twice
    sweep_id = submit(
        procs,
        write_sweep(
            tmp_path,
            f"""
            name: e2e
            method: grid
            metric: {{name: loss}}
            program: trial_program.py
            parameters:
              mode: {{values: {modes}}}
              sleep: {{value: 0.9}}
            parallelism: 3
            """,
        ),
    )
    procs.start("exporter", "--port", str(exporter_port))
    procs.start("controller")
    procs.start("worker", "--gpus", "all", env=gpu_env(procs, FAKE_NVML_GPUS=json.dumps(THREE_GPUS)))

    # When Prometheus has scraped the sweep in progress for a while
    wait_for(lambda: query(port, 'up{job="sweepctl"} == 1'), 30, "Prometheus to scrape the exporter", interval=0.5)
    wait_for(lambda: len(store.finished_numbers(sweep_id)) >= 4, 60, "trials to finish")
    wait_for(lambda: query(port, "increase(sweepctl_sweep_trials_finished_total[1m]) > 0") and query(port, "sweepctl_gpu_trial_info"), 30,
             "finished trials and running GPU trials in Prometheus", interval=0.5)
    time.sleep(4)

    # Then every dashboard query returns data
    empty = []
    for dashboard in DASHBOARDS:
        for title, expr in dashboard_queries(dashboard):
            if not query(port, expr):
                empty.append(f"{dashboard.name} / {title}: {expr}")
    assert not empty, "queries without data:\n" + "\n".join(empty)

    # And every rule Prometheus loaded from the shipped files evaluates without error
    groups = api(port, "rules")["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert rules, "no rules loaded"
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]

    # And every series the catalog promises is really there
    names = set(api(port, "label/__name__/values"))
    missing = exported_series_names() - names
    assert not missing, f"catalogued but never exported: {sorted(missing)}"
    assert socket.gethostname() in {r["metric"]["Hostname"] for r in query(port, "DCGM_FI_DEV_GPU_UTIL")}
