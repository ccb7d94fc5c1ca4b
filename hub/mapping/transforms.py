"""Value transforms: small functions, each doing one thing, composed in order per field.

Every transform passes ``None`` (a missing value) through untouched, except ``default``
which exists to replace it, so a chain never has to test for missing values itself. A
transform fails only with :class:`MappingError` (no field path yet: the field rule adds it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from hub.mapping.errors import MappingError
from hub.model.masking import mask_email, mask_id_number, mask_name, mask_phone, mask_text

__all__ = [
    "MASKS",
    "TYPE_CASTS",
    "Transform",
    "code_map",
    "default",
    "format_date",
    "format_datetime",
    "join",
    "lower",
    "mask",
    "parse_date",
    "parse_datetime",
    "regex",
    "split",
    "strip",
    "to_bool",
    "to_decimal",
    "to_float",
    "to_int",
    "to_str",
    "upper",
]

Transform = Callable[[Any], Any]

#: Numbers beyond 10**30 are not codes or counts any system sends; refusing them also keeps
#: a hostile "1e999999999" from allocating a huge integer.
_MAX_EXPONENT = 30

_PLAIN_INT = re.compile(r"[+-]?[0-9]{1,30}")
TRUE_TEXTS = frozenset({"true", "t", "yes", "y", "1", "on", "是", "真", "对"})
FALSE_TEXTS = frozenset({"false", "f", "no", "n", "0", "off", "否", "假", "错"})


def _fail(reason: str) -> MappingError:
    return MappingError("", reason)


# --- type casts -----------------------------------------------------------------------


def to_str(value: Any) -> Any:
    """Text; dates become ISO 8601 and bytes must be UTF-8."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise _fail("文本不是有效的 UTF-8 (text is not valid UTF-8)") from None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    raise _fail(f"无法转换为文本 (cannot convert {type(value).__name__} to text)")


def to_decimal(value: Any) -> Any:
    """Exact decimal for amounts; rejects NaN, infinity and absurd magnitudes."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise _fail("布尔值不能转换为数字 (a boolean is not a number)")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise _fail("不是有效的数字 (not a number)") from None
    if not number.is_finite() or abs(number.adjusted()) > _MAX_EXPONENT:
        raise _fail("数字超出范围 (number out of range)")
    return number


def to_int(value: Any) -> Any:
    """Whole numbers; ``"12"``, ``12.0`` and ``"12.0"`` are fine, ``"12.5"`` is not."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _PLAIN_INT.fullmatch(text):
            return int(text)
    number = to_decimal(value)
    if number != number.to_integral_value():
        raise _fail("不是整数 (not a whole number)")
    return int(number)


def to_float(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value == value):
        return value
    return float(to_decimal(value))


def to_bool(value: Any) -> Any:
    """Booleans as systems send them: true/false, 1/0, yes/no, 是/否."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TRUE_TEXTS:
            return True
        if text in FALSE_TEXTS:
            return False
    raise _fail("不是有效的是/否值 (not a boolean: use true/false, 1/0, 是/否)")


TYPE_CASTS: dict[str, Transform] = {
    "str": to_str,
    "int": to_int,
    "float": to_float,
    "bool": to_bool,
    "decimal": to_decimal,
}


# --- dates and times ------------------------------------------------------------------

#: strptime formats that ``fromisoformat`` (C, ~10x faster) reads identically, for text of
#: exactly this shape (ASCII digits); any other text goes to strptime, so the format decides.
_ISO_FAST = {
    "%Y-%m-%d %H:%M:%S": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"),
    "%Y-%m-%dT%H:%M:%S": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"),
    "%Y-%m-%d": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
}
_NOT_MATCHING = "日期时间格式不符 (date-time does not match the expected format)"


def _parser(fmt: str) -> Callable[[str], datetime]:
    shape = _ISO_FAST.get(fmt)
    if shape is None:
        return lambda text: datetime.strptime(text, fmt)
    fits = shape.fullmatch

    def fast(text: str) -> datetime:
        if fits(text) is None:
            return datetime.strptime(text, fmt)
        return datetime.fromisoformat(text)

    return fast


def iso_shape(formats: Sequence[str]) -> Callable[[str], Any] | None:
    """For one ISO-shaped format: the test that text has that shape (then fromisoformat
    reads it as strptime would, as a naive moment); else None."""
    return iso_first_shape(formats) if len(formats) == 1 else None


def iso_first_shape(formats: Sequence[str]) -> Callable[[str], Any] | None:
    """When the first of the formats is ISO-shaped: the test that text has its shape (else
    None). The first format that reads a text wins, and text of that shape that
    fromisoformat reads is read so by strptime with the first format: the fast path reads it
    with fromisoformat, and gives any other text (or a date fromisoformat refuses, which a
    later format may still read) to the transform."""
    if not formats or formats[0] not in _ISO_FAST:
        return None
    return _ISO_FAST[formats[0]].fullmatch


#: What to_int reads with int() alone, once stripped (for the fast path, which inlines it).
plain_int = _PLAIN_INT.fullmatch


def _fitting(parsers: Sequence[Callable[[str], datetime]]) -> Callable[[str], datetime]:
    """Text → datetime by the first parser that accepts it, else MappingError."""
    if len(parsers) != 1:
        return lambda text: _first_fit(parsers, text)
    (parser,) = parsers

    def one(text: str) -> datetime:
        try:
            return parser(text)
        except ValueError:
            raise _fail(_NOT_MATCHING) from None

    return one


def _in_zone(moment: datetime, zone: tzinfo) -> datetime:
    """A naive moment read as local time in ``zone``; an aware one is left as it is."""
    if moment.tzinfo is not None:
        return moment
    if type(moment) is datetime:  # combine is cheaper than replace(tzinfo=...), same value
        return datetime.combine(moment.date(), moment.time(), zone)
    return moment.replace(tzinfo=zone)


def parse_datetime(formats: Sequence[str], zone: tzinfo) -> Transform:
    """Text → aware datetime; the first format that fits wins, no format means ISO 8601.

    Text without an offset is read as local time in ``zone`` (Asia/Shanghai by default).
    """
    read = _fitting([_parser(fmt) for fmt in formats] or [datetime.fromisoformat])

    def parse(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, str):
            moment = read(value.strip())
        else:
            raise _fail("日期时间须为文本 (a date-time must be text)")
        return _in_zone(moment, zone)

    fits = iso_shape(formats)
    if fits is None:
        return parse
    combine, from_iso = datetime.combine, datetime.fromisoformat

    def parse_iso(value: Any) -> Any:
        """One ISO-shaped format (the usual case) in one call; anything else as above."""
        if type(value) is str:
            text = value.strip()
            if fits(text) is not None:
                try:
                    moment = from_iso(text)  # naive: the shape has no offset
                except ValueError:
                    raise _fail(_NOT_MATCHING) from None
                return combine(moment.date(), moment.time(), zone)
        return parse(value)

    return parse_iso


def _first_fit(parsers: Sequence[Callable[[str], datetime]], text: str) -> datetime:
    for parser in parsers:
        try:
            return parser(text)
        except ValueError:
            continue
    raise _fail(_NOT_MATCHING)


def parse_date(formats: Sequence[str]) -> Transform:
    """Text → date; a date-time string with a matching format is cut to its date."""
    read = _fitting([_parser(fmt) for fmt in formats] or [datetime.fromisoformat])

    def parse(value: Any) -> Any:
        if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
            return value
        if isinstance(value, datetime):
            return value.date()
        if not isinstance(value, str):
            raise _fail("日期须为文本 (a date must be text)")
        return read(value.strip()).date()

    return parse


def format_datetime(fmt: str | None, zone: tzinfo) -> Transform:
    """Aware datetime (or ISO text) → text in ``zone``, for systems that want local time."""
    to_moment = parse_datetime([], zone)

    def render(value: Any) -> Any:
        moment = to_moment(value)
        if moment is None:
            return None
        local = moment.astimezone(zone)
        return local.strftime(fmt) if fmt else local.isoformat()

    return render


def format_date(fmt: str | None) -> Transform:
    to_day = parse_date([])

    def render(value: Any) -> Any:
        day = to_day(value)
        if day is None:
            return None
        return day.strftime(fmt) if fmt else day.isoformat()

    return render


# --- codes, defaults, text ------------------------------------------------------------

_NO_DEFAULT = object()


def code_map(table: dict[str, Any], fallback: Any = _NO_DEFAULT) -> Transform:
    """Translate a code through a table; unknown codes take ``fallback`` or fail.

    Keys are compared as text, so ``0`` from a database and ``"0"`` from XML both match.
    """
    lookup = {str(key): value for key, value in table.items()}
    has_fallback = fallback is not _NO_DEFAULT

    def translate(value: Any) -> Any:
        if value is None:
            return None
        key = value if type(value) is str else _code_text(value)
        if key in lookup:
            return lookup[key]
        if has_fallback:
            return fallback
        raise _fail("代码不在代码表中 (code not in the code table)")

    return translate


def _code_text(value: Any) -> str:
    """Text of a code: enum members by value, not by repr."""
    return str(value.value) if hasattr(value, "value") else str(value)


def default(fallback: Any) -> Transform:
    """Replace a missing or empty value."""

    def fill(value: Any) -> Any:
        return fallback if value is None or value == "" else value

    return fill


def regex(pattern: str) -> Transform:
    """First match: group 1 if the pattern has a group, else the whole match; none → None."""
    compiled = re.compile(pattern)
    group = 1 if compiled.groups else 0

    def extract(value: Any) -> Any:
        if value is None:
            return None
        match = compiled.search(value if isinstance(value, str) else str(value))
        return match.group(group) if match else None

    return extract


def _text_op(operation: Callable[[str], str]) -> Transform:
    def run(value: Any) -> Any:
        if value is None:
            return None
        return operation(value if isinstance(value, str) else to_str(value))

    return run


strip = _text_op(str.strip)
upper = _text_op(str.upper)
lower = _text_op(str.lower)

MASKS: dict[str, Callable[[str], str]] = {
    "phone": mask_phone,
    "id": mask_id_number,
    "name": mask_name,
    "email": mask_email,
    "text": mask_text,
}


def mask(kind: str) -> Transform:
    """Personal data masked as in logs and public views (hub.model.masking)."""
    return _text_op(MASKS[kind])


def split(separator: str) -> Transform:
    """Text → list of non-empty, stripped parts."""

    def run(value: Any) -> Any:
        if value is None or isinstance(value, list):
            return value
        text = value if isinstance(value, str) else to_str(value)
        return [part.strip() for part in text.split(separator) if part.strip()]

    return run


def join(separator: str) -> Transform:
    """List → text; a single value is left as text."""

    def run(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list | tuple):
            return separator.join(to_str(item) for item in value if item is not None)
        return to_str(value)

    return run
