"""The table contract every sorted, counted and paged list shares (cases, meetings, campaigns).

A list answers one ``TablePage``: the rows of one page, the count of every row the reader may see
under the same filters, and the sort, order, page and size it was read with. The arguments are
checked here once, so a bad ``sort``, ``order``, ``size`` or ``page`` is the same 400 naming the
parameter on every list.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Generic, TypeVar

from vigil.core.errors import InputError

T = TypeVar("T")

PAGE_SIZES = (10, 25, 50, 100)


@dataclass(frozen=True)
class TablePage(Generic[T]):
    """One page of a list, with the count of all its rows (same filters)."""

    items: list[T]
    total: int
    page: int  # 1-based; a page past the end is clamped to the last one
    size: int
    sort: str
    order: str

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def check_table_args(
    sorts: Collection[str], sort: str, order: str, page: int, size: int, sizes: Collection[int] = PAGE_SIZES
) -> None:
    """Refuse an unknown column, order or size, or a page below 1, naming the parameter."""
    if sort not in sorts:
        raise InputError(f"unknown sort column {sort!r}; known: {', '.join(sorts)}", field="sort")
    if order not in ("asc", "desc"):
        raise InputError(f"order must be asc or desc, got {order!r}", field="order")
    if size not in sizes:
        known = ", ".join(map(str, sizes))
        raise InputError(f"rows per page (size) must be one of {known}, got {size}", field="size")
    if page < 1:
        raise InputError(f"page must be 1 or more, got {page}", field="page")


def clamp_page(total: int, page: int, size: int) -> int:
    """The page to show: ``page``, or the last one when it is past the end."""
    return min(page, max(1, -(-total // size)))
