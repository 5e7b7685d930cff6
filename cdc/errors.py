"""Exception types for conditions that callers of cdc handle."""


class CdcError(Exception):
    """Base class of every error raised by cdc."""


class ConfigurationError(CdcError):
    """A setting or URL is invalid, or the server cannot be reached with it."""


class ServerMisconfigured(CdcError):
    """The source server lacks a setting or privilege the reader needs.

    `problems` lists one message per wrong setting, each with its fix.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"The server is not set up for change data capture:\n{lines}")


class InvalidEventId(CdcError):
    """A client sent an event id that rowcast did not issue."""


class PositionUnavailable(CdcError):
    """The binlog position to resume from no longer exists on the server."""


class SnapshotFailed(CdcError):
    """A snapshot could not be taken consistently with the stream."""


class TableNotFound(CdcError):
    """A watched table name does not exist on the server."""
