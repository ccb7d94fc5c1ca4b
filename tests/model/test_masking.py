"""Tests for hub.model.masking: field maskers, free-text masking and log masking."""

import datetime as dt
import io
import logging
from collections.abc import Iterator

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from hub.model.masking import (
    install_log_masking,
    mask_email,
    mask_id_number,
    mask_name,
    mask_phone,
    mask_text,
)
from hub.model.validators import PROVINCE_CODES, resident_id_check_digit

MOBILE = "13812341234"
RESIDENT_ID = "11010519491231002X"
EMAIL = "zhang.san@example.cn"

# --- field maskers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812341234", "138****1234"),
        ("+86 138-1234-1234", "138****1234"),
        ("0311-87654321", "031*-****4321"),
        ("031187654321", "031*****4321"),
        ("010 12345678", "010 ****5678"),
        ("87654321", "********"),
        ("12345", "*****"),
        ("", ""),
    ],
)
def test_mask_phone(raw: str, expected: str) -> None:
    assert mask_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13010219900307123X", "1301**********123X"),
        ("11010519491231002x", "1101**********002x"),
        ("12345678", "********"),
        ("", ""),
    ],
)
def test_mask_id_number(raw: str, expected: str) -> None:
    assert mask_id_number(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张三", "张*"),
        ("欧阳娜娜", "欧***"),
        ("王", "*"),
        ("Alice", "A****"),
        (" 李四 ", "李*"),
        ("", ""),
    ],
)
def test_mask_name(raw: str, expected: str) -> None:
    assert mask_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("zhang.san@example.cn", "z***@example.cn"),
        ("a@b.cn", "a***@b.cn"),
        ("not-an-email", "************"),
        ("", ""),
    ],
)
def test_mask_email(raw: str, expected: str) -> None:
    assert mask_email(raw) == expected


# --- free text ------------------------------------------------------------------------


def test_mask_text_known_sentence() -> None:
    text = f"市民张三（身份证{RESIDENT_ID}，手机+86 {MOBILE}，邮箱{EMAIL}）反映路灯不亮。"
    assert mask_text(text) == (
        "市民张三（身份证1101**********002X，手机+86 138****1234，"
        "邮箱z***@example.cn）反映路灯不亮。"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("电话8613812341234", "电话86138****1234"),
        ("tel:+86-13812341234.", "tel:+86-138****1234."),
        ("no 13812341234x", "no 138****1234x"),
        ("订单号 1381234123456", "订单号 1381234123456"),
        ("2013812341234", "2013812341234"),
        ("ID 110105194912310021A", "ID 110105194912310021A"),
    ],
)
def test_mask_text_boundaries(raw: str, expected: str) -> None:
    assert mask_text(raw) == expected


def test_mobile_inside_id_is_masked_once_as_an_id() -> None:
    ident = "130138123412340017"
    assert mask_text(f"号码{ident}") == "号码1301**********0017"


mobiles = st.builds(
    lambda second, rest: "1" + second + rest,
    st.sampled_from("3456789"),
    st.text(alphabet="0123456789", min_size=9, max_size=9),
)


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    body = (
        draw(st.sampled_from(sorted(PROVINCE_CODES)))
        + draw(st.text(alphabet="0123456789", min_size=4, max_size=4))
        + draw(st.dates(dt.date(1900, 1, 1), dt.date.today())).strftime("%Y%m%d")
        + draw(st.text(alphabet="0123456789", min_size=3, max_size=3))
    )
    check = resident_id_check_digit(body)
    return body + (draw(st.sampled_from("Xx")) if check == "X" else check)


surrounding = st.text(
    alphabet=st.sampled_from(
        "市民反映路灯不亮请联系电话号码身份证 abcXYZ0123456789,.:;!?()[]-_/+@"
    ),
    max_size=30,
)
boundaries = st.sampled_from([" ", "，", "。", "：", "\n", "（", "）", "是", "号", "\t"])


def windows(number: str, size: int = 7) -> set[str]:
    return {number[start : start + size] for start in range(len(number) - size + 1)}


def assert_hidden(number: str, masked: str, prefix: str, suffix: str) -> None:
    """No 7-character window of ``number`` survives, unless the surrounding text had it."""
    assert number not in masked
    for window in windows(number):
        assert window not in masked or window in prefix or window in suffix


@given(surrounding, boundaries, mobiles, boundaries, surrounding, st.sampled_from(["", "+86"]))
def test_embedded_mobile_is_masked_and_surroundings_kept(
    prefix: str, left: str, mobile: str, right: str, suffix: str, country: str
) -> None:
    assume(mask_text(prefix) == prefix and mask_text(suffix) == suffix)
    masked = mask_text(prefix + left + country + mobile + right + suffix)
    expected_number = country + mobile[:3] + "****" + mobile[-4:]
    assert masked == prefix + left + expected_number + right + suffix
    assert_hidden(mobile, masked, prefix, suffix)


@given(surrounding, boundaries, resident_ids(), boundaries, surrounding)
def test_embedded_resident_id_is_masked_and_surroundings_kept(
    prefix: str, left: str, ident: str, right: str, suffix: str
) -> None:
    assume(mask_text(prefix) == prefix and mask_text(suffix) == suffix)
    masked = mask_text(prefix + left + ident + right + suffix)
    assert masked == prefix + left + ident[:4] + "*" * 10 + ident[-4:] + right + suffix
    assert_hidden(ident, masked, prefix, suffix)


@given(st.text(alphabet=st.sampled_from("0123456789Xx+-@._ abc中文，"), max_size=60))
def test_mask_text_is_idempotent(text: str) -> None:
    once = mask_text(text)
    assert mask_text(once) == once


# --- log masking ----------------------------------------------------------------------


@pytest.fixture
def log_capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A real logger writing to a string, with the global record factory restored after."""
    original_factory = logging.getLogRecordFactory()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("hub.tests.masking")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)
        logging.setLogRecordFactory(original_factory)


def test_log_records_are_masked(log_capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = log_capture
    install_log_masking()
    logger.info("受理 %s 手机 %s", RESIDENT_ID, MOBILE)
    logger.warning("邮箱 %(email)s", {"email": EMAIL})
    logger.error(f"直接拼接 {MOBILE}")
    output = stream.getvalue()
    for raw in (MOBILE, RESIDENT_ID, EMAIL):
        assert raw not in output
    assert "INFO hub.tests.masking 受理 1101**********002X 手机 138****1234" in output
    assert "WARNING hub.tests.masking 邮箱 z***@example.cn" in output
    assert "ERROR hub.tests.masking 直接拼接 138****1234" in output


def test_log_masking_covers_every_logger(log_capture: tuple[logging.Logger, io.StringIO]) -> None:
    install_log_masking()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    other = logging.getLogger("thirdparty.client")
    other.addHandler(handler)
    try:
        other.warning("callback to %s failed", MOBILE)
    finally:
        other.removeHandler(handler)
    assert stream.getvalue() == "callback to 138****1234 failed\n"
    record = other.makeRecord(other.name, logging.INFO, __file__, 1, "to %s", (MOBILE,), None)
    assert (record.msg, record.args) == ("to 138****1234", ())


def test_install_twice_does_not_double_wrap(
    log_capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = log_capture
    install_log_masking()
    factory = logging.getLogRecordFactory()
    install_log_masking()
    assert logging.getLogRecordFactory() is factory
    logger.info("100%% 完成，回访 %s", MOBILE)
    assert stream.getvalue() == "INFO hub.tests.masking 100% 完成，回访 138****1234\n"


def test_install_sees_itself_under_another_wrapper(
    log_capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = log_capture
    install_log_masking()
    inner = logging.getLogRecordFactory()

    def tagging_factory(*args: object, **kwargs: object) -> logging.LogRecord:
        return inner(*args, **kwargs)

    tagging_factory.__wrapped__ = inner  # type: ignore[attr-defined]
    logging.setLogRecordFactory(tagging_factory)
    install_log_masking()
    assert logging.getLogRecordFactory() is tagging_factory
    logger.info("回访 %s", MOBILE)
    assert stream.getvalue() == "INFO hub.tests.masking 回访 138****1234\n"


def test_bad_format_args_do_not_break_logging(
    log_capture: tuple[logging.Logger, io.StringIO], capsys: pytest.CaptureFixture[str]
) -> None:
    logger, stream = log_capture
    install_log_masking()
    logger.info("号码 %d 联系 " + MOBILE, "not-a-number")
    logger.info("缺参数 %s %s", MOBILE)
    output = stream.getvalue()
    assert MOBILE not in output
    assert "号码 %d 联系 138****1234" in output
    assert "缺参数 %s %s" in output
    assert "Logging error" not in capsys.readouterr().err


def test_non_string_messages_are_masked(log_capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = log_capture
    install_log_masking()
    logger.info(ValueError(f"bad id {RESIDENT_ID}"))
    logger.info({"mobile": MOBILE})
    output = stream.getvalue()
    assert RESIDENT_ID not in output and MOBILE not in output
    assert "bad id 1101**********002X" in output
    assert "{'mobile': '138****1234'}" in output
