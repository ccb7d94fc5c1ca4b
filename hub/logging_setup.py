"""Logging for `jingkai serve`: one format, query strings hidden, personal data masked."""

from __future__ import annotations

import logging
import re
from typing import Any

from hub.model.masking import install_log_masking


class HideQueryString(logging.Filter):
    """Access logs must not carry ?query_code=… (a requester's secret) or other query values."""

    _QUERY = re.compile(r"\?[^\s\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        # The masking record factory has already folded args into msg by now.
        record.msg = self._QUERY.sub("?…", record.getMessage())
        record.args = ()
        return True


LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"hide_query": {"()": HideQueryString}},
    "formatters": {
        "default": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "default": {"class": "logging.StreamHandler", "formatter": "default"},
        "access": {
            "class": "logging.StreamHandler",
            "formatter": "default",
            "filters": ["hide_query"],
        },
    },
    "loggers": {
        "": {"handlers": ["default"], "level": "INFO"},
        "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}

install_log_masking()
