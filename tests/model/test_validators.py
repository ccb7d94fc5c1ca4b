"""Tests for hub.model.validators: check-digit maths, normalization and pydantic types."""

import datetime as dt
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from hub.model.validators import (
    CREDIT_CODE_ALPHABET,
    PROVINCE_CODES,
    CreditCode,
    MobileNumber,
    RegionCode,
    ResidentId,
    credit_code_check_char,
    is_valid_credit_code,
    is_valid_mobile,
    is_valid_region_code,
    is_valid_resident_id,
    normalize_credit_code,
    normalize_mobile,
    normalize_region_code,
    normalize_resident_id,
    region_code_prefixes,
    resident_id_check_digit,
)

PROVINCES = sorted(PROVINCE_CODES)
TODAY = dt.date.today()


def digit_strings(size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=size, max_size=size)


def fold(char: str) -> str:
    """What the normalizers make of a character (NFKC, then upper case)."""
    return unicodedata.normalize("NFKC", char).upper()


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    body = (
        draw(st.sampled_from(PROVINCES))
        + draw(digit_strings(4))
        + draw(st.dates(dt.date(1900, 1, 1), TODAY)).strftime("%Y%m%d")
        + draw(digit_strings(3))
    )
    return body + resident_id_check_digit(body)


@st.composite
def credit_codes(draw: st.DrawFn) -> str:
    alphabet = st.sampled_from(CREDIT_CODE_ALPHABET)
    head = draw(st.text(alphabet, min_size=2, max_size=2))
    tail = draw(st.text(alphabet, min_size=9, max_size=9))
    body = head + draw(digit_strings(6)) + tail
    return body + credit_code_check_char(body)


mobiles = st.builds(
    lambda second, rest: "1" + second + rest, st.sampled_from("3456789"), digit_strings(9)
)


@st.composite
def region_codes(draw: st.DrawFn) -> str:
    length = draw(st.sampled_from([6, 9, 12]))
    return draw(st.sampled_from(PROVINCES)) + draw(digit_strings(length - 2))


def replacement_for(original: str, alphabet: str) -> st.SearchStrategy[str]:
    """A character the normalizer will not fold back into ``original``."""
    return st.one_of(st.sampled_from(alphabet), st.characters()).filter(
        lambda char: fold(char) != original
    )


# --- mobile numbers -------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "13812341234",
        " 13812341234 ",
        "138-1234-1234",
        "138 1234 1234",
        "+8613812341234",
        "+86 138 1234 1234",
        "+86-138-1234-1234",
        "8613812341234",
        "0086 13812341234",
        "１３８１２３４１２３４",
    ],
)
def test_normalize_mobile_accepts_common_forms(raw: str) -> None:
    assert normalize_mobile(raw) == "13812341234"
    assert is_valid_mobile(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "12812341234",
        "10812341234",
        "23812341234",
        "1381234123",
        "138123412345",
        "1381234123a",
        "+1 13812341234",
        "+87 13812341234",
        "0311-87654321",
        "138_1234_1234",
    ],
)
def test_invalid_mobiles_are_rejected_with_reason(raw: str) -> None:
    assert not is_valid_mobile(raw)
    with pytest.raises(ValueError, match=r"手机号码格式不正确 \(invalid mobile number\)"):
        normalize_mobile(raw)


@given(mobiles, st.sampled_from(["", "+86", "86", "0086", "+86 ", "+86-", "0086-"]))
def test_any_mobile_with_country_prefix_normalizes_to_itself(mobile: str, prefix: str) -> None:
    assert normalize_mobile(prefix + mobile) == mobile


@given(st.text(max_size=20))
def test_is_valid_mobile_agrees_with_normalize(raw: str) -> None:
    if is_valid_mobile(raw):
        assert is_valid_mobile(normalize_mobile(raw))
    else:
        with pytest.raises(ValueError):
            normalize_mobile(raw)


# --- resident IDs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("11010519491231002X", "11010519491231002X"),
        ("11010519491231002x", "11010519491231002X"),
        (" 11010519491231002X\n", "11010519491231002X"),
        ("130102199003071233", "130102199003071233"),
    ],
)
def test_known_resident_ids(raw: str, expected: str) -> None:
    assert normalize_resident_id(raw) == expected
    assert is_valid_resident_id(raw)


def test_resident_id_check_digit_examples() -> None:
    assert resident_id_check_digit("11010519491231002") == "X"
    assert resident_id_check_digit("13010219900307123") == "3"


@pytest.mark.parametrize(
    "body", ["", "1101051949123100", "110105194912310021", "1101051949123100X"]
)
def test_resident_id_check_digit_rejects_bad_body(body: str) -> None:
    with pytest.raises(ValueError, match="17"):
        resident_id_check_digit(body)


def with_check(body: str) -> str:
    return body + resident_id_check_digit(body)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "18位"),
        ("110105194912310", "18位"),
        ("11010519491231002X1", "18位"),
        ("1101051949123100AX", "前17位应为数字"),
        ("11010519491231002Y", "校验位应为数字或X"),
        ("110105194912310021", r"check digit mismatch"),
        (with_check("00010519491231002"), "province code"),
        (with_check("99010519491231002"), "province code"),
        (with_check("20010519491231002"), "province code"),
        (with_check("11010519490230002"), "invalid birth date"),
        (with_check("11010519491301002"), "invalid birth date"),
        (with_check("11010518991231002"), "before 1900"),
    ],
)
def test_invalid_resident_ids_explain_why(raw: str, reason: str) -> None:
    assert not is_valid_resident_id(raw)
    with pytest.raises(ValueError, match=reason):
        normalize_resident_id(raw)


def test_resident_id_birth_date_may_not_be_in_the_future() -> None:
    ident = with_check("11010520300101002")
    with pytest.raises(ValueError, match=r"出生日期不能晚于今天 \(birth date is in the future\)"):
        normalize_resident_id(ident, today=dt.date(2029, 12, 31))
    assert normalize_resident_id(ident, today=dt.date(2030, 1, 1)) == ident


def test_resident_id_born_on_first_day_of_1900_is_valid() -> None:
    assert is_valid_resident_id(with_check("11010519000101002"))


@given(resident_ids())
def test_generated_resident_ids_validate(ident: str) -> None:
    assert normalize_resident_id(ident) == ident
    assert normalize_resident_id(ident.lower()) == ident


@given(resident_ids(), st.data())
def test_any_single_character_change_invalidates_resident_id(
    ident: str, data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, 17), label="position")
    char = data.draw(replacement_for(ident[position], "0123456789Xx"), label="replacement")
    mutated = ident[:position] + char + ident[position + 1 :]
    assert not is_valid_resident_id(mutated)


# --- unified social credit codes ------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["91350100M000100Y43", "91350100m000100y43", " 91350100M000100Y43 "]
)
def test_known_credit_code_is_valid(raw: str) -> None:
    assert normalize_credit_code(raw) == "91350100M000100Y43"
    assert is_valid_credit_code(raw)


def test_credit_code_check_char_example() -> None:
    assert credit_code_check_char("91350100M000100Y4") == "3"


@pytest.mark.parametrize(
    "body", ["", "91350100M000100Y", "91350100M000100Y43", "91350100I000100Y4"]
)
def test_credit_code_check_char_rejects_bad_body(body: str) -> None:
    with pytest.raises(ValueError, match="17"):
        credit_code_check_char(body)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "18位"),
        ("91350100M000100Y4", "18位"),
        ("91350100M000100Y430", "18位"),
        ("91350100M000I00Y43", "第13位含非法字符"),
        ("9135010OM000100Y43", r"position 8 of credit code"),
        ("91350100M000100Y4Z", "position 18"),
        ("913A0100M000100Y43", "positions 3-8 must be digits"),
        (
            "91350100M000100Y44",
            r"统一社会信用代码校验位错误 \(credit code check character mismatch\)",
        ),
    ],
)
def test_invalid_credit_codes_explain_why(raw: str, reason: str) -> None:
    assert not is_valid_credit_code(raw)
    with pytest.raises(ValueError, match=reason):
        normalize_credit_code(raw)


@given(credit_codes())
def test_generated_credit_codes_validate(code: str) -> None:
    assert normalize_credit_code(code) == code
    assert normalize_credit_code(code.lower()) == code


@given(credit_codes(), st.data())
def test_any_single_character_change_invalidates_credit_code(
    code: str, data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, 17), label="position")
    char = data.draw(replacement_for(code[position], CREDIT_CODE_ALPHABET + "IOSVZ"))
    mutated = code[:position] + char + code[position + 1 :]
    assert not is_valid_credit_code(mutated)


# --- region codes ---------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["130102", "130102001", "130102001001", "110000", " 820000 "])
def test_valid_region_codes(raw: str) -> None:
    assert normalize_region_code(raw) == raw.strip()
    assert is_valid_region_code(raw)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "must be digits"),
        ("13010A", "must be digits"),
        ("1301-02", "must be digits"),
        ("1301020", "6, 9 or 12"),
        ("13010200", "6, 9 or 12"),
        ("1301020010010", "6, 9 or 12"),
        ("990102", "province code"),
        ("000000", "province code"),
        ("160102001", "province code"),
    ],
)
def test_invalid_region_codes_explain_why(raw: str, reason: str) -> None:
    assert not is_valid_region_code(raw)
    with pytest.raises(ValueError, match=reason):
        normalize_region_code(raw)


def test_region_code_prefixes() -> None:
    assert region_code_prefixes("130102") == ["130102"]
    assert region_code_prefixes("130102001") == ["130102", "130102001"]
    assert region_code_prefixes("130102001001") == ["130102", "130102001", "130102001001"]
    assert "130102001" in region_code_prefixes("130102001001")
    assert "130102002" not in region_code_prefixes("130102001001")


def test_region_code_prefixes_rejects_invalid_code() -> None:
    with pytest.raises(ValueError, match="6, 9 or 12"):
        region_code_prefixes("1301")


@given(region_codes())
def test_region_code_prefixes_are_valid_nested_ancestors(code: str) -> None:
    prefixes = region_code_prefixes(code)
    assert prefixes[-1] == code
    assert [len(prefix) for prefix in prefixes] == [6, 9, 12][: len(prefixes)]
    for index, prefix in enumerate(prefixes):
        assert is_valid_region_code(prefix)
        assert code.startswith(prefix)
        assert region_code_prefixes(prefix) == prefixes[: index + 1]


# --- pydantic types -------------------------------------------------------------------


class Applicant(BaseModel):
    mobile: MobileNumber
    resident_id: ResidentId
    credit_code: CreditCode
    region: RegionCode


VALID_APPLICANT = {
    "mobile": " +86 138-1234-1234 ",
    "resident_id": "11010519491231002x",
    "credit_code": "91350100m000100y43",
    "region": " 130102001 ",
}


def test_pydantic_types_normalize() -> None:
    applicant = Applicant.model_validate(VALID_APPLICANT)
    assert applicant.model_dump() == {
        "mobile": "13812341234",
        "resident_id": "11010519491231002X",
        "credit_code": "91350100M000100Y43",
        "region": "130102001",
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mobile", "12812341234", "手机号码格式不正确 (invalid mobile number)"),
        (
            "resident_id",
            "110105194912310021",
            "身份证号码校验位错误 (resident ID check digit mismatch)",
        ),
        ("credit_code", "91350100M000100Y44", "(credit code check character mismatch)"),
        ("region", "1301020", "行政区划代码应为6、9或12位 (region code must be 6, 9 or 12 digits)"),
    ],
)
def test_pydantic_errors_carry_chinese_and_english_reason(
    field: str, value: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Applicant.model_validate({**VALID_APPLICANT, field: value})
    errors = caught.value.errors()
    assert [error["loc"] for error in errors] == [(field,)]
    assert message in errors[0]["msg"]


def test_pydantic_types_reject_non_strings() -> None:
    with pytest.raises(ValidationError) as caught:
        Applicant.model_validate({**VALID_APPLICANT, "mobile": 13812341234})
    assert caught.value.errors()[0]["type"] == "string_type"
