"""Personal-data masking for logs and public views.

Field maskers (``mask_phone``, ``mask_id_number``, ``mask_name``, ``mask_email``) render a
known field; ``mask_text`` finds identifiers inside free text; ``install_log_masking`` runs
``mask_text`` over every log message so raw numbers never reach log files.
"""

import logging
import re
from typing import Any

from hub.model.validators import is_valid_mobile, normalize_mobile

__all__ = [
    "install_log_masking",
    "mask_email",
    "mask_id_number",
    "mask_name",
    "mask_phone",
    "mask_text",
]

_STAR = "*"
_PHONE_KEEP_HEAD = 3
_PHONE_KEEP_TAIL = 4
#: Below this many hidden digits a phone-like string would be nearly readable: hide it all.
_PHONE_MIN_HIDDEN = 4
_ID_KEEP_HEAD = 4
_ID_KEEP_TAIL = 4
_EMAIL_LOCAL_STARS = "***"

_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])", re.ASCII)
_MOBILE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)", re.ASCII)
# "@" may arrive URL-encoded ("%40"), e.g. from an access-log line of a request path.
_EMAIL_IN_TEXT = re.compile(
    r"[A-Za-z0-9._+\-]+(?:%[0-9A-Fa-f]{2}[A-Za-z0-9._+\-]*)*?(?:@|%40)"
    r"[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}",
    re.ASCII,
)

#: Marks our record factory so a second install can see it is already in the chain.
_FACTORY_MARKER = "_hub_masks_personal_data"


def mask_phone(value: str) -> str:
    """Keep the first 3 and last 4 digits so staff can still match a caller, hide the rest.

    Valid mobiles collapse to ``138****1234``; other phone-like strings keep their
    separators (``0311-87654321`` -> ``031*-****4321``); too few digits -> all stars.
    """
    if is_valid_mobile(value):
        mobile = normalize_mobile(value)
        return mobile[:_PHONE_KEEP_HEAD] + _STAR * 4 + mobile[-_PHONE_KEEP_TAIL:]
    digit_count = sum(char.isdigit() for char in value)
    if digit_count < _PHONE_KEEP_HEAD + _PHONE_KEEP_TAIL + _PHONE_MIN_HIDDEN:
        return _STAR * len(value)
    return _mask_middle_digits(value, digit_count)


def _mask_middle_digits(value: str, digit_count: int) -> str:
    """Star every digit except the first and last few, leaving separators in place."""
    hidden = range(_PHONE_KEEP_HEAD, digit_count - _PHONE_KEEP_TAIL)
    masked: list[str] = []
    seen = 0
    for char in value:
        if char.isdigit():
            masked.append(_STAR if seen in hidden else char)
            seen += 1
        else:
            masked.append(char)
    return "".join(masked)


def mask_id_number(value: str) -> str:
    """Keep the first 4 (province/city) and last 4 characters; same length as the input."""
    if len(value) <= _ID_KEEP_HEAD + _ID_KEEP_TAIL:
        return _STAR * len(value)
    hidden = len(value) - _ID_KEEP_HEAD - _ID_KEEP_TAIL
    return value[:_ID_KEEP_HEAD] + _STAR * hidden + value[-_ID_KEEP_TAIL:]


def mask_name(value: str) -> str:
    """Keep the first character (surname or initial) and star the rest.

    A one-character name is fully starred, since keeping it would reveal everything.
    """
    name = value.strip()
    if len(name) <= 1:
        return _STAR * len(name)
    return name[0] + _STAR * (len(name) - 1)


def mask_email(value: str) -> str:
    """Keep the first local character and the domain; a fixed star count hides length."""
    local, at, domain = value.strip().rpartition("@")
    if not at:
        return _STAR * len(domain)
    return local[:1] + _EMAIL_LOCAL_STARS + at + domain


def mask_text(text: str) -> str:
    """Mask resident IDs, mobiles and emails found anywhere in ``text``.

    IDs go first so a mobile-looking run inside an ID is not handled twice. The output
    contains no raw identifiers, so running it again changes nothing.
    """
    masked = _ID_IN_TEXT.sub(_mask_id_match, text)
    masked = _MOBILE_IN_TEXT.sub(_mask_mobile_match, masked)
    return _EMAIL_IN_TEXT.sub(_mask_email_match, masked)


def _mask_id_match(match: re.Match[str]) -> str:
    return mask_id_number(match.group())


def _mask_mobile_match(match: re.Match[str]) -> str:
    """Keep a ``+86``/``86`` prefix as written; mask only the 11-digit number."""
    found = match.group()
    return found[:-11] + mask_phone(found[-11:])


def _mask_email_match(match: re.Match[str]) -> str:
    found = match.group()
    if "@" in found:
        return mask_email(found)
    local, _, domain = found.rpartition("%40")
    return mask_email(f"{local}@{domain}").replace("@", "%40")


def install_log_masking() -> None:
    """Mask the final message of every log record, from every logger.

    Wraps the process-wide record factory, so it covers third-party loggers too. Calling it
    again is a no-op while our factory is still in the chain.
    """
    current = logging.getLogRecordFactory()
    if _factory_is_masking(current):
        return

    def masking_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        _mask_record(record)
        return record

    setattr(masking_factory, _FACTORY_MARKER, True)
    masking_factory.__wrapped__ = current  # type: ignore[attr-defined]
    logging.setLogRecordFactory(masking_factory)


def _factory_is_masking(factory: object) -> bool:
    """Walk ``__wrapped__`` so a factory someone stacked on top of ours still counts."""
    seen: set[int] = set()
    while factory is not None and id(factory) not in seen:
        if getattr(factory, _FACTORY_MARKER, False):
            return True
        seen.add(id(factory))
        factory = getattr(factory, "__wrapped__", None)
    return False


def _mask_record(record: logging.LogRecord) -> None:
    """Replace msg with the masked, fully formatted message and drop the args.

    If the args do not fit the format string, mask ``str(msg)`` instead of raising, so a
    bad log call never leaks its arguments or breaks the caller.
    """
    try:
        message = record.getMessage()
    except Exception:
        message = str(record.msg)
    record.msg = mask_text(message)
    record.args = ()
