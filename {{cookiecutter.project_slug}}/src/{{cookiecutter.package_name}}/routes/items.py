{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set async_ = "async " if is_async else "" -%}
{%- set aw = "await " if is_async else "" -%}
"""The items API: create, list, read, replace, update and delete."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError

from .. import pagination, repository
from ..database import ReadSessionDep, SessionDep
from ..errors import error_responses
from ..repository import ItemRow
from ..schemas import ItemCreate, ItemPage, ItemRead, ItemReplace, ItemUpdate

# Ids up to the largest 32-bit integer, the narrowest id column among the databases
# the project template offers: the API's limits stay the same if the database changes.
MAX_INT = 2**31 - 1
ItemId = Annotated[int, Path(ge=1, le=MAX_INT)]

router = APIRouter(prefix="/items", tags=["items"], responses=error_responses(422, 503))


def _not_found(item_id: int) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"Item {item_id} not found")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ItemRead,
    responses=error_responses(400, 409, 413),
)
{{ async_ }}def create_item(data: ItemCreate, session: SessionDep) -> ItemRow:
    """Create an item."""
    return {{ aw }}repository.create_item(session, data)


@router.get("")
{{ async_ }}def list_items(
    session: ReadSessionDep,
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
    """List items, oldest first, a page at a time: each page gives the next one's cursor."""
    after = _after(cursor) if cursor else 0
    items = {{ aw }}repository.list_items(session, after=after, limit=limit + 1)
    next_cursor = pagination.encode(items[limit - 1].id) if len(items) > limit else None
    if next_cursor:
        next_url = request.url.include_query_params(cursor=next_cursor)
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    total = {{ aw }}repository.count_items(session) if with_total else None
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
@router.get("/{item_id}", response_model=ItemRead, responses=error_responses(404))
{% if is_async or cookiecutter.database == "sqlite" %}async {% endif %}def read_item(item_id: ItemId, session: ReadSessionDep) -> ItemRow:
    """Read one item."""
    item = {{ aw }}repository.get_item(session, item_id)
    if item is None:
        raise _not_found(item_id)
    return item


@router.put("/{item_id}", response_model=ItemRead, responses=error_responses(400, 404, 409, 413))
{{ async_ }}def replace_item(item_id: ItemId, data: ItemReplace, session: SessionDep) -> ItemRow:
    """Replace an item's content: fields left out are cleared."""
    item = {{ aw }}repository.update_item(session, item_id, data.model_dump())
    if item is None:
        raise _not_found(item_id)
    return item


@router.patch("/{item_id}", response_model=ItemRead, responses=error_responses(400, 404, 409, 413))
{{ async_ }}def update_item(item_id: ItemId, data: ItemUpdate, session: SessionDep) -> ItemRow:
    """Change the fields given and leave the others as they are."""
    item = {{ aw }}repository.update_item(session, item_id, data.model_dump(exclude_unset=True))
    if item is None:
        raise _not_found(item_id)
    return item


@router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404))
{{ async_ }}def delete_item(item_id: ItemId, session: SessionDep) -> Response:
    """Delete an item."""
    if not {{ aw }}repository.delete_item(session, item_id):
        raise _not_found(item_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
