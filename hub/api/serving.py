"""Several API worker processes, each with its own listening socket (SO_REUSEPORT).

uvicorn's workers share one listening socket, and each accepts connections in batches as
soon as it wakes: a burst of new keep-alive connections (a portal's or the hotline's
connection pool starting) can land mostly on one worker. With the embedded bus every order
is routed and dispatched in the process that received it, so that worker's GIL became the
limit while the other idled. With SO_REUSEPORT the kernel spreads new connections over
the workers' sockets. Where the platform lacks it, uvicorn's shared socket is used.
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess


class PerWorkerSocket(socket.socket):
    """Bound in the supervisor only to claim the port (it never listens); each worker that
    unpickles it gets a fresh socket of its own on the same address."""

    def __reduce__(self) -> tuple[Any, ...]:
        host, port = self.getsockname()[:2]
        return (reuse_port_socket, (self.family, host, port))


def reuse_port_socket(family: int, host: str, port: int) -> socket.socket:
    sock = PerWorkerSocket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def can_reuse_port() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def run_workers(config: uvicorn.Config) -> None:
    """uvicorn's supervisor (health checks, restarts, signals), one socket per worker."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    holder = reuse_port_socket(family, config.host, config.port)
    try:
        Multiprocess(config, sockets=[holder]).run()
    finally:
        holder.close()
