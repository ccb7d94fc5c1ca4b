"""Decode response bodies: the declared charset first; detection only when none is declared.

Chinese government systems still answer in GBK/GB18030. GB18030 is a superset of GBK and
GB2312, so both labels decode with it (a GBK declaration with GB18030-only bytes still works).
"""

from __future__ import annotations

import codecs
from email.message import Message

import charset_normalizer

from hub.adapters.errors import DecodeFailed

SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030"}


def declared_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    message = Message()
    message["Content-Type"] = content_type
    charset = message.get_param("charset")
    return str(charset).strip().lower() if isinstance(charset, str) and charset else None


def decode_body(body: bytes, content_type: str | None) -> str:
    """Text of body, or DecodeFailed naming the charset and the bad byte offset."""
    charset = declared_charset(content_type)
    if charset is None:
        if body.startswith(codecs.BOM_UTF8):
            charset = "utf-8-sig"
        else:
            try:
                return body.decode("utf-8")
            except UnicodeDecodeError:
                best = charset_normalizer.from_bytes(body).best()
                charset = best.encoding if best is not None else "utf-8"
    codec = SUPERSETS.get(charset, charset)
    try:
        return body.decode(codec)
    except LookupError as exc:
        raise DecodeFailed(f"未知字符集 (unknown charset): {charset}") from exc
    except UnicodeDecodeError as exc:
        raise DecodeFailed(
            f"响应内容不是有效的 {charset} 编码，位置 {exc.start} "
            f"(body is not valid {charset} at byte {exc.start})"
        ) from exc
