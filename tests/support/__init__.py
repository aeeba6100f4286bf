"""Test support: real redis-server instances and real sweepctl processes, always cleaned up."""
