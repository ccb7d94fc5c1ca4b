"""Work-order serial numbers reserved in blocks, so intake needs no counter write per order.

Numbers are unique across processes (each block comes from the database counter or
sequence); a process that stops leaves a gap, which numbering allows.
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from hub.store.db import transaction
from hub.store.work_orders import allocate_serials

BLOCK_SIZE = 200


class SerialBlocks:
    def __init__(self, engine: Engine, block_size: int = BLOCK_SIZE) -> None:
        self._engine = engine
        self._block_size = block_size
        self._free: list[int] = []
        self._lock = threading.Lock()

    def take(self, count: int) -> list[int]:
        with self._lock:
            while len(self._free) < count:
                with transaction(self._engine) as conn:
                    self._free += allocate_serials(conn, max(self._block_size, count))
            taken, self._free = self._free[:count], self._free[count:]
            return taken
