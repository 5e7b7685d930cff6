"""Start a private MySQL or MariaDB server for the demo and the tests.

The server runs from the `mysqld` or `mariadbd` on PATH with the settings in
`mysql-conf/` and listens on 127.0.0.1 on its own port. It keeps its data under
a folder the caller owns, and root can log in only through its own socket.
"""

from __future__ import annotations

import functools
import getpass
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

from rowcast.parent_exit import signal_on_parent_exit
from rowcast.paths import MYSQL_CONF_FILE

logger = logging.getLogger(__name__)

SERVER_BINARIES = ("mariadbd", "mysqld")
# Debian and most distributions install the server outside a normal user's PATH.
EXTRA_SEARCH_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
# A Unix socket path longer than this does not fit in sockaddr_un on Linux.
MAX_SOCKET_PATH = 100


class PrivateServerError(RuntimeError):
    """The private server could not be installed, started or stopped."""


def find_server_binary() -> Path | None:
    """Return the first mariadbd or mysqld found on PATH or in the sbin folders."""
    search_path = os.pathsep.join([os.environ.get("PATH", ""), *EXTRA_SEARCH_DIRS])
    for name in SERVER_BINARIES:
        found = shutil.which(name, path=search_path)
        if found:
            return Path(found)
    return None


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PrivateServer:
    """One private server process and the folder that contains its data."""

    base_dir: Path
    port: int
    binary: Path
    extra_options: tuple[str, ...] = ()
    # Linux only: the kernel sends the server SIGTERM when the thread that
    # started it exits, so a killed demo leaves no orphaned server behind.
    stop_with_parent: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    socket_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.base_dir = self.base_dir.resolve()
        socket_path = self.base_dir / "mysqld.sock"
        if len(str(socket_path)) > MAX_SOCKET_PATH:
            socket_path = Path(tempfile.mkdtemp(prefix="rowcast-")) / "mysqld.sock"
        self.socket_path = socket_path

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def config_file(self) -> Path:
        return self.base_dir / "my.cnf"

    @property
    def error_log(self) -> Path:
        return self.base_dir / "error.log"

    @property
    def is_mariadb(self) -> bool:
        version = subprocess.run(
            [str(self.binary), "--version"], capture_output=True, text=True, check=False
        ).stdout
        return "mariadb" in version.lower()

    def root_connection(self, database: str | None = None) -> pymysql.Connection:
        """Open a connection as root through the private socket."""
        return pymysql.connect(
            unix_socket=str(self.socket_path),
            user="root",
            database=database,
            autocommit=True,
            charset="utf8mb4",
        )

    def install(self) -> None:
        """Write the config file and create the system tables, once per folder."""
        try:
            self.base_dir.mkdir(parents=True, exist_ok=True)
            self._write_config()
        except OSError as error:
            raise PrivateServerError(
                f"Cannot write the data folder {self.base_dir}: {error.strerror}. "
                "Choose a folder you can write with --data-dir."
            ) from None
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.is_mariadb:
            command = [
                _install_db_binary(self.binary),
                f"--defaults-file={self.config_file}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *_user_option(),
            ]
        else:
            command = [
                str(self.binary),
                f"--defaults-file={self.config_file}",
                "--initialize-insecure",
                *_user_option(),
            ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PrivateServerError(
                f"Creating the system tables in {self.data_dir} failed "
                f"(exit status {result.returncode}): {_tail(result.stderr + result.stdout)}"
            )

    def start(self) -> None:
        """Start the server and wait until root can log in."""
        fresh = not (self.data_dir.exists() and any(self.data_dir.iterdir()))
        self.install()
        self._refuse_running_server()
        log = self.error_log.open("ab")
        self.process = subprocess.Popen(
            [
                str(self.binary),
                f"--defaults-file={self.config_file}",
                *_user_option(),
                *self.extra_options,
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
            # The server gets SIGTERM when the process that started it exits (Linux only).
            preexec_fn=(functools.partial(signal_on_parent_exit, os.getpid())
                        if self.stop_with_parent else None),
        )
        log.close()
        self._wait_until_ready()
        if fresh:
            self._drop_remote_root()
        logger.info("private server started port=%s data_dir=%s", self.port, self.data_dir)

    def stop(self, kill: bool = False) -> None:
        """Stop the server: SIGTERM for a clean shutdown, SIGKILL with kill=True."""
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        logger.info("private server stopped port=%s", self.port)

    def load_sql(self, *paths: Path) -> None:
        """Run SQL script files as root, statement by statement."""
        connection = self.root_connection()
        try:
            for path in paths:
                run_script(connection, path.read_text(encoding="utf-8"))
        finally:
            connection.close()

    def _write_config(self) -> None:
        self.config_file.write_text(
            f"!include {MYSQL_CONF_FILE}\n"
            "\n"
            "# Private server: local to this folder, reachable only from this machine.\n"
            "[mysqld]\n"
            f"datadir = {self.data_dir}\n"
            f"socket = {self.socket_path}\n"
            f"pid_file = {self.base_dir / 'mysqld.pid'}\n"
            f"log_error = {self.error_log}\n"
            # Servers clean up temporary files they find in tmpdir at start-up,
            # so each private server gets its own.
            f"tmpdir = {self.base_dir}\n"
            f"port = {self.port}\n"
            "bind_address = 127.0.0.1\n"
            "skip_name_resolve\n"
            "loose-mysqlx = OFF\n"
            "innodb_buffer_pool_size = 64M\n"
            "innodb_log_file_size = 48M\n",
            encoding="utf-8",
        )

    def _refuse_running_server(self) -> None:
        pid_file = self.base_dir / "mysqld.pid"
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            pass
        raise PrivateServerError(
            f"A server with pid {pid} already uses {self.data_dir}, probably started by "
            "another rowcast demo. Stop that demo with Ctrl-C, or choose another folder "
            f"with --data-dir. If no demo runs any more, stop the server with kill {pid}."
        )

    def _drop_remote_root(self) -> None:
        # mariadb-install-db also creates password-less root accounts for
        # 127.0.0.1, ::1 and the host name. Root stays on the private socket only.
        connection = self.root_connection()
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT User, Host FROM mysql.user WHERE User = 'root' AND Host <> 'localhost'"
                )
                for user, host in cursor.fetchall():
                    cursor.execute("DROP USER %s@%s", (user, host))
        finally:
            connection.close()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise PrivateServerError(
                    f"The server {self.binary} exited with status {self.process.returncode} "
                    f"during start-up. Its error log {self.error_log} ends with: "
                    f"{_tail(self.error_log.read_text(errors='replace'))}"
                )
            try:
                self.root_connection().close()
                return
            except pymysql.err.OperationalError as error:
                last_error = error
                time.sleep(0.2)
        self.stop(kill=True)
        raise PrivateServerError(
            f"The server on port {self.port} did not accept connections within "
            f"{START_TIMEOUT_S:.0f} s (last error: {last_error}). See {self.error_log}."
        )


def run_script(connection: pymysql.Connection, script: str) -> None:
    """Run each statement of an SQL script that ends statements with ';' at line end."""
    with connection.cursor() as cursor:
        for statement in split_statements(script):
            cursor.execute(statement)


def split_statements(script: str) -> list[str]:
    """Split a script into statements; comment lines are dropped, no DELIMITER support."""
    statements: list[str] = []
    current: list[str] = []
    for line in script.splitlines():
        if line.strip().startswith("--") or not line.strip():
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statements.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if current:
        statements.append("\n".join(current))
    return statements


def _install_db_binary(server_binary: Path) -> str:
    for name in ("mariadb-install-db", "mysql_install_db"):
        for folder in (server_binary.parent, server_binary.parent.parent / "bin"):
            candidate = folder / name
            if candidate.exists():
                return str(candidate)
        found = shutil.which(name)
        if found:
            return found
    raise PrivateServerError(
        f"mariadb-install-db was not found next to {server_binary} or on PATH. "
        "Install the MariaDB server package (Debian: apt-get install mariadb-server)."
    )


def _user_option() -> list[str]:
    # mysqld rejects running as root unless --user=root is given explicitly.
    if os.geteuid() == 0:
        return ["--user=root"]
    return [f"--user={getpass.getuser()}"]


def _tail(text: str, lines: int = 8) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])
