"""benchmarks/_postgres.py: the benchmark's private PostgreSQL listens on loopback only and leaves nothing behind.

tests/run.sh installs Debian's postgresql for it (the benchmark needs it; the product does not); skipped elsewhere without it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks._postgres import PrivatePostgres, postgres_bin

psycopg2 = pytest.importorskip("psycopg2")
pytestmark = pytest.mark.system


@pytest.fixture
def installed() -> None:
    try:
        postgres_bin()
    except RuntimeError as exc:
        pytest.skip(str(exc))


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on `port` (/proc/net/tcp and tcp6, state 0A)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@pytest.mark.usefixtures("installed")
def test_a_private_server_serves_a_fresh_database_on_loopback_and_is_gone_after_stop() -> None:
    # Given a private server in a temporary folder of its own (under /tmp: pytest's tmp_path is root's alone,
    # and the server runs as the postgres user when we are root)
    server = PrivatePostgres()
    folder = server.folder
    server.start()
    try:
        pid = server.pid
        assert pid is not None
        # When a database is created and queried over loopback TCP
        url = server.create_database("story")
        conn = psycopg2.connect(host="127.0.0.1", port=server.port, user="bench", dbname="story")
        with conn.cursor() as cur:
            cur.execute("SELECT current_database()")
            assert cur.fetchone() == ("story",)
        conn.close()
        # Then it listens on 127.0.0.1 only (0100007F), never on every address
        assert listening_addresses(server.port) == {"0100007F"}
        assert url.endswith(f"@127.0.0.1:{server.port}/story")
    finally:
        server.stop()
    # And after stop no server process and no folder is left
    assert not Path(f"/proc/{pid}").exists()
    assert not folder.exists()
