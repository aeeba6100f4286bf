"""What the CLI says about the store itself: a Redis out of memory refuses every write."""

from __future__ import annotations

from sweepctl.store import Store
from sweepctl.telemetry import RedisMemory, read_memory


def redis_memory(store: Store) -> RedisMemory | None:
    """Redis' memory and its limit, or None when it cannot be read (an ACL user without +info, a Redis gone)."""
    try:
        return read_memory(store)
    except Exception:  # noqa: BLE001  # a courtesy reading: never the reason a command fails
        return None


def out_of_memory(memory: RedisMemory | None) -> str:
    """The full-Redis message, with the figures when Redis gave them."""
    figures = "" if memory is None else f" (used {memory.used_bytes / 2**20:.1f} MiB of maxmemory {memory.max_bytes / 2**20:.1f} MiB)"
    return (
        f"Redis is out of memory{figures} and refuses every write: no trial is created, no result recorded. "
        "Trials keep running and their results wait in the workers; nothing recorded is lost. "
        "Free memory in Redis (delete the keys of old sweeps) or raise its maxmemory, and sweeps go on."
    )
