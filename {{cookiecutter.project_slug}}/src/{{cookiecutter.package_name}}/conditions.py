"""Conditional requests (RFC 9110, section 13) on an item, whose ETag is its version. A client
that writes back what it read names the version it read in If-Match: if another write came
first, it gets a 412 instead of undoing that write unseen. A client that holds an item names its
version in If-None-Match, and gets a 304 with no body if the item has not changed."""

import re
from typing import Any

from fastapi import HTTPException, Request, status

from .errors import error_responses

# Entity tags, each a quoted string, W/ before a weak one, separated by commas (an empty
# element is skipped, as RFC 9110 5.6.1.2 says); or "*", any version. Each space can belong to
# one place only, so that no header makes the match backtrack.
_TAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
_TAGS = re.compile(rf"[ \t]*(?:\*[ \t]*|(?:{_TAG}[ \t]*)?(?:,[ \t]*(?:{_TAG}[ \t]*)?)*)")
# A tag this service makes: a strong one, a version's digits. The versions are 32-bit integers.
_OURS = re.compile(r'"([1-9][0-9]{0,9})"')
MAX_VERSION = 2**31 - 1


def etag(version: int) -> str:
    return f'"{version}"'


def if_match(request: Request) -> list[int] | None:
    """The versions that an If-Match header lets a write change: None if any (no header, or
    "*"); none at all if it names only weak tags, or tags this service never made. With
    REQUIRE_IF_MATCH, a write without the header is a 428."""
    tags = _tags(request, "If-Match")
    if tags is None:
        if request.app.state.require_if_match and "if-match" not in request.headers:
            raise HTTPException(
                status.HTTP_428_PRECONDITION_REQUIRED,
                "This service changes an item only if the request says which version it read:"
                " send its ETag in If-Match",
            )
        return None
    # Strong comparison: a weak tag never matches (RFC 9110, 13.1.1). Each version once: the
    # header's size bounds the list, and so the statement's parameters.
    versions = {int(match[1]) for tag in tags if (match := _OURS.fullmatch(tag))}
    return sorted(version for version in versions if version <= MAX_VERSION)


def none_match(request: Request, tag: str) -> bool:
    """Whether an If-None-Match header names the item's ETag `tag`, weak or strong, or is "*":
    then the client's copy is current, and a GET answers 304."""
    if "if-none-match" not in request.headers:
        return False
    tags = _tags(request, "If-None-Match")
    return tags is None or tag in {sent.removeprefix("W/") for sent in tags}


def precondition_failed(what: str, version: int) -> HTTPException:
    """A 412: `what` ("Item 3") is not at a version that If-Match named. Its current ETag comes
    with it."""
    return HTTPException(
        status.HTTP_412_PRECONDITION_FAILED,
        f"{what} has changed: it is at version {version}, not one that If-Match named",
        headers={"ETag": etag(version)},
    )


def _tags(request: Request, name: str) -> list[str] | None:
    """The entity tags of the header `name`, every line of it; None if it is absent or "*"."""
    lines = request.headers.getlist(name)
    if not lines:
        return None
    value = ", ".join(lines)
    if not _TAGS.fullmatch(value):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f'{name} must be "*" or entity tags, each in double quotes: "3", W/"3"',
        )
    return None if value.strip(" \t") == "*" else re.findall(_TAG, value)


_ETAG_HEADER = {
    "ETag": {
        "description": "The item's version, to send in If-Match or If-None-Match",
        "schema": {"type": "string", "example": '"3"'},
    }
}
# The OpenAPI documentation of the conditions, their answers, and the ETag that answers carry.
ETAG: dict[int | str, dict[str, Any]] = {200: {"headers": _ETAG_HEADER}}
CREATED: dict[int | str, dict[str, Any]] = {201: {"headers": _ETAG_HEADER}}
IF_NONE_MATCH: dict[int | str, dict[str, Any]] = {
    **ETAG,
    304: {"description": "Not Modified: the item is at a version that If-None-Match named"},
}
IF_MATCH: dict[int | str, dict[str, Any]] = error_responses(412, 428)
# As the OpenAPI schema states it: ASCII only (the service also takes obs-text, as RFC 9110 does).
_ETAGS_PATTERN = r'^[ \t]*(\*[ \t]*|((W/)?"[!#-~]*"[ \t]*)?(,[ \t]*((W/)?"[!#-~]*"[ \t]*)?)*)$'
_PARAMETER = {
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": _ETAGS_PATTERN},
}
IF_NONE_MATCH_PARAMETER = {
    "parameters": [
        _PARAMETER
        | {
            "name": "If-None-Match",
            "description": "ETags of the item that the client has: 304 if it is still at one",
        }
    ]
}
IF_MATCH_PARAMETER = {
    "parameters": [
        _PARAMETER
        | {
            "name": "If-Match",
            "description": 'ETags of the item, or "*": change it only if it is still at one of'
            " them, else 412 (weak tags never match). With REQUIRE_IF_MATCH, required (428).",
        }
    ]
}
