"""Cursor paging shared by every list: `?cursor=` (opaque, from the last page) and `?limit=`."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from mock_core.problems import Problem

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def page_query(
    cursor: Annotated[str | None, Query(max_length=20, description="from next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> tuple[int | None, int]:
    """(the last row number already seen, or None on the first page; the page size)."""
    if cursor is None:
        return None, limit
    if not cursor.isdigit():
        raise Problem(
            422, "Invalid cursor", "cursor must come from a page's next_cursor", field="cursor"
        )
    return int(cursor), limit
