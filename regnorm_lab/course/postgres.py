"""A throwaway PostgreSQL server on loopback, for trying (and testing) the gradebook on a real server.

``with temporary_postgres() as url:`` creates a database cluster in a temporary
folder with Debian's PostgreSQL binaries (``/usr/lib/postgresql/<version>/bin``;
``make system-deps`` installs them), starts it on 127.0.0.1 on a free port with
its unix socket inside that folder, creates one database and yields its URL for
nbgrader's ``CourseDirectory.db_url``. On exit the server is stopped and the
folder removed. PostgreSQL refuses to run as root, so as root the cluster
belongs to the ``postgres`` user (``runuser``). Only for local use: the server
trusts every local connection.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
from typing import Iterator

__all__ = ["find_bindir", "temporary_postgres"]


def find_bindir() -> pathlib.Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb`` (or ``$PG_BINDIR``).

    Shape:
        () -> a folder path.
    """
    env = os.environ.get("PG_BINDIR")
    candidates = [env] if env else sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0, reverse=True)
    for c in candidates:
        if c and (pathlib.Path(c) / "initdb").exists():
            return pathlib.Path(c)
    raise RuntimeError("PostgreSQL's initdb not found: install Debian's postgresql (make system-deps) or set PG_BINDIR")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def temporary_postgres(dbname: str = "gradebook") -> Iterator[str]:
    """Start a private PostgreSQL server; yield ``postgresql+psycopg2://postgres@127.0.0.1:<port>/<dbname>``.

    Shape:
        A database name -> a SQLAlchemy URL string (valid inside the ``with`` block).
    """
    bindir = find_bindir()
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="regnorm-pg-"))
    data, sock, log = tmp / "data", tmp / "sock", tmp / "server.log"
    sock.mkdir()
    if as_root:
        shutil.chown(tmp, "postgres")
        shutil.chown(sock, "postgres")
    port = _free_port()

    def run(*cmd: str) -> None:
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, text=True, cwd=tmp)

    started = False
    try:
        # --no-sync: a throwaway cluster needs no fsync (much faster on a busy disk)
        run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        options = f"-h 127.0.0.1 -p {port} -k {sock} -c fsync=off -c synchronous_commit=off -c max_connections=200"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "60", "start")
        started = True
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", dbname)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/{dbname}"
    except subprocess.CalledProcessError as err:
        raise RuntimeError(f"PostgreSQL: {' '.join(err.cmd)} failed:\n{err.stderr}\n{log.read_text() if log.exists() else ''}") from err
    finally:
        if started:
            subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True, cwd=tmp)
        shutil.rmtree(tmp, ignore_errors=True)
