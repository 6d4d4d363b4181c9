"""Cursor paging shared by every list: `?cursor=` (opaque, from the last page) and `?limit=`."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from mock_core.fields import ASCII_DIGITS

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def page_query(
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,18}$", description="from next_cursor")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200), ASCII_DIGITS] = 50,
) -> tuple[int | None, int]:
    """(the last row number already seen, or None on the first page; the page size)."""
    return (None if cursor is None else int(cursor)), limit
