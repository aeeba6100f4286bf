"""Which metric names a PromQL query selects, and the queries a Grafana dashboard runs.

`selected_metric_names(expr)` is a small lexer, not a parser (promtool does the
parsing): it reports every identifier that PromQL would read as a metric name,
that is, one that is

- not followed by `(` (a function or aggregation call),
- not a keyword, function, aggregation operator or set/binary operator,
- not inside a string, a `{...}` matcher list, a `[...]` range or subquery, or a
  label list after `by`, `without`, `on`, `ignoring`, `group_left`, `group_right`.

`{__name__="x"}` counts as selecting `x`. Alert-rule tests can reuse it as well.

`dashboard_queries(path)` lists (panel title, expr) for every query of a
dashboard, with Grafana's variables replaced by concrete values so that the
result can be fed to promtool or to a real Prometheus. User variables default to
their "All" value (`.*`), so a query sent to Prometheus matches every sweep, host
and GPU; pass `values` to pin them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sweepctl.records import SweepState, TrialState

# Grafana's built-in interval variables, replaced by values a query runs with.
BUILTIN_VALUES: Mapping[str, str] = {
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1h",
    "__rate_interval_ms": "300000",
    "__interval_ms": "60000",
    "__range_s": "3600",
    "__range_ms": "3600000",
}

AGGREGATIONS = frozenset(
    """
    sum avg count min max group stddev stdvar topk bottomk quantile count_values limitk limit_ratio
    """.split()
)
# Case-insensitive in PromQL, like the aggregation operators.
KEYWORDS = frozenset(
    """
    and or unless atan2 bool offset by without on ignoring group_left group_right inf nan
    """.split()
)
LABEL_LIST_INTRODUCERS = frozenset(["by", "without", "on", "ignoring", "group_left", "group_right"])
FUNCTIONS = frozenset(
    """
    abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp clamp_max clamp_min cos
    cosh count_over_time day_of_month day_of_week day_of_year days_in_month deg delta deriv double_exponential_smoothing end
    exp floor histogram_avg histogram_count histogram_fraction histogram_quantile histogram_stddev histogram_stdvar
    histogram_sum holt_winters hour idelta increase info irate label_join label_replace last_over_time ln log10 log2
    mad_over_time max_over_time min_over_time minute month pi predict_linear present_over_time quantile_over_time rad rate
    resets round scalar sgn sin sinh sort sort_by_label sort_by_label_desc sort_desc sqrt start stddev_over_time
    stdvar_over_time sum_over_time tan tanh time timestamp vector year
    """.split()
)

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<number>(?:0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?:(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<punct>==|!=|>=|<=|=~|!~|[-+*/%^<>=(),{}\[\]@])
    """,
    re.VERBOSE,
)
_NAME_MATCHER = re.compile(r"""__name__\s*=\s*(?P<q>["'`])(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?P=q)""")


class PromQLLexError(ValueError):
    """Raised when a query holds a character PromQL has no token for (or an unclosed bracket)."""


def _tokens(expr: str) -> list[tuple[str, str]]:
    """(kind, text) tokens with whitespace and comments dropped."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            raise PromQLLexError(f"unexpected {expr[pos]!r} at {pos} in {expr!r}")
        kind = m.lastgroup
        assert kind is not None
        if kind != "space":
            tokens.append((kind, m.group()))
        pos = m.end()
    return tokens


def _skip_group(tokens: list[tuple[str, str]], start: int, close: str) -> int:
    """Index just past the `close` that ends the bracket opened at `start`."""
    for i in range(start + 1, len(tokens)):
        if tokens[i] == ("punct", close):
            return i + 1
    raise PromQLLexError(f"unclosed {tokens[start][1]!r}")


def selected_metric_names(expr: str) -> list[str]:
    """Metric names `expr` selects, in order of appearance (duplicates kept)."""
    tokens = _tokens(expr)
    names: list[str] = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if (kind, text) == ("punct", "{"):
            end = _skip_group(tokens, i, "}")
            # Matcher values are whole string tokens here, so a `}` inside a regex cannot end the list early.
            inside = " ".join(t for _, t in tokens[i + 1 : end - 1])
            names.extend(m.group("name") for m in _NAME_MATCHER.finditer(inside))
            i = end
        elif (kind, text) == ("punct", "["):
            i = _skip_group(tokens, i, "]")
        elif kind == "ident":
            lowered = text.lower()
            if lowered in LABEL_LIST_INTRODUCERS and nxt == ("punct", "("):
                i = _skip_group(tokens, i + 1, ")")
                continue
            is_call = nxt == ("punct", "(")
            if not (is_call or lowered in KEYWORDS or lowered in AGGREGATIONS or text in FUNCTIONS):
                names.append(text)
            i += 1
        else:
            i += 1
    return names


# ---- Grafana dashboards -------------------------------------------------------------

_VARIABLE_REF = re.compile(r"\$\{(?P<braced>\w+)(?::[^}]*)?\}|\[\[(?P<old>\w+)(?::[^\]]*)?\]\]|\$(?P<plain>\w+)")


def variable_references(text: str) -> list[str]:
    """Names of the Grafana variables `text` refers to (`$x`, `${x}`, `${x:fmt}`, `[[x]]`)."""
    return [m.group("braced") or m.group("old") or m.group("plain") for m in _VARIABLE_REF.finditer(text)]


def load_dashboard(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        dashboard: dict[str, Any] = json.load(f)
    return dashboard


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, and the panels folded inside collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def query_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that shows data (all but rows)."""
    return (p for p in iter_panels(dashboard) if p.get("type") != "row")


def template_variables(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    variables: list[dict[str, Any]] = dashboard.get("templating", {}).get("list", [])
    return variables


def variable_query(variable: Mapping[str, Any]) -> str:
    """A query variable's query text (Grafana saves either a string or `{"query": ...}`)."""
    query = variable.get("query", "")
    if isinstance(query, Mapping):
        query = query.get("query", "")
    return str(query)


def variable_selectors(dashboard: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(variable name, PromQL selector) for each `label_values(selector, label)` query variable."""
    selectors = []
    for variable in template_variables(dashboard):
        if variable.get("type") != "query":
            continue
        m = re.fullmatch(r"\s*label_values\((?P<selector>.+),\s*\w+\s*\)\s*", variable_query(variable), re.DOTALL)
        if m:
            selectors.append((variable["name"], m.group("selector").strip()))
    return selectors


def default_values(dashboard: Mapping[str, Any]) -> dict[str, str]:
    """A value per user variable: its All value where it has one, else its current value."""
    values: dict[str, str] = {}
    for variable in template_variables(dashboard):
        current = variable.get("current", {}).get("value")
        if variable.get("includeAll"):
            values[variable["name"]] = variable.get("allValue") or ".*"
        elif isinstance(current, str) and current and current != "$__all":
            values[variable["name"]] = current
        else:
            values[variable["name"]] = "x"
    return values


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """`expr` with every Grafana variable replaced; raises KeyError naming an unknown one."""
    known = {**BUILTIN_VALUES, **values}

    def replace(m: re.Match[str]) -> str:
        name = m.group("braced") or m.group("old") or m.group("plain")
        if name not in known:
            raise KeyError(f"variable ${name} is not defined (in {expr!r})")
        return known[name]

    return _VARIABLE_REF.sub(replace, expr)


def dashboard_queries(path: str | Path, values: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(panel title, expr) for every target of every panel, variables substituted.

    `values` overrides the default value of user variables (see `default_values`).
    """
    dashboard = load_dashboard(path)
    chosen = {**default_values(dashboard), **(values or {})}
    return [
        (panel.get("title", ""), substitute(target["expr"], chosen))
        for panel in query_panels(dashboard)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


_STATE_SELECTOR = re.compile(r"(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)\s*\{(?P<matchers>(?:\"(?:\\.|[^\"\\])*\"|[^}\"])*)\}")
_STATE_MATCHER = re.compile(r"\bstate\s*(?:=~|!~|!=|=)\s*\"(?P<value>(?:\\.|[^\"\\])*)\"")


def state_matcher_values(expr: str) -> list[tuple[str, str]]:
    """(series name, state) for every state a `state` label matcher names: `x{state=~"a|b"}` names a and b.

    Regex alternatives are split on `|`; a value that is a pattern (`.*`) is returned as written.
    """
    found = []
    for selector in _STATE_SELECTOR.finditer(expr):
        for matcher in _STATE_MATCHER.finditer(selector.group("matchers")):
            found += [(selector.group("name"), value) for value in matcher.group("value").split("|")]
    return found


# The `state` label of each series: a sweep's state (records.SweepState) or a trial's (records.TrialState).
STATES_BY_SERIES: Mapping[str, frozenset[str]] = {
    "sweepctl_sweep_info": frozenset(s.value for s in SweepState),
    "sweepctl_sweep_trials": frozenset(s.value for s in TrialState),
    "sweepctl_host_trials_total": frozenset(s.value for s in TrialState),
}


def unknown_states(expr: str) -> list[str]:
    """`series state=value` for each state a matcher names that its series never carries (a typo, a renamed state)."""
    return [
        f"{series} state={value}" for series, value in state_matcher_values(expr) if value not in STATES_BY_SERIES.get(series, {value})
    ]
