"""Decode the bytes of a text column in the column's character set, as the server does.

Row images carry text in the column's own character set. This module finds that
character set from the collation id of the table map and decodes with the
matching Python codec. A character set without an exact codec has no decoder,
so the caller reports it instead of guessing.
"""

from __future__ import annotations

from collections.abc import Callable

Decoder = Callable[[bytes], str]

# MariaDB 10.10 and later number their UCA 14.0.0 collations from 2048 in blocks
# of 256, one block per character set in this order (MariaDB 10.11:
# information_schema.COLLATION_CHARACTER_SET_APPLICABILITY). mysql-replication
# 1.0.17 does not know these ids, and tests/cdc/test_types.py checks every id
# the server lists.
_MARIADB_UCA1400_FIRST_ID = 2048
_MARIADB_UCA1400_CHARSETS = ("utf8mb3", "utf8mb4", "ucs2", "utf16", "utf32")

# MySQL names of character sets whose Python codec decodes every byte string
# the server stores the same way. MySQL stores ucs2, utf16 and utf32 big-endian.
# Not listed, so rejected: armscii8, dec8, hp8, keybcs2, swe7 and geostd8, which
# Python has no codec for, and eucjpms, whose Microsoft variant of EUC-JP differs
# from Python's euc_jp.
_CODECS = {
    "ascii": "ascii",
    "big5": "big5",
    "cp1250": "cp1250",
    "cp1251": "cp1251",
    "cp1256": "cp1256",
    "cp1257": "cp1257",
    "cp850": "cp850",
    "cp852": "cp852",
    "cp866": "cp866",
    "cp932": "cp932",
    "euckr": "euc_kr",
    "gb18030": "gb18030",
    "gb2312": "gb2312",
    "gbk": "gbk",
    "greek": "iso8859_7",
    "hebrew": "iso8859_8",
    "koi8r": "koi8_r",
    "koi8u": "koi8_u",
    "latin2": "iso8859_2",
    "latin5": "iso8859_9",
    "latin7": "iso8859_13",
    "macce": "mac_latin2",
    "macroman": "mac_roman",
    "sjis": "shift_jis",
    "tis620": "tis_620",
    "ucs2": "utf_16_be",
    "ujis": "euc_jp",
    "utf16": "utf_16_be",
    "utf16le": "utf_16_le",
    "utf32": "utf_32_be",
    "utf8mb3": "utf_8",
    "utf8mb4": "utf_8",
}


def charset_name(collation_name: str | None, collation_id: int | None) -> str | None:
    """Return the character set of a collation, or None when neither argument identifies one.

    `collation_name` is the name mysql-replication found for the id, such as
    `latin1_swedish_ci` or `binary`; every collation name starts with its
    character set and an underscore. `collation_id` is the raw id from the
    table map, used for ids the library does not know.
    """
    if collation_name == "binary":
        return "binary"
    if collation_name:
        return collation_name.split("_", 1)[0]
    if collation_id is None or collation_id < _MARIADB_UCA1400_FIRST_ID:
        return None
    block = (collation_id - _MARIADB_UCA1400_FIRST_ID) // 256
    if block < len(_MARIADB_UCA1400_CHARSETS):
        return _MARIADB_UCA1400_CHARSETS[block]
    return None


def text_decoder(charset: str) -> Decoder | None:
    """Return a strict decoder for a MySQL character set, or None when none is exact."""
    if charset == "latin1":
        return _decode_mysql_latin1
    codec = _CODECS.get(charset)
    if codec is None:
        return None

    def decode(raw: bytes) -> str:
        return raw.decode(codec)

    return decode


def _mysql_latin1_table() -> dict[int, str]:
    # MySQL's latin1 is Windows cp1252, except that the five bytes cp1252 leaves
    # undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) stand for the C1 control
    # characters of the same number, as in ISO 8859-1. The server converts them
    # so in SELECT results. Decoding as ISO 8859-1, which maps every byte, and
    # remapping 0x80 to 0x9F gives exactly that.
    table: dict[int, str] = {}
    for byte in range(0x80, 0xA0):
        try:
            table[byte] = bytes([byte]).decode("cp1252")
        except UnicodeDecodeError:
            continue
    return table


_MYSQL_LATIN1 = _mysql_latin1_table()


def _decode_mysql_latin1(raw: bytes) -> str:
    return raw.decode("latin_1").translate(_MYSQL_LATIN1)
