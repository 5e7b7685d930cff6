"""Compressed binlog events: rowcast cannot read them and must not skip them.

MariaDB 10.2+ with log_bin_compress = ON writes QUERY_COMPRESSED_EVENT and
the *_ROWS_COMPRESSED_EVENT types for events longer than
log_bin_compress_min_len. MySQL 8.0.20+ with binlog_transaction_compression
= ON wraps whole transactions in a TRANSACTION_PAYLOAD_EVENT. The type codes
are those of MariaDB's sql/log_event.h and MySQL's binlog_event.h.
mysql-replication 1.0.17 has no decoder for any of them: it hands them out
as NotImplementedEvent, or drops them unseen unless that class is requested.
"""

from __future__ import annotations

from cdc.refused import BinlogRefused

_MARIADB_COMPRESSED = {
    165: "QUERY_COMPRESSED_EVENT",
    166: "WRITE_ROWS_COMPRESSED_EVENT_V1",
    167: "UPDATE_ROWS_COMPRESSED_EVENT_V1",
    168: "DELETE_ROWS_COMPRESSED_EVENT_V1",
    169: "WRITE_ROWS_COMPRESSED_EVENT",
    170: "UPDATE_ROWS_COMPRESSED_EVENT",
    171: "DELETE_ROWS_COMPRESSED_EVENT",
}
_MYSQL_TRANSACTION_PAYLOAD = 40


def check_not_compressed(event_type: int, position: str) -> None:
    """Raise BinlogRefused when event_type is a compressed event; position names where it ends."""
    if event_type in _MARIADB_COMPRESSED:
        raise BinlogRefused(
            f"The binlog has a compressed event ({_MARIADB_COMPRESSED[event_type]}) ending at "
            f"{position}, written because log_bin_compress = ON. rowcast cannot decode "
            "compressed events and stops rather than skip the changes in them. Fix: run "
            "SET GLOBAL log_bin_compress = OFF; and set `log_bin_compress = OFF` under "
            "[mysqld] in the server's option file, then restart rowcast. It resumes from the "
            "end of the binlog, so the changes in compressed events are not streamed."
        )
    if event_type == _MYSQL_TRANSACTION_PAYLOAD:
        raise BinlogRefused(
            f"The binlog has a compressed transaction (TRANSACTION_PAYLOAD_EVENT) ending at "
            f"{position}, written because binlog_transaction_compression = ON. rowcast cannot "
            "decode compressed transactions and stops rather than skip their changes. Fix: "
            "run SET GLOBAL binlog_transaction_compression = OFF; and set "
            "`binlog_transaction_compression = OFF` under [mysqld] in the server's option "
            "file, then restart rowcast. It resumes from the end of the binlog, so the "
            "changes in compressed transactions are not streamed."
        )
