"""The Prometheus config and alert rules in deploy/prometheus: valid for promtool,
unit-tested alert by alert, in the house style, and naming only series the
exporter publishes (metrics/catalog.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from metrics.catalog import CATALOG, Kind, exported_series_names
from sweepctl.telemetry import FULL_HEADROOM_BYTES
from tests.deploy.promql_names import selected_metric_names, state_matcher_values, unknown_states

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES = PROMETHEUS_DIR / "rules" / "sweepctl.yml"
RULE_TESTS = PROMETHEUS_DIR / "tests" / "sweepctl_test.yml"

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not on PATH (tests/run.sh installs Debian's 'prometheus' package)",
)

# Series every Prometheus has without our exporter: scrape health and its own alerts.
BUILTIN_SERIES = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE"})
SCRAPE_LABELS = frozenset({"instance", "job", "__name__"})


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False
    )


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules_in(path: Path) -> list[dict[str, Any]]:
    return [rule for group in load_yaml(path)["groups"] for rule in group["rules"]]


def alerts_in(path: Path) -> list[dict[str, Any]]:
    return [rule for rule in rules_in(path) if "alert" in rule]


# ---- labels a rule matches on ----------------------------------------------------------------

_STRING = re.compile(r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`""")
_NAMED_SELECTOR = re.compile(r"(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)\s*\{(?P<matchers>[^}]*)\}")
_MATCHER_LABEL = re.compile(r"(?P<label>[A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")


def matched_labels(expr: str) -> list[tuple[str, str]]:
    """(series name, label name) for each label matcher of each `name{...}` selector."""
    blanked = _STRING.sub('""', expr)  # a `}` or `=` inside a matcher value is not syntax
    return [
        (m.group("name"), label.group("label"))
        for m in _NAMED_SELECTOR.finditer(blanked)
        for label in _MATCHER_LABEL.finditer(m.group("matchers"))
    ]


def _labels_by_series() -> dict[str, frozenset[str]]:
    labels: dict[str, frozenset[str]] = {}
    for m in CATALOG:
        for series in m.kind.series_names(m.name):
            extra = {"le"} if m.kind is Kind.HISTOGRAM and series.endswith("_bucket") else set()
            labels[series] = frozenset(m.labels) | extra | SCRAPE_LABELS
    return labels


def catalog_problems(rules_file: Path) -> dict[str, list[str]]:
    """Problems by rule: series the exporter does not publish, or labels it does not set."""
    rules = rules_in(rules_file)
    recorded = {rule["record"] for rule in rules if "record" in rule}
    allowed = exported_series_names() | BUILTIN_SERIES | recorded
    labels = _labels_by_series()
    problems: dict[str, list[str]] = {}
    for rule in rules:
        found = problems.setdefault(rule.get("alert") or rule["record"], [])
        found += [f"series {name}" for name in selected_metric_names(rule["expr"]) if name not in allowed]
        found += [
            f"label {label} on {name}"
            for name, label in matched_labels(rule["expr"])
            if name in labels and label not in labels[name]
        ]
    return {rule: found for rule, found in problems.items() if found}


# ---- promtool ---------------------------------------------------------------------------


@needs_promtool
def test_config_is_valid_and_loads_the_rules_file() -> None:
    # Given the shipped config, whose rule_files glob is relative to the config file
    # When promtool checks it
    result = promtool("check", "config", str(CONFIG))
    output = result.stdout + result.stderr
    # Then it is valid, and the glob really found our rules file (an empty glob is not an error)
    assert result.returncode == 0, output
    assert "SUCCESS" in output
    assert "1 rule files found" in output, output
    assert str(RULES) in output, output


def test_config_scrapes_the_exporter_as_the_rules_expect() -> None:
    config = load_yaml(CONFIG)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    # The rules select up{job="sweepctl"}: the job name is part of their contract.
    sweepctl = jobs["sweepctl"]
    targets = [t for sc in sweepctl["static_configs"] for t in sc["targets"]]
    assert targets == ["exporter:9839"]
    assert sweepctl.get("scrape_interval", config["global"]["scrape_interval"]) == "15s"
    assert config["rule_files"] == ["rules/*.yml"]


@needs_promtool
def test_rules_are_valid() -> None:
    result = promtool("check", "rules", str(RULES))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"SUCCESS: {len(rules_in(RULES))} rules found" in output, output


@needs_promtool
def test_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SUCCESS" in output, output


# ---- coverage of the unit tests ------------------------------------------------------------


def _alert_cases(tests_file: Path) -> list[dict[str, Any]]:
    return [case for test in load_yaml(tests_file)["tests"] for case in test.get("alert_rule_test", [])]


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    cases = _alert_cases(RULE_TESTS)
    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    alerts = {rule["alert"] for rule in alerts_in(RULES)}
    assert alerts, "no alerts found in the rules file"
    assert sorted(alerts - firing) == [], "alerts never shown firing"
    assert sorted(alerts - quiet) == [], "alerts never shown staying quiet"


def test_unit_tests_name_only_alerts_that_exist() -> None:
    # promtool passes `exp_alerts: []` for a misspelt alert name: that case would prove nothing.
    alerts = {rule["alert"] for rule in alerts_in(RULES)}
    named = {case["alertname"] for case in _alert_cases(RULE_TESTS)}
    assert sorted(named - alerts) == []


def test_redis_alerts_call_redis_full_where_sweepctl_status_does() -> None:
    # Given the Redis memory alerts, and RedisMemory.full (what `sweepctl status` and `run` show)
    exprs = {rule["alert"]: rule["expr"] for rule in alerts_in(RULES)}
    # Then both take Redis as full (refusing writes) at the same free memory under its limit
    for alert in ("SweepctlRedisOutOfMemory", "SweepctlRedisMemoryNearlyFull"):
        assert re.findall(r"sweepctl_redis_memory_max_bytes\s*-\s*(\d+)", exprs[alert]) == [str(FULL_HEADROOM_BYTES)], alert


# ---- house style ---------------------------------------------------------------------------


@pytest.mark.parametrize("alert", alerts_in(RULES), ids=lambda rule: rule["alert"])
def test_alert_follows_house_style(alert: dict[str, Any]) -> None:
    assert re.fullmatch(r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+", alert["alert"]), "CamelCase name"
    assert alert.get("labels", {}).get("severity") in ("warning", "critical")
    annotations = alert.get("annotations", {})
    assert annotations.get("summary", "").strip()
    assert annotations.get("description", "").strip()
    assert "$labels." in annotations["description"], "description names the thing that is wrong"


def test_recording_rules_use_the_project_prefix() -> None:
    recorded = [rule["record"] for rule in rules_in(RULES) if "record" in rule]
    assert recorded
    for name in recorded:
        assert re.fullmatch(r"sweepctl:[a-z0-9_]+(?::[a-z0-9_]+)?", name), name


# ---- every series a rule selects is one the exporter publishes -----------------------------


def test_label_matchers_are_read_from_selectors() -> None:
    expr = """sum by (Hostname) (foo{gpu!="0", UUID=~"GPU-.*}"}) / on () bar{job="a,b=c"}[5m] > baz"""
    assert matched_labels(expr) == [("foo", "gpu"), ("foo", "UUID"), ("bar", "job")]


def test_the_shared_reader_reads_our_rules() -> None:
    # The rules lean on constructs a careless reader gets wrong: label lists after
    # on/group_left, scalar(sum(...)), time(), ranges and recording rule names.
    exprs = {rule.get("alert") or rule["record"]: rule["expr"] for rule in rules_in(RULES)}
    assert selected_metric_names(exprs["SweepctlSweepStalled"]) == [
        "sweepctl_sweep_last_finish_timestamp_seconds",
        "sweepctl_sweep_budget_remaining_trials",
        "sweepctl_sweep_info",
    ]
    assert sorted(set(selected_metric_names(exprs["SweepctlHostFailureRatioHigh"]))) == [
        "sweepctl:host_failed_trials:increase30m",
        "sweepctl:host_failure_ratio:rate30m",
        "sweepctl:host_finished_trials:increase30m",
    ]
    assert selected_metric_names(exprs["sweepctl:host_failed_trials:increase30m"]) == ["sweepctl_host_trials_total"]


def test_every_rule_selects_at_least_one_series() -> None:
    # Guards the check below against a reader that silently finds nothing.
    for rule in rules_in(RULES):
        assert selected_metric_names(rule["expr"]), rule


def test_rules_name_only_series_and_labels_the_exporter_publishes() -> None:
    assert catalog_problems(RULES) == {}


def test_an_unknown_series_in_a_rule_is_caught(tmp_path: Path) -> None:
    # Given a valid rules file where one alert names a series the catalog lacks,
    # and another a label its series does not carry
    planted = tmp_path / "planted.yml"
    planted.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "planted",
                        "rules": [
                            {"record": "sweepctl:busy:sum", "expr": "sum(sweepctl_gpu_busy)"},
                            {"alert": "Made", "expr": 'sweepctl:busy:sum > 0 and on () sweepctl_made_up_total{host="a"} > 0'},
                            {"alert": "Typo", "expr": 'sweepctl_worker_up{hostname="a"} == 0'},
                        ],
                    }
                ]
            }
        )
    )
    if PROMTOOL is not None:  # the file is valid PromQL: only the catalog check objects
        assert promtool("check", "rules", str(planted)).returncode == 0
    # When the catalog check reads it / Then it names exactly those
    assert catalog_problems(planted) == {
        "Made": ["series sweepctl_made_up_total"],
        "Typo": ["label hostname on sweepctl_worker_up"],
    }


# ---- states a rule matches on ------------------------------------------------------------------

def test_state_matchers_name_states_that_exist() -> None:
    # Every state a rule matches on is one sweepctl has (paused included), so a rule cannot silently match nothing
    problems = {rule.get("alert") or rule["record"]: unknown_states(rule["expr"]) for rule in rules_in(RULES)}
    assert {name: found for name, found in problems.items() if found} == {}
    named = {value for rule in rules_in(RULES) for _, value in state_matcher_values(rule["expr"])}
    assert {"running", "paused", "failed"} <= named


def test_an_unknown_state_in_a_matcher_is_caught() -> None:
    expr = 'sum(a{state=~"failed|nan|timedout"}) and on (sweep) sweepctl_sweep_info{job="x", state="pasued"} unless b{state="c"}'
    assert state_matcher_values(expr) == [("a", "failed"), ("a", "nan"), ("a", "timedout"), ("sweepctl_sweep_info", "pasued"), ("b", "c")]
    assert unknown_states(expr.replace("a{", "sweepctl_sweep_trials{")) == [
        "sweepctl_sweep_trials state=timedout",
        "sweepctl_sweep_info state=pasued",
    ]
