"""Errors an adapter raises: one family, so callers (dispatcher, sync, CLI) catch one base.

`retryable` tells the retry loop and the circuit breaker whether the far side may recover
(timeouts, 5xx, 429); business refusals (a SOAP fault, a 4xx) are not retried.
`unsent` says the far side surely did not act (no connection, 429/503, rolled back): only
then may a non-idempotent operation (create, reply) be retried without an idempotency check.
"""

from __future__ import annotations

NOT_PROCESSED = (429, 503)  # statuses that say "not processed, try later"


class AdapterError(Exception):
    """Base of every adapter failure; message is Chinese with English in parentheses."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        unsent: bool = False,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.unsent = unsent
        self.payload: bytes | None = None  # the refused body, for the dead-letter table


class BlockedHost(AdapterError):
    """The URL's host is not on the outbound allow-list or resolves to a forbidden address."""


class ResponseTooLarge(AdapterError):
    """The far side sent more bytes than the connector's cap."""


class HostileXml(AdapterError):
    """XML with a DTD, entities or external references, or malformed XML."""


class DecodeFailed(AdapterError):
    """The body is not valid in its declared (or detected) charset."""


class HttpStatusError(AdapterError):
    """A non-2xx HTTP answer."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message,
            retryable=retryable,
            retry_after=retry_after,
            unsent=status in NOT_PROCESSED,
        )
        self.status = status


class TransportFailed(AdapterError):
    """Connection refused, reset or timed out."""


class SoapFault(AdapterError):
    """The SOAP service answered with a fault: keeps the fault code and string."""

    def __init__(
        self, code: str | None, text: str, *, status: int | None = None, retryable: bool = False
    ) -> None:
        # A server fault sent with a "busy" status (503, 429) means nothing was done: retry.
        super().__init__(
            f"SOAP 故障 (SOAP fault) [{code or '-'}]: {text}",
            retryable=retryable,
            unsent=retryable and status in NOT_PROCESSED,
        )
        self.code = code
        self.text = text
        self.status = status


class CircuitOpen(AdapterError):
    """The breaker is open: the connector failed repeatedly and is resting."""


class SqlRefused(AdapterError):
    """A table, column or write the SQL adapter will not do."""


class AuthFailed(AdapterError):
    """Login to a token endpoint failed or credentials are missing."""
