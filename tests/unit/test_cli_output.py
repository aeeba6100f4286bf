"""What the CLI prints for people: one table row per record, whatever the record holds."""

from __future__ import annotations

from sweepctl.cli.output import table


def test_a_name_with_a_newline_or_a_tab_stays_on_its_row_escaped() -> None:
    # Given sweeps whose names hold a newline, a tab and an escape character
    rows = [{"id": "a", "name": "two\nlines"}, {"id": "b", "name": "tab\there\x1b[31m"}, {"id": "c", "name": "plain"}]
    # When they are printed as a table
    printed = table(rows, ("id", "name"))
    # Then it has a header and one line per sweep, with the control characters shown escaped
    assert printed.splitlines() == [
        "ID  NAME",
        "a   two\\nlines",
        "b   tab\\there\\x1b[31m",
        "c   plain",
    ]
