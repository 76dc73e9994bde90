"""The API's request and response bodies."""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from .models import DESCRIPTION_MAX_LENGTH, SKU_MAX_LENGTH, TITLE_MAX_LENGTH

# The schema documents exactly what is enforced, on the untrimmed input. No text may hold NUL
# or a lone surrogate (no database stores them); no title a control character or a line
# separator, nor only characters that show as nothing (_BLANKS).
_CONTROLS = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
_BLANKS = r" \xa0\u1680\u2000-\u200b\u202f\u205f\u3000\ufeff"
# A title: a line of text, not blank.
Title = Annotated[
    str,
    Field(
        min_length=1,
        max_length=TITLE_MAX_LENGTH,
        pattern=rf"^[^{_CONTROLS}]*[^{_CONTROLS}{_BLANKS}][^{_CONTROLS}]*$",
    ),
]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX_LENGTH, pattern=r"^[^\x00]*$")]
# Stored upper-cased, so that "ab-1" and "AB-1" are the same SKU.
Sku = Annotated[
    str,
    Field(max_length=SKU_MAX_LENGTH, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
    AfterValidator(str.upper),
]


class ItemCreate(BaseModel):
    """A new item."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description | None = None
    sku: Sku | None = None


class ItemReplace(ItemCreate):
    """An item's new content, in full: a field left out is cleared."""


class ItemUpdate(BaseModel):
    """Changes to an item: only the fields given are changed."""

    model_config = ConfigDict(extra="forbid")

    # A title can be left out but not cleared: null is refused, and the schema does not offer it.
    title: Title | SkipJsonSchema[None] = None
    description: Description | None = None
    sku: Sku | None = None

    @field_validator("title")
    @classmethod
    def _title_not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("title cannot be null")
        return value


class ItemRead(BaseModel):
    """An item as stored."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str | None
    sku: str | None
    created_at: datetime
    updated_at: datetime
    # Raised by every write; the response's ETag header is this number in double quotes.
    version: int


class ItemPage(BaseModel):
    """One page of items, oldest first."""

    items: list[ItemRead]
    # The next page's cursor (also in the response's Link header), or null on the last page.
    next_cursor: str | None
    # The number of items in all, only when asked for (`with_total`): it costs a full count.
    total: int | None = None
