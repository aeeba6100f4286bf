"""Answers from trial records: pure functions from trials to plain values (importance, summaries, comparisons)."""
