"""The error that stops the reader for good: the binlog contains changes it must not skip."""

from __future__ import annotations

from cdc.errors import CdcError


class BinlogRefused(CdcError):
    """The binlog contains row changes the reader cannot stream faithfully.

    Skipping them would lose changes, and reading them again gives the same
    result, so the reader stops instead of reconnecting. The message names the
    table or event, the server setting that caused it, and the fix.
    """
