{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set async_ = "async " if is_async else "" -%}
{%- set aw = "await " if is_async else "" -%}
{%- set oidc = cookiecutter.auth == "oidc" -%}
{%- set by = ", owner=caller.subject" if oidc else "" -%}
"""The items API: create, list, read, replace, update and delete."""

from typing import Annotated, NoReturn

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError

from .. import {{ "auth, " if oidc }}conditions, pagination, repository
from ..database import ReadSessionDep, SessionDep, WriteSession
from ..errors import error_responses
from ..repository import ItemRow
from ..schemas import ItemCreate, ItemPage, ItemRead, ItemReplace, ItemUpdate

# Ids up to the largest 32-bit integer, the narrowest id column among the databases
# the project template offers: the API's limits stay the same if the database changes.
MAX_INT = 2**31 - 1
ItemId = Annotated[int, Path(ge=1, le=MAX_INT)]

router = APIRouter(
    prefix="/items",
    tags=["items"],
    responses=error_responses({{ "401, 403, " if oidc }}422, 503),
)


def _not_found(item_id: int) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"Item {item_id} not found")


{% if oidc -%}
{{ async_ }}def _refuse(
    session: WriteSession, item_id: int, versions: list[int] | None, caller: auth.Caller
) -> NoReturn:
    """Say why a write found nothing to change: the caller has no such item (404: another's is
    not disclosed), or the item is not at a version that If-Match named (412)."""
    if versions is None:
        raise _not_found(item_id)
    item = {{ aw }}repository.get_item(session, item_id, owner=caller.subject)
{%- else -%}
{{ async_ }}def _refuse(session: WriteSession, item_id: int, versions: list[int] | None) -> NoReturn:
    """Say why a write found nothing to change: no such item (404), or the item is not at a
    version that If-Match named (412)."""
    item = {{ aw }}repository.get_item(session, item_id) if versions is not None else None
{%- endif %}
    if item is None:
        raise _not_found(item_id)
    raise conditions.precondition_failed(f"Item {item_id}", item.version)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ItemRead,
    responses=error_responses(400, 409, 413) | conditions.CREATED,
)
{%- if oidc %}
{{ async_ }}def create_item(
    data: ItemCreate, session: SessionDep, caller: auth.Writer, response: Response
) -> ItemRow:
    """Create an item, the caller's."""
{%- else %}
{{ async_ }}def create_item(data: ItemCreate, session: SessionDep, response: Response) -> ItemRow:
    """Create an item."""
{%- endif %}
    item = {{ aw }}repository.create_item(session, data{{ by }})
    response.headers["ETag"] = conditions.etag(item.version)
    return item


@router.get("")
{{ async_ }}def list_items(
    session: ReadSessionDep,
{%- if oidc %}
    caller: auth.Reader,
{%- endif %}
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None,
        Query(pattern=pagination.PATTERN, description="The next_cursor of the page before"),
    ] = None,
    with_total: Annotated[
        bool, Query(description="Also count every item: on a large table, a costly scan")
    ] = False,
) -> ItemPage:
{%- if oidc %}
    """List the caller's items, oldest first, a page at a time: each page gives the next one's
    cursor."""
{%- else %}
    """List items, oldest first, a page at a time: each page gives the next one's cursor."""
{%- endif %}
    after = _after(cursor) if cursor else 0
    items = {{ aw }}repository.list_items(session{{ by }}, after=after, limit=limit + 1)
    next_cursor = pagination.encode(items[limit - 1].id) if len(items) > limit else None
    if next_cursor:
        next_url = request.url.include_query_params(cursor=next_cursor)
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    total = {{ aw }}repository.count_items(session{{ by }}) if with_total else None
    page = {"items": items[:limit], "next_cursor": next_cursor, "total": total}
    return ItemPage.model_validate(page, from_attributes=True)


def _after(cursor: str) -> int:
    try:
        return pagination.decode(cursor)
    except ValueError as error:
        invalid = {"type": "value_error", "loc": ("query", "cursor"), "msg": str(error)}
        raise RequestValidationError([invalid]) from None


{% if cookiecutter.database == "sqlite" and not is_async -%}
# In the event loop: one indexed lookup that does not wait for writes is quicker than the
# hand-off to a worker thread (docs/sessions.md says when).
{% endif -%}
@router.get(
    "/{item_id}",
    response_model=ItemRead,
    responses=error_responses(400, 404) | conditions.IF_NONE_MATCH,
    openapi_extra=conditions.IF_NONE_MATCH_PARAMETER,
)
{% if is_async or cookiecutter.database == "sqlite" %}async {% endif %}def read_item(
    item_id: ItemId,
    session: ReadSessionDep,
{%- if oidc %}
    caller: auth.Reader,
{%- endif %}
    request: Request,
    response: Response,
) -> ItemRow | Response:
    """Read one item: with If-None-Match, only if it is at another version."""
    item = {{ aw }}repository.get_item(session, item_id{{ by }})
    if item is None:
        raise _not_found(item_id)
    tag = conditions.etag(item.version)
    if conditions.none_match(request, tag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
    response.headers["ETag"] = tag
    return item


@router.put(
    "/{item_id}",
    response_model=ItemRead,
    responses=error_responses(400, 404, 409, 413) | conditions.IF_MATCH | conditions.ETAG,
    openapi_extra=conditions.IF_MATCH_PARAMETER,
)
{{ async_ }}def replace_item(
    item_id: ItemId,
    data: ItemReplace,
    session: SessionDep,
{%- if oidc %}
    caller: auth.Writer,
{%- endif %}
    request: Request,
    response: Response,
) -> ItemRow:
    """Replace an item's content: fields left out are cleared. With If-Match, only if the item
    is still at a version it names."""
    versions = conditions.if_match(request)
    changes = data.model_dump()
{%- if oidc %}
    owner = caller.subject
    item = {{ aw }}repository.update_item(session, item_id, changes, owner=owner, versions=versions)
{%- else %}
    item = {{ aw }}repository.update_item(session, item_id, changes, versions=versions)
{%- endif %}
    if item is None:
        {{ aw }}_refuse(session, item_id, versions{{ ", caller" if oidc }})
    response.headers["ETag"] = conditions.etag(item.version)
    return item


@router.patch(
    "/{item_id}",
    response_model=ItemRead,
    responses=error_responses(400, 404, 409, 413) | conditions.IF_MATCH | conditions.ETAG,
    openapi_extra=conditions.IF_MATCH_PARAMETER,
)
{{ async_ }}def update_item(
    item_id: ItemId,
    data: ItemUpdate,
    session: SessionDep,
{%- if oidc %}
    caller: auth.Writer,
{%- endif %}
    request: Request,
    response: Response,
) -> ItemRow:
    """Change the fields given and leave the others as they are. With If-Match, only if the
    item is still at a version it names."""
    versions = conditions.if_match(request)
    changes = data.model_dump(exclude_unset=True)
{%- if oidc %}
    owner = caller.subject
    item = {{ aw }}repository.update_item(session, item_id, changes, owner=owner, versions=versions)
{%- else %}
    item = {{ aw }}repository.update_item(session, item_id, changes, versions=versions)
{%- endif %}
    if item is None:
        {{ aw }}_refuse(session, item_id, versions{{ ", caller" if oidc }})
    response.headers["ETag"] = conditions.etag(item.version)
    return item


@router.delete(
    "/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(400, 404) | conditions.IF_MATCH,
    openapi_extra=conditions.IF_MATCH_PARAMETER,
)
{%- if oidc %}
{{ async_ }}def delete_item(
    item_id: ItemId, session: SessionDep, caller: auth.Writer, request: Request
) -> Response:
{%- else %}
{{ async_ }}def delete_item(item_id: ItemId, session: SessionDep, request: Request) -> Response:
{%- endif %}
    """Delete an item. With If-Match, only if it is still at a version it names."""
    versions = conditions.if_match(request)
    if not {{ aw }}repository.delete_item(session, item_id{{ by }}, versions=versions):
        {{ aw }}_refuse(session, item_id, versions{{ ", caller" if oidc }})
    return Response(status_code=status.HTTP_204_NO_CONTENT)
