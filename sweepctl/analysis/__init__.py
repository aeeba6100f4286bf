"""Answers from trial records: pure functions from records to plain values."""
