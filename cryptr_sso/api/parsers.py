"""Body parsers of the v2 API that keep their promises under hostile input.

DRF's parsers read `request` as a stream, which skips Django's DATA_UPLOAD_MAX_MEMORY_SIZE check, and
its JSON parser lets a deeply nested document raise RecursionError (a 500). These read at most the
configured size and answer 413 past it, and turn every undecodable body into a 400.
"""

import json

from django.conf import settings
from django.http import QueryDict
from rest_framework import exceptions, parsers

from .errors import PayloadTooLarge


def read_bounded(stream) -> bytes:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if stream is None:
        return b""
    raw = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(raw) > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    return raw


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = read_bounded(stream)
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(raw.decode(encoding), parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            detail = "it nests too deeply" if isinstance(exc, RecursionError) else f"JSON parse error - {exc}"
            raise exceptions.ParseError(detail) from None


def _no_constant(name: str):
    # NaN and Infinity are not JSON (RFC 8259 6).
    raise ValueError(f"{name} is not valid JSON")


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = read_bounded(stream)
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return QueryDict(raw, encoding=encoding)
        except (ValueError, UnicodeDecodeError) as exc:
            # Django raises TooManyFieldsSent (a SuspiciousOperation) past DATA_UPLOAD_MAX_NUMBER_FIELDS.
            raise exceptions.ParseError(f"Form parse error - {exc}") from None


PARSER_CLASSES = [JSONParser, FormParser, parsers.MultiPartParser]
