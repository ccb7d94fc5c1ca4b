"""Each API worker listens on its own socket, so the kernel spreads connections over them."""

from __future__ import annotations

import pickle
import socket
from multiprocessing.reduction import ForkingPickler

import pytest

from hub.api.serving import PerWorkerSocket, can_reuse_port, reuse_port_socket

pytestmark = pytest.mark.skipif(not can_reuse_port(), reason="no SO_REUSEPORT here")
CONNECTIONS = 64


def as_a_worker_gets_it(holder: socket.socket) -> socket.socket:
    """What a worker process receives: the supervisor's socket, pickled as for spawn."""
    worker: socket.socket = pickle.loads(ForkingPickler.dumps(holder))
    return worker


def accepted(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def test_each_worker_gets_its_own_socket_on_the_supervisors_address() -> None:
    holder = reuse_port_socket(socket.AF_INET, "127.0.0.1", 0)
    workers = [as_a_worker_gets_it(holder) for _ in range(2)]
    try:
        assert isinstance(workers[0], PerWorkerSocket)
        assert {w.getsockname() for w in workers} == {holder.getsockname()}
        assert len({holder.fileno(), *(w.fileno() for w in workers)}) == 3  # not shared
        assert all(w.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for w in workers)
    finally:
        for sock in (holder, *workers):
            sock.close()


def test_new_connections_are_spread_over_the_workers_sockets() -> None:
    holder = reuse_port_socket(socket.AF_INET, "127.0.0.1", 0)
    workers = [as_a_worker_gets_it(holder) for _ in range(2)]
    clients = []
    try:
        for worker in workers:
            worker.listen(CONNECTIONS)
            worker.setblocking(False)
        # a burst of new connections, as when a channel's connection pool starts
        for _ in range(CONNECTIONS):
            clients.append(socket.create_connection(holder.getsockname()[:2], timeout=5))
        counts = [accepted(w) for w in workers]
        assert sum(counts) == CONNECTIONS  # the supervisor's socket, not listening, got none
        assert min(counts) > 0  # all on one socket: a 1-in-2^63 chance with the kernel's hash
    finally:
        for sock in (holder, *workers, *clients):
            sock.close()
