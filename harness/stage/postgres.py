"""A real PostgreSQL server for the stage: initdb, pg_ctl, and the hard stops faults need.

PostgreSQL refuses to run as root, so when orderquake runs as root the server runs as an
unprivileged user (``postgres`` by default, ``ORDERQUAKE_PG_USER`` to choose another). The
first ``initdb`` of a machine is cached as a template under the tools folder; later stages copy
it, which takes a fraction of initdb's time. Durability is PostgreSQL's own (fsync on): every
committed row survives ``stop("immediate")`` and ``kill()``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import psycopg

from harness._exceptions import InfrastructureError, UsageError
from harness._paths import tools_dir
from harness.stage.process import SupervisedProcess, start_time

_INSTALL_HINT = ("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: run 'make setup' "
                 "(installs Debian's 'postgresql' package) or put their folder on PATH / in ORDERQUAKE_PG_BIN")


class StopMode(StrEnum):
    """pg_ctl's stop modes: wait for clients, roll back and checkpoint, or quit with recovery on start."""

    SMART = "smart"
    FAST = "fast"
    IMMEDIATE = "immediate"


# pg_ctl sends the postmaster these signals; sending them directly spares a pg_ctl process.
_STOP_SIGNALS = {StopMode.SMART: signal.SIGTERM, StopMode.FAST: signal.SIGINT, StopMode.IMMEDIATE: signal.SIGQUIT}


def pg_bin_dir() -> Path:
    """The folder holding initdb and pg_ctl: ORDERQUAKE_PG_BIN, PATH, or Debian's layout."""
    explicit = os.environ.get("ORDERQUAKE_PG_BIN")
    if explicit:
        if (Path(explicit) / "postgres").exists():
            return Path(explicit)
        raise InfrastructureError(f"ORDERQUAKE_PG_BIN={explicit} has no 'postgres' binary: {_INSTALL_HINT}")
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if debian:
        return debian[-1].parent
    raise InfrastructureError(_INSTALL_HINT)


def _run_as() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    name = os.environ.get("ORDERQUAKE_PG_USER", "postgres")
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise InfrastructureError(f"running as root, PostgreSQL needs an unprivileged user, but user {name!r} does "
                                  "not exist: run 'make setup' (the postgresql package creates it) or set "
                                  "ORDERQUAKE_PG_USER") from None


def data_home(preferred: Path) -> Path:
    """Where a cluster's files go: ``preferred``, unless the server user could lose its way there.

    Run as root, the server runs as an unprivileged user who must traverse every parent folder.
    Folders private to root (pytest's ``/tmp/pytest-of-root`` is re-chmodded to 0700 by every new
    pytest session) can cut a running server off its own files, so clusters then live under
    ``ORDERQUAKE_PG_HOME`` (default ``/var/tmp/orderquake-pg``), a folder only orderquake touches.
    """
    if os.geteuid() != 0:
        return preferred
    home = Path(os.environ.get("ORDERQUAKE_PG_HOME", "/var/tmp/orderquake-pg"))
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o711)
    _grant_traverse(home)
    return home / f"{os.getpid()}-{preferred.parent.name}-{time.time_ns()}"


def _chown_tree(path: Path, user: pwd.struct_passwd) -> None:
    for root, dirs, files in os.walk(path):
        os.chown(root, user.pw_uid, user.pw_gid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), user.pw_uid, user.pw_gid)


def _grant_traverse(path: Path) -> None:
    """Let the unprivileged server user reach ``path`` through root's private folders (e.g. /tmp/pytest-*)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)


def accepts_connections(url: str) -> bool:
    """Whether the server at ``url`` takes a connection now (the readiness probe of every stage)."""
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


@dataclass
class PostgresServer:
    """One PostgreSQL cluster in ``data_dir`` listening on 127.0.0.1:``port``."""

    data_dir: Path
    port: int
    log_path: Path
    _user: pwd.struct_passwd | None = field(default_factory=_run_as)
    _server: SupervisedProcess | None = None

    @property
    def url(self) -> str:
        """libpq URI of the server, direct (never through a Toxiproxy link)."""
        return self.database_url("postgres")

    def database_url(self, database: str, *, host: str = "127.0.0.1", port: int | None = None) -> str:
        return f"postgresql://postgres@{host}:{port or self.port}/{database}"

    def _cmd(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self._user is not None:
            kwargs = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        try:
            return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False,
                                  cwd="/", **kwargs)  # type: ignore[call-overload]
        except FileNotFoundError as exc:
            raise InfrastructureError(_INSTALL_HINT) from exc

    def init(self) -> None:
        """initdb into ``data_dir`` (a copy of the cached template when there is one)."""
        bin_dir = pg_bin_dir()
        version = self._cmd(str(bin_dir / "pg_ctl"), "--version").stdout.strip().split()[-1].split(".")[0]
        template = tools_dir() / "cache" / f"pg{version}-template"
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            _grant_traverse(self.data_dir.parent)
        if not (template / "PG_VERSION").exists():
            self._initdb(bin_dir, template)
        shutil.copytree(template, self.data_dir, symlinks=True)
        if self._user is not None:
            _chown_tree(self.data_dir, self._user)
        os.chmod(self.data_dir, 0o700)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.touch()
        if self._user is not None:
            os.chown(self.log_path, self._user.pw_uid, self._user.pw_gid)

    def _initdb(self, bin_dir: Path, template: Path) -> None:
        staging = template.with_name(f"{template.name}.{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if self._user is not None:
            _grant_traverse(staging.parent)
            _chown_tree(staging, self._user)
        result = self._cmd(str(bin_dir / "initdb"), "-D", str(staging), "-U", "postgres", "-A", "trust",
                           "-E", "UTF8", "--locale=C", "--no-instructions")
        if result.returncode != 0:
            raise InfrastructureError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")
        with (staging / "postgresql.conf").open("a") as conf:
            conf.write("\n# orderquake stage\nlisten_addresses = '127.0.0.1'\nmax_connections = 200\n"
                       "shared_buffers = 64MB\nfsync = on\nsynchronous_commit = on\nlog_min_messages = warning\n")
        try:
            staging.rename(template)
        except OSError:  # another stage cached it first
            shutil.rmtree(staging, ignore_errors=True)

    def _process(self) -> SupervisedProcess:
        if self._server is None:
            # TCP only: a Unix socket path inside a deep run directory can exceed the 107-byte limit.
            argv = [str(pg_bin_dir() / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                    "-c", "unix_socket_directories="]
            run_as = (self._user.pw_uid, self._user.pw_gid) if self._user is not None else None
            self._server = SupervisedProcess(name="postgres", argv=argv, log_path=self.log_path,
                                             probe=self._accepts_connections, run_as=run_as,
                                             cwd=self.data_dir, ready_deadline_s=30.0)
        return self._server

    def _accepts_connections(self) -> bool:
        return accepts_connections(self.url)

    def start(self, deadline_s: float = 30.0) -> None:
        """Start the postmaster as a child of this process; return once it accepts connections.

        The postmaster is our child (not daemonised by pg_ctl) so that after a SIGKILL it is
        reaped at once and a restart never trips over a zombie still named in postmaster.pid.
        """
        server = self._process()
        server.spawn()
        server.wait_ready(deadline_s)

    @property
    def pid(self) -> int | None:
        return self._server.pid if self._server is not None and self._server.running else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def stop(self, mode: StopMode | str = StopMode.FAST, deadline_s: float = 30.0) -> None:
        """Stop the server: ``immediate`` is a crash-like stop (recovery on start), ``fast`` is clean."""
        signal_ = _STOP_SIGNALS[StopMode(mode)]
        if self._server is not None:
            self._server.stop(grace_s=deadline_s, sig=signal_)

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend, as a crash of the machine would."""
        if self._server is not None:
            self._server.crash()

    def create_database(self, name: str) -> str:
        """Create ``name`` if missing; return its direct URL."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.database_url(name)

    def run_sql(self, database: str, sql: str, *, what: str) -> None:
        """Run ``sql`` (several statements allowed) in ``database``, in one transaction."""
        try:
            with psycopg.connect(self.database_url(database), connect_timeout=5) as conn:
                conn.execute(sql.encode())
        except psycopg.Error as exc:
            raise UsageError(f"{what} failed in database {database!r}: {str(exc).strip()}; fix the SQL "
                             "(it runs after the target's setup commands, before its start)") from exc

    def pids(self) -> list[tuple[int, int | None]]:
        """The postmaster's pid and start time, for the stage's state file."""
        pid = self.pid
        return [(pid, start_time(pid))] if pid is not None else []
