"""Reading request bodies the same way for JSON and form-encoded clients, and refusing unknown fields."""

from typing import Any

from django.http import QueryDict
from rest_framework import serializers

from .errors import ApiError


def request_body(request) -> dict[str, Any]:
    """The body as a dict. Form bodies may repeat a key or suffix it with [] to send a list."""
    data = request.data
    if isinstance(data, QueryDict):
        body: dict[str, Any] = {}
        for key in data:
            values = data.getlist(key)
            if key.endswith("[]"):
                # `key[]=` alone is how a form sends an empty list (as Rails and PHP read it).
                body[key[:-2]] = [value for value in values if value != ""]
            else:
                body[key] = values if len(values) > 1 else values[0]
        return body
    if not isinstance(data, dict):
        raise ApiError("The request body must be a JSON object.", code="malformed_body")
    return data


NOT_A_STRING = "Must be a string."


class StrictSerializer(serializers.Serializer):
    """An input serializer that answers 400 for fields it does not know, instead of dropping them silently,
    and for JSON numbers, booleans, lists or objects sent where a string is expected (DRF would turn
    `{"name": 42}` into "42")."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {name: ["This field is not known."] for name in sorted(set(data) - set(self.fields))}
            for name, field in self.fields.items():
                value = data.get(name)
                if isinstance(field, serializers.CharField) and value is not None and not isinstance(value, str):
                    errors[name] = [NOT_A_STRING]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
