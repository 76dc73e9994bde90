"""Cursors for keyset pagination: opaque to clients, checked when they come back (a version
and a checksum: a damaged cursor is a 422, never another page). The README's API section says
why there is no OFFSET."""

import base64
import binascii
import hashlib
import struct

_PAYLOAD = struct.Struct(">BQ")  # the version of the format, and the id the page comes after
_VERSION = 1
_CHECKSUM_SIZE = 6
# What every cursor looks like: 15 bytes, in URL-safe base64.
PATTERN = r"^[A-Za-z0-9_-]{20}$"


def encode(after: int) -> str:
    """The cursor of the page that starts after the item `after`."""
    payload = _PAYLOAD.pack(_VERSION, after)
    return base64.urlsafe_b64encode(payload + _checksum(payload)).decode()


def decode(cursor: str) -> int:
    """The id that `cursor`'s page starts after; ValueError, saying why, for any cursor that
    `encode` did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii"))
    except (UnicodeEncodeError, binascii.Error):
        raise ValueError("not a cursor: use next_cursor as this service gave it") from None
    payload, checksum = raw[:-_CHECKSUM_SIZE], raw[-_CHECKSUM_SIZE:]
    valid = len(payload) == _PAYLOAD.size and checksum == _checksum(payload)
    if not valid:
        raise ValueError("a damaged cursor: use next_cursor exactly as this service gave it")
    version, after = _PAYLOAD.unpack(payload)
    if version != _VERSION:
        raise ValueError("a cursor from another version of the service: start from page one")
    return int(after)


def _checksum(payload: bytes) -> bytes:
    # No secret, and none needed: it catches a cursor truncated or mistyped, while anyone may
    # make a cursor for any id, which grants nothing: it only says where a page starts.
    return hashlib.blake2b(payload, digest_size=_CHECKSUM_SIZE, person=b"items-cursor").digest()
