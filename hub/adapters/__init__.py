"""Protocol adapters (SOAP, REST, SQL, inbox) behind one interface; see base.Adapter."""

from hub.adapters.base import Adapter, Page, Response
from hub.adapters.errors import AdapterError

__all__ = ["Adapter", "AdapterError", "Page", "Response"]
