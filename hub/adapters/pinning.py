"""Check the address a socket actually connected to, closing the DNS-rebinding gap between
the allow-list check and urllib3's own name resolution."""

from __future__ import annotations

import socket
from typing import Any, TypeVar

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from hub.connectors.allowlist import AllowList

C = TypeVar("C", bound=HTTPConnection)


def _checked(base: type[C], allow: AllowList) -> type[C]:
    class Checked(base):  # type: ignore[valid-type,misc]
        def _new_conn(self) -> socket.socket:
            sock: socket.socket = super()._new_conn()
            try:
                allow.check_peer(self.host, str(sock.getpeername()[0]))
            except Exception:
                sock.close()
                raise
            return sock

    return Checked


class PeerCheckingAdapter(HTTPAdapter):
    """A requests transport adapter whose new connections pass AllowList.check_peer."""

    def __init__(self, allow: AllowList, **kwargs: Any) -> None:
        self.allow = allow
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        http_cls = _checked(HTTPConnection, self.allow)
        https_cls = _checked(HTTPSConnection, self.allow)

        class Pool(HTTPConnectionPool):
            ConnectionCls = http_cls

        class TlsPool(HTTPSConnectionPool):
            ConnectionCls = https_cls

        self.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": TlsPool}
