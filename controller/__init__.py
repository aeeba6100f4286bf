"""Deciding what to run: suggesters, scheduling rules, and the loop that feeds Celery."""
