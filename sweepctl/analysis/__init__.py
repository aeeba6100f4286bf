"""Answers from trial records: pure functions from trials to plain values and frozen records (no I/O)."""
