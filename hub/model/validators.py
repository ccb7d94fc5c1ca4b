"""Validators for Chinese identifiers: mobiles, resident IDs, credit codes, region codes.

Pure functions with no I/O, so intake, API models and batch jobs share one definition of
"valid". Every ``normalize_*`` function returns the canonical form or raises ``ValueError``
with a Chinese reason followed by English in parentheses; messages never echo the input,
because the input is personal data.
"""

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator

__all__ = [
    "CREDIT_CODE_ALPHABET",
    "PROVINCE_CODES",
    "CreditCode",
    "MobileNumber",
    "RegionCode",
    "ResidentId",
    "credit_code_check_char",
    "is_valid_credit_code",
    "is_valid_mobile",
    "is_valid_region_code",
    "is_valid_resident_id",
    "normalize_credit_code",
    "normalize_mobile",
    "normalize_region_code",
    "normalize_resident_id",
    "region_code_prefixes",
    "resident_id_check_digit",
]


def _code_range(first: int, last: int) -> set[str]:
    """Two-digit codes first..last inclusive, as strings."""
    return {f"{n:02d}" for n in range(first, last + 1)}


#: First two digits of GB/T 2260 division codes (mainland provinces, Taiwan, HK, Macao, 91).
PROVINCE_CODES: frozenset[str] = frozenset(
    _code_range(11, 15)
    | _code_range(21, 23)
    | _code_range(31, 37)
    | _code_range(41, 46)
    | _code_range(50, 54)
    | _code_range(61, 65)
    | {"71", "81", "82", "91"}
)

_ASCII_DIGITS = re.compile(r"[0-9]+")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_MOBILE_SEPARATORS = re.compile(r"[\s\-]+")
_MOBILE_COUNTRY_PREFIXES = ("+86", "0086", "86")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_MAP = "10X98765432"
_ID_EARLIEST_BIRTH = dt.date(1900, 1, 1)

#: GB 32100 alphabet: digits and upper-case letters without I, O, S, V, Z.
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_INDEX = {char: index for index, char in enumerate(CREDIT_CODE_ALPHABET)}

_REGION_LENGTHS = (6, 9, 12)


def _canonical(value: str) -> str:
    """NFKC-fold and strip, so full-width input from Chinese IMEs (１３８…, Ｘ) is accepted."""
    return unicodedata.normalize("NFKC", value).strip()


def _is_ascii_digits(value: str) -> bool:
    """True for a non-empty run of 0-9; ``str.isdigit`` would also accept other scripts."""
    return _ASCII_DIGITS.fullmatch(value) is not None


# --- mobile numbers -------------------------------------------------------------------


def normalize_mobile(value: str) -> str:
    """Return the bare 11-digit mainland mobile number, dropping separators and +86."""
    if len(value) == 11 and _MOBILE.fullmatch(value) is not None:
        # Already canonical (the usual case): eleven ASCII digits starting with 1 are left
        # alone by NFKC, the separator removal and the +86/86 prefix rule below.
        return value
    compact = _MOBILE_SEPARATORS.sub("", _canonical(value))
    for prefix in _MOBILE_COUNTRY_PREFIXES:
        if compact.startswith(prefix):
            compact = compact[len(prefix) :]
            break
    if _MOBILE.fullmatch(compact) is None:
        raise ValueError("手机号码格式不正确 (invalid mobile number)")
    return compact


def is_valid_mobile(value: str) -> bool:
    """Boolean form of :func:`normalize_mobile` for filters and quick checks."""
    return _is_valid(normalize_mobile, value)


# --- resident identity card numbers (GB 11643) ----------------------------------------


def resident_id_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits of a resident ID."""
    if len(first17) != 17 or not _is_ascii_digits(first17):
        raise ValueError("身份证号码本体应为17位数字 (ID body must be 17 digits)")
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_MAP[total % 11]


def normalize_resident_id(value: str, *, today: dt.date | None = None) -> str:
    """Return the 18-character resident ID with an upper-case X, or explain what is wrong.

    ``today`` exists so tests can pin the "not in the future" rule.
    """
    ident = _canonical(value).upper()
    _check_resident_id_shape(ident)
    if ident[:2] not in PROVINCE_CODES:
        raise ValueError("身份证号码省级行政区划代码无效 (invalid province code in resident ID)")
    _check_birth_date(ident[6:14], today or dt.date.today())
    if resident_id_check_digit(ident[:17]) != ident[17]:
        raise ValueError("身份证号码校验位错误 (resident ID check digit mismatch)")
    return ident


def is_valid_resident_id(value: str) -> bool:
    """Boolean form of :func:`normalize_resident_id`."""
    return _is_valid(normalize_resident_id, value)


def _check_resident_id_shape(ident: str) -> None:
    """Length and character classes, checked first so later rules can slice safely."""
    if len(ident) != 18:
        raise ValueError("身份证号码应为18位 (resident ID must be 18 characters)")
    if not _is_ascii_digits(ident[:17]):
        raise ValueError("身份证号码前17位应为数字 (first 17 characters must be digits)")
    if ident[17] not in _ID_CHECK_MAP:
        raise ValueError("身份证号码校验位应为数字或X (check character must be a digit or X)")


def _check_birth_date(yyyymmdd: str, today: dt.date) -> None:
    """Birth date must exist on the calendar and lie between 1900-01-01 and today."""
    try:
        born = dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        raise ValueError("身份证号码中的出生日期无效 (invalid birth date in resident ID)") from None
    if born < _ID_EARLIEST_BIRTH:
        raise ValueError("出生日期不能早于1900年 (birth date before 1900)")
    if born > today:
        raise ValueError("出生日期不能晚于今天 (birth date is in the future)")


# --- unified social credit codes (GB 32100) -------------------------------------------


def credit_code_check_char(first17: str) -> str:
    """GB 32100 check character for the first 17 characters of a credit code."""
    if len(first17) != 17 or any(char not in _CREDIT_INDEX for char in first17):
        raise ValueError(
            "统一社会信用代码本体应为17位合法字符 (credit code body must be 17 valid characters)"
        )
    total = sum(
        _CREDIT_INDEX[char] * weight for char, weight in zip(first17, _CREDIT_WEIGHTS, strict=True)
    )
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def normalize_credit_code(value: str) -> str:
    """Return the upper-case 18-character credit code, or explain what is wrong."""
    code = _canonical(value).upper()
    if len(code) != 18:
        raise ValueError("统一社会信用代码应为18位 (credit code must be 18 characters)")
    for position, char in enumerate(code, start=1):
        if char not in _CREDIT_INDEX:
            raise ValueError(
                f"统一社会信用代码第{position}位含非法字符 "
                f"(invalid character at position {position} of credit code)"
            )
    if not _is_ascii_digits(code[2:8]):
        raise ValueError(
            "统一社会信用代码第3至8位应为行政区划数字 (credit code positions 3-8 must be digits)"
        )
    if credit_code_check_char(code[:17]) != code[17]:
        raise ValueError("统一社会信用代码校验位错误 (credit code check character mismatch)")
    return code


def is_valid_credit_code(value: str) -> bool:
    """Boolean form of :func:`normalize_credit_code`."""
    return _is_valid(normalize_credit_code, value)


# --- administrative / statistical division codes (GB/T 2260) --------------------------


def normalize_region_code(value: str) -> str:
    """Return a 6 (county), 9 (town/street) or 12 (village/community) digit region code."""
    code = _canonical(value)
    if not _is_ascii_digits(code):
        raise ValueError("行政区划代码应为数字 (region code must be digits)")
    if len(code) not in _REGION_LENGTHS:
        raise ValueError("行政区划代码应为6、9或12位 (region code must be 6, 9 or 12 digits)")
    if code[:2] not in PROVINCE_CODES:
        raise ValueError("行政区划代码省级代码无效 (invalid province code in region code)")
    return code


def is_valid_region_code(value: str) -> bool:
    """Boolean form of :func:`normalize_region_code`."""
    return _is_valid(normalize_region_code, value)


def region_code_prefixes(code: str) -> list[str]:
    """County, town and village ancestors of ``code`` (itself last), shortest first.

    Lets callers answer "is this village inside that town" with ``town in prefixes``.
    """
    normalized = normalize_region_code(code)
    return [normalized[:length] for length in _REGION_LENGTHS if length <= len(normalized)]


# --- shared helpers and pydantic types ------------------------------------------------


def _is_valid(normalizer: Callable[[str], str], value: str) -> bool:
    """Run a normalizer and turn its ValueError into False (non-str input is also False)."""
    if not isinstance(value, str):
        return False
    try:
        normalizer(value)
    except ValueError:
        return False
    return True


# No separate strip step before these: every normalizer trims (NFKC, then ``strip``) and
# non-strings still meet pydantic's own ``string_type`` error, so one Python call per field
# does it all.
MobileNumber = Annotated[str, AfterValidator(normalize_mobile)]
ResidentId = Annotated[str, AfterValidator(normalize_resident_id)]
CreditCode = Annotated[str, AfterValidator(normalize_credit_code)]
RegionCode = Annotated[str, AfterValidator(normalize_region_code)]
