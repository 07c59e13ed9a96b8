"""Encoding of a raw export, decided from its bytes.

A file is decoded once with ``surrogateescape``: bytes that are invalid in the chosen
encoding become lone surrogates (U+DC80..U+DCFF), so the parsers can split records on
the decoded text and quarantine exactly the records that hold such bytes
(``encoding_error``) while the rest of the file is read normally. The raw bytes of a
record come back with :func:`raw_bytes`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

UTF8 = "utf-8"
UTF8_BOM = "utf-8-sig"
GB18030 = "gb18030"

_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_SURROGATE = re.compile("[\udc80-\udcff]")
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 13)) + b"\x7f"


@dataclass(frozen=True)
class Decoded:
    """A decoded file: ``text`` (BOMs removed, bad bytes as surrogates), the encoding
    name recorded in bronze (``utf-8``, ``utf-8-sig``, ``gb18030``) and the codec."""
    text: str
    encoding: str
    codec: str


class BinaryFile(ValueError):
    """The bytes are not text in any supported encoding."""


def control_share(data: bytes) -> float:
    """Share of NUL and other control bytes (tab, CR, LF excluded) in ``data``."""
    if not data:
        return 0.0
    return sum(data.count(bytes([b])) for b in _CONTROL) / len(data)


def detect_encoding(data: bytes, utf8_min_share: float = 0.5,
                    binary_max_control_share: float = 0.1) -> tuple[str, str]:
    """``(encoding label, codec)`` of a raw export.

    A UTF-8 BOM decides at once; otherwise lines holding non-ASCII bytes vote: the file
    is UTF-8 when at least ``utf8_min_share`` of them are valid UTF-8 (GB18030 text is
    almost never valid UTF-8), else GB18030. Raises :class:`BinaryFile` for UTF-16 or
    control-byte-heavy content, which no supported layout produces.
    """
    if data.startswith(_BOM):
        return UTF8_BOM, UTF8
    head = data[:65536]
    if head.startswith(_UTF16_BOMS):
        raise BinaryFile("starts with a UTF-16 byte-order mark; expected UTF-8 or GB18030 text")
    share = control_share(head)
    if share > binary_max_control_share:
        raise BinaryFile(f"{share:.0%} of the first {len(head)} bytes are control bytes "
                         f"(NUL etc.); expected UTF-8 or GB18030 text")
    try:
        # every line valid (a newline byte never splits a UTF-8 sequence): the vote is won
        data.decode(UTF8)
        return UTF8, UTF8
    except UnicodeDecodeError:
        pass
    ok = bad = 0
    for line in data.split(b"\n"):
        if line.isascii():
            continue
        try:
            line.decode(UTF8)
            ok += 1
        except UnicodeDecodeError:
            bad += 1
    if ok + bad == 0 or ok / (ok + bad) >= utf8_min_share:
        return UTF8, UTF8
    return GB18030, GB18030


def decode(data: bytes, utf8_min_share: float = 0.5,
           binary_max_control_share: float = 0.1) -> Decoded:
    """Decode a whole file; invalid bytes survive as surrogates (see module doc)."""
    label, codec = detect_encoding(data, utf8_min_share, binary_max_control_share)
    body = data[len(_BOM):] if label == UTF8_BOM else data
    text = body.decode(codec, errors="surrogateescape")
    # A BOM inside the file (concatenated exports) is noise, never content.
    text = text.replace("\ufeff", "")
    return Decoded(text, label, codec)


def has_bad_bytes(text: str) -> bool:
    """Whether decoded text holds bytes that were invalid in the file's encoding."""
    return _SURROGATE.search(text) is not None


def raw_bytes(text: str, codec: str) -> bytes:
    """The original bytes of a decoded piece of text."""
    return text.encode(codec, errors="surrogateescape")


def printable(text: str, codec: str) -> str:
    """Text safe to store as a Delta string: invalid bytes shown as ``\\xNN``."""
    if not has_bad_bytes(text):
        return text
    return raw_bytes(text, codec).decode(codec, errors="backslashreplace")
