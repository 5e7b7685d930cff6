"""The `rowcast` command line: demo, serve, scheduler, check and tail.

Every option can also be set by an environment variable named ROWCAST_ and the
option in capitals, for example ROWCAST_HTTP_PORT=8080 for --http-port.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from cdc.reader import DEFAULT_SERVER_ID
from rowcast.tail_settings import DEFAULT_URL as DEFAULT_TAIL_URL

DEFAULT_TABLES = "robots.task"
DEFAULT_DATA_DIR = Path(".rowcast") / "demo"
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# Worker processes of `rowcast serve --workers N` name themselves, as worker-0 and so on.
WORKER_LOG_FORMAT = "%(asctime)s %(levelname)-7s %(processName)s %(name)s: %(message)s"


def _env(option: str, default: object) -> object:
    return os.environ.get("ROWCAST_" + option.upper().replace("-", "_"), default)


def _add(parser: argparse.ArgumentParser, option: str, default: object, help_text: str,
         secret: bool = False, **kwargs: object) -> None:
    variable = "ROWCAST_" + option.upper().replace("-", "_")
    # A secret's value, which may come from the environment, never shows in --help.
    shown = "" if secret else ", default: %(default)s"
    parser.add_argument(
        f"--{option}", default=_env(option, default),
        help=f"{help_text} (env {variable}{shown})", **kwargs,  # type: ignore[arg-type]
    )


def _add_web(parser: argparse.ArgumentParser) -> None:
    _add(parser, "token", None, "require this token from clients: a bearer header, or "
         "?token= on /events and /ws; none by default", secret=True, metavar="TOKEN")
    _add(parser, "allowed-origins", "", "comma-separated origins whose pages may open the "
         "WebSocket; empty allows only the app's own origin", type=_names)
    _add(parser, "cors-origins", "", "comma-separated origins allowed to call the API and "
         "SSE from other sites; empty turns CORS off", type=_names)
    _add(parser, "max-streams", 10_000, "open SSE and WebSocket streams at most", type=_count)
    _add(parser, "ready-max-lag", 10.0, "seconds without word from the reader after which "
         "/readyz reports not ready", type=float)


def _add_http(parser: argparse.ArgumentParser) -> None:
    _add(parser, "http-host", "127.0.0.1",
         "address the web server listens on; 0.0.0.0 exposes it to the network")
    _add(parser, "http-port", 8000, "TCP port of the web server", type=_port)


def _add_reader(parser: argparse.ArgumentParser) -> None:
    _add(parser, "tables", DEFAULT_TABLES,
         "watched tables, comma-separated db.table or db.* patterns")
    _add_exclude_tables(parser)
    _add_allow_partial_images(parser)
    _add(parser, "exclude-columns", "", "columns never sent in any change event or snapshot, "
         "comma-separated db.table.column; none by default")
    _add(parser, "server-id", DEFAULT_SERVER_ID,
         "replica server id the reader uses; catch-up readers use the next 4 ids, and all "
         "must be unique among the server's replicas", type=int)
    _add(parser, "buffer-events", 10_000,
         "recent change events kept for resuming clients and snapshots", type=_count)
    _add(parser, "buffer-mb", 64,
         "memory for those events, in MiB; the oldest are dropped first", type=_count)
    _add(parser, "max-pending", 10_000,
         "change events a client may fall behind before it is disconnected", type=_count)


def _add_exclude_tables(parser: argparse.ArgumentParser) -> None:
    _add(parser, "exclude-tables", "", "tables never watched even when --tables matches them, "
         "comma-separated db.table or db.* patterns; none by default")


def _add_allow_partial_images(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-partial-images", action="store_true",
        default=str(_env("allow-partial-images", "")).lower() in ("1", "true", "yes"),
        help="accept binlog_row_image MINIMAL or NOBLOB: change events leave out the columns "
             "the server did not log and list them in `missing` (env ROWCAST_ALLOW_PARTIAL_IMAGES)",
    )


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


class _Repeated(argparse.Action):
    """Collect the values of a repeatable option, replacing the environment's default."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        current = getattr(namespace, self.dest)
        collected = [] if current is self.default or current is None else list(current)
        collected.extend(values if isinstance(values, list) else [values])
        setattr(namespace, self.dest, collected)


def _count(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: use 1 or more")
    return value


def _port(text: str) -> int:
    value = _whole_number(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: use a number from 0 to 65535")
    return value


def _whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}: use a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}: use 0 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with one sub-command per job."""
    parser = argparse.ArgumentParser(
        prog="rowcast",
        description="Stream MySQL and MariaDB row changes from the binlog to browsers and terminals.",
    )
    parser.add_argument("--log-level", default=_env("log-level", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="log level (env ROWCAST_LOG_LEVEL, default: %(default)s)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="run the whole demo: database, scheduler, reader and web page")
    _add_http(demo)
    _add_web(demo)
    _add(demo, "mysql-url", None,
         "use this server instead of starting a private one; the account needs the "
         "reader's and the scheduler's privileges")
    _add(demo, "mysql-port", 0, "TCP port of the private server; 0 picks a free one",
         type=_port)
    _add(demo, "data-dir", str(DEFAULT_DATA_DIR), "folder of the private server's data")
    demo.add_argument("--stop-with-parent", action="store_true",
                      help="stop as on SIGTERM when the process that started rowcast exits, "
                           "even if it was killed (Linux); `make demo` passes it")
    _add_reader(demo)

    serve = commands.add_parser("serve", help="stream the binlog of an existing server over HTTP")
    _add(serve, "mysql-url", None, "the server to read, as mysql://USER:PASSWORD@HOST:PORT/DB")
    _add_http(serve)
    _add(serve, "workers", 1, "worker processes that share the HTTP port, each with its own "
         "binlog reader; worker i (from 0) uses the replica server ids --server-id + 5*i "
         "to --server-id + 5*i + 4", type=_count)
    _add_web(serve)
    _add_reader(serve)

    scheduler = commands.add_parser("scheduler", help="move task statuses on a schedule")
    _add(scheduler, "mysql-url", None, "the server that holds robots.task")
    scheduler.add_argument("--demo", action="store_true",
                           default=str(_env("demo", "")).lower() in ("1", "true", "yes"),
                           help="also issue new tasks and delete old finished ones "
                                "(env ROWCAST_DEMO)")
    _add(scheduler, "tick", 1.0, "seconds between two passes over the tasks", type=float)

    check = commands.add_parser("check", help="check the server's binlog settings and privileges")
    _add(check, "mysql-url", None, "the server to check, as mysql://USER:PASSWORD@HOST:PORT/DB")
    _add(check, "tables", DEFAULT_TABLES, "watched tables, comma-separated db.table or db.*")
    _add_exclude_tables(check)
    _add_allow_partial_images(check)
    _add(check, "server-id", DEFAULT_SERVER_ID, "replica server id the reader will use", type=int)

    tail = commands.add_parser("tail", help="print each change a running rowcast server streams")
    tail.add_argument("url", nargs="?", default=_env("tail-url", DEFAULT_TAIL_URL), metavar="URL",
                      help="the rowcast web server (env ROWCAST_TAIL_URL, default: %(default)s)")
    _add(tail, "table", None, "only changes of this db.table or db.*; repeat the option or "
         "separate names with commas", action=_Repeated, type=_names, metavar="DB.TABLE")
    _add(tail, "op", None, "only these operations: insert, update or delete; repeat the option "
         "or separate them with commas", action=_Repeated, type=_names)
    _add(tail, "since", None, "start right after this event id, replaying the changes since",
         metavar="ID")
    _add(tail, "token", None, "the server's access token, sent as a bearer header",
         secret=True, metavar="TOKEN")
    tail.add_argument("--json", action="store_true",
                      default=str(_env("json", "")).lower() in ("1", "true", "yes"),
                      help="print each change event as one JSON line (env ROWCAST_JSON)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=arguments.log_level,
        format=LOG_FORMAT,
    )
    from rowcast import commands, tail

    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "demo": commands.run_demo,
        "serve": commands.run_serve,
        "scheduler": commands.run_scheduler,
        "check": commands.run_check,
        "tail": tail.run_tail,
    }
    if arguments.command in ("serve", "scheduler", "check") and not arguments.mysql_url:
        parser.error(f"{arguments.command} needs --mysql-url (or ROWCAST_MYSQL_URL), "
                     "for example mysql://rowcast_reader:PASSWORD@127.0.0.1:3306/robots")
    try:
        return handlers[arguments.command](arguments)
    except KeyboardInterrupt:
        print("rowcast: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
