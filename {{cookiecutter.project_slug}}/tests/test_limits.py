"""What no client can make the service spend: a request body over MAX_BODY_SIZE is a 413 before
any of it is parsed, sent with a Content-Length or in chunks, in the app and served by uvicorn."""

import os
import select
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from httpx2 import AsyncClient

from {{ cookiecutter.package_name }}.settings import Settings

LIMIT = Settings().max_body_size
ITEM = b'{"title": "Tea"}'
JSON = {"content-type": "application/json"}
DETAIL = f"The request body is larger than the {LIMIT:,} bytes this service accepts"
PROBLEM = {"title": HTTPStatus(413).phrase, "status": 413, "detail": DETAIL}


def padded(size: int) -> bytes:
    """An item's JSON, `size` bytes long: spaces after it, which JSON allows."""
    return ITEM + b" " * (size - len(ITEM))


async def in_chunks(body: bytes, size: int = 65_536) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_a_body_of_exactly_the_limit_is_taken(client: AsyncClient) -> None:
    response = await client.post("/items", content=padded(LIMIT), headers=JSON)

    assert response.status_code == 201


@pytest.mark.parametrize("sent", ["with its length", "in chunks"])
async def test_a_body_over_the_limit_is_a_413_and_nothing_is_stored(
    client: AsyncClient, sent: str
) -> None:
    body = padded(LIMIT + 1)
    content = body if sent == "with its length" else in_chunks(body)

    response = await client.post("/items", content=content, headers=JSON)

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() | {"request_id": None} == PROBLEM | {"request_id": None}
    assert (await client.get("/items")).json()["items"] == []


@pytest.fixture
def served(own_settings: Settings, writer: Any, tmp_path: Path) -> Iterator[tuple[int, int]]:
    """The service served by uvicorn on a free port of loopback, on a database of the test's
    own: its port and its process id."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = os.environ | {"DATABASE_URL": own_settings.database_url, "TUNE_GC": "false"}
    command = [sys.executable, "-m", "uvicorn", "{{ cookiecutter.package_name }}.main:app"]
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [*command, "--port", str(port)], env=environment, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=1)
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "server.log").read_text()
                assert time.monotonic() < deadline, "the server did not answer in 30 s"
                time.sleep(0.05)
        yield port, server.pid
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def send_until_answered(port: int, size: int, *, chunked: bool) -> tuple[float, bytes]:
    """POST a body of `size` bytes as a hostile client would, as fast as the server reads it,
    until the server answers: how long the answer took, and the answer."""
    framing = b"transfer-encoding: chunked" if chunked else f"content-length: {size}".encode()
    piece = padded(65_536)
    answer = b""
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as connection:
        started = time.monotonic()
        connection.sendall(b"POST /items HTTP/1.1\r\nhost: test\r\n" + framing + b"\r\n\r\n")
        connection.setblocking(False)
        while b"\r\n\r\n" not in answer and time.monotonic() - started < 5:
            readable, writable, _ = select.select([connection], [connection], [], 1)
            if readable:
                received = connection.recv(65_536)
                if not received:
                    break
                answer += received
            elif writable and sent < size:
                chunk = piece[: size - sent]
                data = b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk
                try:
                    connection.setblocking(True)
                    connection.sendall(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the server answered and closed: read what it said
                finally:
                    connection.setblocking(False)
                sent += len(chunk)
        took = time.monotonic() - started
        connection.setblocking(True)
        connection.settimeout(5)
        while not answer.endswith(b"}") and (received := connection.recv(65_536)):
            answer += received
    return took, answer


def peak_memory(pid: int) -> int:
    """The most memory the process has held so far (Linux's VmHWM), in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(kib) * 1024


def test_a_64_mib_body_is_refused_at_once_and_never_held(served: tuple[int, int]) -> None:
    port, pid = served
    linux = Path(f"/proc/{pid}/status").exists()
    before = peak_memory(pid) if linux else 0

    for chunked in (False, True):
        took, answer = send_until_answered(port, 64 * 2**20, chunked=chunked)

        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413 "), (chunked, answer[:300])
        assert b"content-type: application/problem+json" in head
        assert DETAIL.encode() in body
        assert took < 1, (chunked, took)
    if linux:  # where the kernel says how much memory a process held at its peak
        assert peak_memory(pid) - before < 16 * 2**20
