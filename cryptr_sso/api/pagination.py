"""Page-number lists in the `List` envelope, with a last page that costs what the first does.

A plain OFFSET makes the database walk every row before the page: with 100,000 users the last page
walks 100,000 index entries. Pages in the second half are read from the other end of the same index
(reverse order, small offset) and flipped back, so the deepest page is the middle one and the first
and last pages cost the same. Deep pages walk the offset over primary keys only (an index-only scan of
the ordering index) and then fetch just the page's rows, instead of reading every skipped row.
"""

import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from rest_framework import serializers

from .errors import ApiError

# From this offset on, a page is read in two steps (keys, then rows); below it, one query is cheaper.
DEFERRED_JOIN_OFFSET = 1000


class PageQuerySerializer(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, required=False)
    current_page = serializers.IntegerField(min_value=1, required=False)
    per_page = serializers.IntegerField(min_value=1, required=False)


@dataclass(frozen=True)
class Page:
    items: list
    number: int
    per_page: int
    total: int

    @property
    def total_pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def read_page_params(query_params) -> tuple[int, int]:
    data = {key: query_params.get(key) for key in ("page", "current_page", "per_page") if query_params.get(key)}
    params = PageQuerySerializer(data=data)
    if not params.is_valid():
        raise ApiError(
            "'page' and 'per_page' must be positive whole numbers.",
            code="invalid_request",
            fields={k: [str(e) for e in v] for k, v in params.errors.items()},
        )
    number = params.validated_data.get("page") or params.validated_data.get("current_page") or 1
    per_page = min(params.validated_data.get("per_page") or settings.API_DEFAULT_PER_PAGE, settings.API_MAX_PER_PAGE)
    return number, per_page


def paginate(queryset: QuerySet, *, ordering: tuple[str, ...], number: int, per_page: int) -> Page:
    """`ordering` must be a total order backed by an index (for instance ("-inserted_at", "-id"))."""
    total = queryset.count()
    start = (number - 1) * per_page
    if start >= total:
        return Page(items=[], number=number, per_page=per_page, total=total)
    end = min(start + per_page, total)
    if start <= total - end:
        items = _slice(queryset, ordering, start, end)
    else:
        reverse = tuple(field[1:] if field.startswith("-") else f"-{field}" for field in ordering)
        items = _slice(queryset, reverse, total - end, total - start)
        items.reverse()
    return Page(items=items, number=number, per_page=per_page, total=total)


def _slice(queryset: QuerySet, ordering: tuple[str, ...], low: int, high: int) -> list:
    if low < DEFERRED_JOIN_OFFSET:
        return list(queryset.order_by(*ordering)[low:high])
    # A plain OFFSET fetches every skipped row from the table (with 100,000 users, 50,000 of them for the
    # middle page); the keys alone come from the index.
    keys = queryset.order_by(*ordering).values("pk")[low:high]
    return list(queryset.filter(pk__in=keys).order_by(*ordering))


def list_envelope(page: Page, data: list[dict[str, Any]], *, domain: str | None = None) -> dict[str, Any]:
    return {
        "__type__": "List",
        "__domain__": domain,
        "data": data,
        "pagination": {
            "current_page": page.number,
            "next_page": page.number + 1 if page.number < page.total_pages else None,
            # Past the end, the previous page is the last one that has items.
            "prev_page": min(page.number - 1, page.total_pages) if page.number > 1 else None,
            "per_page": page.per_page,
            "total_pages": page.total_pages,
        },
        "total": page.total,
    }
