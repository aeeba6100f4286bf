"""Running trials: the Celery task, the trial process runner, GPU pinning and heartbeats."""
