"""Grafana provisioning and dashboards, checked without a Grafana server.

Given the dashboards under deploy/grafana/dashboards, every panel shows a query
through the `datasource` variable, every query parses as PromQL (promtool), and
every metric it selects is one the exporter publishes (metrics.catalog), so a
renamed metric breaks this test instead of a dashboard.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from metrics.catalog import exported_series_names
from sweepctl.records import SweepState
from tests.deploy.promql_names import (
    dashboard_queries,
    default_values,
    iter_panels,
    load_dashboard,
    query_panels,
    selected_metric_names,
    state_matcher_values,
    substitute,
    template_variables,
    unknown_states,
    variable_query,
    variable_references,
    variable_selectors,
)

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCE_REFS = {"${datasource}", "$datasource"}
PROMTOOL = shutil.which("promtool")

dashboards = pytest.mark.parametrize("path", DASHBOARD_FILES, ids=[p.name for p in DASHBOARD_FILES])


# ---- checks, each returning what is wrong (so the self-checks below can show they catch it) ----------


def queries_with_values(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, expr with variables substituted) for panel targets and label_values() selectors."""
    values = default_values(dashboard)
    found = [
        (f"panel {panel.get('title')!r} target {target.get('refId')}", substitute(target["expr"], values))
        for panel in query_panels(dashboard)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]
    found += [(f"variable ${name}", substitute(selector, values)) for name, selector in variable_selectors(dashboard)]
    return found


def unexported_metrics(dashboard: dict[str, Any]) -> list[str]:
    """Queries that select no metric, or a metric metrics.catalog does not export."""
    exported = exported_series_names()
    problems = []
    for where, expr in queries_with_values(dashboard):
        names = selected_metric_names(expr)
        if not names:
            problems.append(f"{where}: selects no metric: {expr}")
        problems += [f"{where}: {name} is not exported (metrics/catalog.py): {expr}" for name in names if name not in exported]
    return problems


def promql_parse_errors(exprs: list[str]) -> list[str]:
    """promtool's complaint about each expr that does not parse, checked as recording rules."""

    def check(batch: list[str]) -> subprocess.CompletedProcess[str]:
        rules = {"groups": [{"name": "dashboard_queries", "rules": [
            {"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(batch)
        ]}]}
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "queries.yml"
            path.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
            assert PROMTOOL is not None
            return subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False)

    if check(exprs).returncode == 0:
        return []
    # One at a time, to say which query promtool refused.
    problems = []
    for expr in exprs:
        result = check([expr])
        if result.returncode != 0:
            problems.append(f"{expr}\n    {(result.stdout + result.stderr).strip()}")
    return problems or ["promtool refused the batch but accepted each query alone"]


# ---- the dashboards -----------------------------------------------------------------------


def test_the_two_sweepctl_dashboards_are_there_with_distinct_uids() -> None:
    uids = [load_dashboard(path).get("uid") for path in DASHBOARD_FILES]
    assert {"sweepctl-gpu-fleet", "sweepctl-sweeps"} <= set(uids)
    assert [uid for uid, n in Counter(uids).items() if n > 1] == []


def state_colours(panel: dict[str, Any], column: str) -> dict[str, str]:
    """State -> colour of the value mappings a table panel's override gives `column` (as the organize transformation names it)."""
    found: dict[str, str] = {}
    for override in panel["fieldConfig"]["overrides"]:
        if override["matcher"] == {"id": "byName", "options": column}:
            for prop in override["properties"]:
                if prop["id"] == "mappings":
                    found.update({value: m["color"] for mapping in prop["value"] for value, m in mapping["options"].items()})
    return found


def test_the_sweeps_table_colours_every_sweep_state_and_paused_apart_from_running() -> None:
    dashboard = load_dashboard(GRAFANA / "dashboards" / "sweep.json")
    table = next(panel for panel in iter_panels(dashboard) if panel.get("title") == "Sweeps")
    renames = next(t["options"]["renameByName"] for t in table["transformations"] if t["id"] == "organize")
    colours = state_colours(table, renames["state"])
    assert set(colours) == {s.value for s in SweepState}
    assert colours["paused"] != colours["running"]


def test_state_matchers_in_dashboards_name_states_that_exist() -> None:
    # A state matcher with a typo (or a state renamed since) would show nothing, silently
    exprs = [expr for path in DASHBOARD_FILES for _, expr in queries_with_values(load_dashboard(path))]
    assert [problem for expr in exprs for problem in unknown_states(expr)] == []
    assert {"failed", "timed_out", "lost"} <= {value for expr in exprs for _, value in state_matcher_values(expr)}


@dashboards
def test_panel_ids_are_unique(path: Path) -> None:
    ids = [panel.get("id") for panel in iter_panels(load_dashboard(path))]
    assert None not in ids
    assert [i for i, n in Counter(ids).items() if n > 1] == []


@dashboards
def test_every_panel_has_a_title_and_a_query(path: Path) -> None:
    dashboard = load_dashboard(path)
    assert list(query_panels(dashboard)), "a dashboard without panels"
    for panel in iter_panels(dashboard):
        assert panel.get("title", "").strip(), f"panel {panel.get('id')} has no title"
    for panel in query_panels(dashboard):
        exprs = [t.get("expr", "").strip() for t in panel.get("targets", [])]
        assert exprs and all(exprs), f"panel {panel['title']!r} has a target without a query"


@dashboards
def test_every_query_goes_through_the_datasource_variable(path: Path) -> None:
    dashboard = load_dashboard(path)
    variable = next((v for v in template_variables(dashboard) if v["name"] == "datasource"), None)
    assert variable is not None and variable["type"] == "datasource" and variable["query"] == "prometheus"
    for panel in query_panels(dashboard):
        assert panel.get("datasource", {}).get("uid") in DATASOURCE_REFS, panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", {}).get("uid") in DATASOURCE_REFS, (panel["title"], target.get("refId"))
    for v in template_variables(dashboard):
        if v["type"] == "query":
            assert v.get("datasource", {}).get("uid") in DATASOURCE_REFS, v["name"]


@dashboards
def test_queries_use_only_defined_variables_and_as_regex_matchers(path: Path) -> None:
    # Multi-value variables expand to `a|b`: only a regex matcher (=~, !~) selects them all.
    dashboard = load_dashboard(path)
    defined = {v["name"] for v in template_variables(dashboard)}
    texts = [t["expr"] for p in query_panels(dashboard) for t in p["targets"]]
    texts += [variable_query(v) for v in template_variables(dashboard) if v["type"] == "query"]
    for text in texts:
        user_refs = [name for name in variable_references(text) if not name.startswith("__")]
        assert set(user_refs) <= defined, f"undefined variable in {text!r}"
        in_regex_matchers = [
            name
            for m in re.finditer(r'[A-Za-z_]\w*\s*(?:=~|!~)\s*"([^"]*)"', text)
            for name in variable_references(m.group(1))
        ]
        assert sorted(in_regex_matchers) == sorted(user_refs), f"a variable outside a =~ matcher in {text!r}"


@dashboards
@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package 'prometheus'; tests/run.sh installs it)")
def test_every_query_parses_as_promql(path: Path) -> None:
    exprs = [expr for _, expr in queries_with_values(load_dashboard(path))]
    assert promql_parse_errors(exprs) == []


@dashboards
def test_every_query_selects_only_exported_metrics(path: Path) -> None:
    assert unexported_metrics(load_dashboard(path)) == []


@dashboards
def test_dashboard_queries_lists_every_target_with_variables_substituted(path: Path) -> None:
    dashboard = load_dashboard(path)
    queries = dashboard_queries(path)
    assert len(queries) == sum(len(p["targets"]) for p in query_panels(dashboard))
    assert [expr for _, expr in queries if "$" in expr or "[[" in expr] == []
    # Pinned values replace the All default.
    if any("$sweep" in t["expr"] for p in query_panels(dashboard) for t in p["targets"]):
        assert any('sweep=~"s-1"' in expr for _, expr in dashboard_queries(path, {"sweep": "s-1"}))


# ---- self-checks: the checks above can fail ---------------------------------------------------


def test_extractor_reports_metric_names_but_not_labels_functions_or_keywords() -> None:
    expr = (
        'sum by (Hostname, gpu) (rate(sweepctl_not_a_metric_total{sweep=~"a|b", __name__!="x"}[5m] offset 1h)) '
        "/ on (gpu) group_left (modelName) max without (UUID) (DCGM_FI_DEV_GPU_UTIL) > bool 0.5e1 "
        'and ignoring (le) count_values("value", up) unless topk(3, histogram_quantile(0.9, x_bucket[1h:5m]))'
        " or vector(Inf)"
    )
    assert selected_metric_names(expr) == ["sweepctl_not_a_metric_total", "DCGM_FI_DEV_GPU_UTIL", "up", "x_bucket"]
    assert selected_metric_names('{__name__="sweepctl_worker_up", host="h"}') == ["sweepctl_worker_up"]
    assert selected_metric_names("time() - 3600") == []


def test_a_planted_unknown_metric_is_caught() -> None:
    dashboard = copy.deepcopy(load_dashboard(GRAFANA / "dashboards" / "sweep.json"))
    panel = next(query_panels(dashboard))
    panel["targets"][0]["expr"] = "sum by (sweep) (sweepctl_sweep_trials_planted{sweep=~\"$sweep\"})"
    problems = unexported_metrics(dashboard)
    assert len(problems) == 1 and "sweepctl_sweep_trials_planted is not exported" in problems[0]
    # and label names in by() are not mistaken for metrics
    assert "sweep is not exported" not in problems[0]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package 'prometheus'; tests/run.sh installs it)")
def test_promtool_refuses_a_query_that_does_not_parse() -> None:
    good = 'sum by (sweep) (sweepctl_sweep_trials{sweep=~".*"})'
    bad = "sum by (sweep (sweepctl_sweep_trials)"
    problems = promql_parse_errors([good, bad])
    assert len(problems) == 1 and problems[0].startswith(bad)


# ---- provisioning ------------------------------------------------------------------------------


def test_prometheus_datasource_is_provisioned_as_the_default() -> None:
    config = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    assert config["apiVersion"] == 1
    [source] = config["datasources"]
    assert source["name"] == "Prometheus" and source["type"] == "prometheus" and source["uid"] == "prometheus"
    assert source["url"] == "http://prometheus:9090" and source["isDefault"] is True


def test_dashboards_are_provisioned_from_the_mounted_folder() -> None:
    config = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "sweepctl.yaml").read_text())
    assert config["apiVersion"] == 1
    [provider] = config["providers"]
    assert provider["type"] == "file" and provider["options"]["path"] == "/var/lib/grafana/dashboards"
