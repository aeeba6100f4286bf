"""Observing sweeps: GPU telemetry and the Prometheus exporter (see issue 4)."""
