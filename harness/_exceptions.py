"""The one exception tree of orderquake, split by who must act.

    OrderquakeError
    ├── UsageError            the user: a bad option, scenario or target file          (exit 2)
    │   └── ScenarioError     ... with the file, line and field at fault
    ├── InfrastructureError   the machine: a missing binary, a port, Toxiproxy down     (exit 4)
    │   └── ToxiproxyError    Toxiproxy's API refused or could not be reached
    ├── SutError              the system under test misbehaved at start (never healthy) (exit 4)
    ├── HarnessBug            orderquake itself is wrong                                (exit 4)
    └── Interrupted           SIGINT or SIGTERM; faults healed, processes stopped       (exit 130)

Errors from a lower layer (httpx, psycopg, subprocess) are translated once, at the edge,
with ``raise ... from exc``. Every message says what was expected, what was found and what
to do.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of ``orderquake run`` and ``orderquake suite`` (DESIGN.md section 6)."""

    PASS = 0
    VIOLATION = 1
    USAGE = 2
    SLO_BREACH = 3
    INFRASTRUCTURE = 4
    INTERRUPTED = 130


class OrderquakeError(Exception):
    """Root of every error orderquake raises on purpose."""

    exit_code: ExitCode = ExitCode.INFRASTRUCTURE


class UsageError(OrderquakeError):
    """The user must act: a bad option, scenario file or target file."""

    exit_code = ExitCode.USAGE


class ScenarioError(UsageError):
    """A scenario or target file is invalid; the message names the file, line and field."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.file = file
        self.line = line
        self.field = field
        where = ""
        if file is not None:
            where = file if line is None else f"{file}:{line}"
        if field is not None:
            where = f"{where}: {field}" if where else field
        super().__init__(f"{where}: {message}" if where else message)


class InfrastructureError(OrderquakeError):
    """The machine must act: a binary is missing, a port is taken, a server will not start."""

    exit_code = ExitCode.INFRASTRUCTURE


class ToxiproxyError(InfrastructureError):
    """Toxiproxy's API refused a request or could not be reached."""


class SutError(OrderquakeError):
    """The system under test did not start or did not become healthy."""

    exit_code = ExitCode.INFRASTRUCTURE


class HarnessBug(OrderquakeError):
    """orderquake reached a state it should never reach."""

    exit_code = ExitCode.INFRASTRUCTURE


class Interrupted(OrderquakeError):
    """The run was interrupted by SIGINT or SIGTERM."""

    exit_code = ExitCode.INTERRUPTED
