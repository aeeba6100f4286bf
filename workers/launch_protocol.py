"""The limits of the channel between a trial runner and its launcher (and between the launcher and its executor).

Messages are JSON objects over SOCK_SEQPACKET pairs; see `workers.launcher` for what they say.
"""

from __future__ import annotations

import socket

EXIT_CANNOT_START = 127  # a trial process that could not become its trial exits with this
MAX_MESSAGE = 1 << 20  # what a read takes: more than any start request
# A start request (argv, environment, cwd as JSON) may be this long. A SOCK_SEQPACKET message must
# fit the sender's buffer, which each sender sizes for it: Linux doubles what is asked, up to twice
# net.core.wmem_max (212992 by default), so this fits on a stock kernel.
MAX_START_REQUEST = 256 << 10


def fit_start_requests(sock: socket.socket) -> None:
    """Size `sock`'s send buffer for a start request of MAX_START_REQUEST bytes (one message)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_START_REQUEST)
