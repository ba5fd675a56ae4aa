from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.request import Request
from rest_framework.utils import html

from . import json_types

REPEATED_PARAMETER = _("Give this parameter once.")


def validated(
    serializer_class: type[serializers.Serializer], request: Request, **kwargs: Any
) -> dict[str, Any]:
    """Validate the request body with an input serializer, JSON types first (api.json_types); raises the
    400 problem on failure."""
    return validated_data(serializer_class, request.data, context={"request": request}, **kwargs)


def validated_data(
    serializer_class: type[serializers.Serializer], data: Any, *, context: dict[str, Any], **kwargs: Any
) -> dict[str, Any]:
    """`validated` for data other than the whole body (one item of a batch): the same checks, the same
    ValidationError."""
    return data_validator(serializer_class, context=context, **kwargs)(data)


def data_validator(
    serializer_class: type[serializers.Serializer], *, context: dict[str, Any], **kwargs: Any
) -> Callable[[Any], dict[str, Any]]:
    """`validated_data` for many inputs of one kind (the items of a batch): one serializer checks each
    in turn. Building a serializer (a deep copy of its declared fields) costs several times what
    validating a small input does, so it is built once."""
    serializer = serializer_class(context=context, **kwargs)

    def validate(data: Any) -> dict[str, Any]:
        serializer.initial_data = data
        for cached in ("_validated_data", "_errors", "_data"):  # is_valid() keeps its first answer
            serializer.__dict__.pop(cached, None)
        # multipart (uploads) is text by nature
        wrong_types = {} if html.is_html_input(data) else json_types.type_errors(serializer, data)
        if not serializer.is_valid() or wrong_types:
            raise serializers.ValidationError(json_types.merged(dict(serializer.errors), wrong_types))
        return dict(serializer.validated_data)

    return validate


def validated_query(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    """Validate the query string with an input serializer, strictly (see `query_data`); raises the 400
    problem naming each parameter at fault."""
    context = {"request": request}
    data = query_data(request, serializer_class(context=context).fields)
    serializer = serializer_class(data=data, context=context)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def query_data(request: Request, fields: Mapping[str, serializers.Field]) -> dict[str, Any]:
    """The query string as a plain mapping of the parameters `fields` declares. DRF reads a query string
    like an HTML form, where an empty value means "absent" and the last of repeated values wins; an API
    must not guess: `?status=` is an empty status (invalid unless the field allows blank), and a
    single-valued parameter given twice is refused. Parameters no field declares are ignored, as
    everywhere in the API (the schema does not forbid them)."""
    data: dict[str, Any] = {}
    repeated: dict[str, list[ErrorDetail]] = {}
    for name, field in fields.items():
        values = request.query_params.getlist(name)
        if not values:
            continue
        if isinstance(field, serializers.ListField | serializers.MultipleChoiceField):
            data[name] = values
        elif len(values) > 1:
            repeated[name] = [ErrorDetail(str(REPEATED_PARAMETER), code="repeated")]
        else:
            data[name] = values[0]
    if repeated:
        raise serializers.ValidationError(repeated)
    return data


def single_query_value(request: Request, name: str) -> str | None:
    """One query parameter that is not a serializer field (pagination, format): None when absent, 400
    when repeated."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise serializers.ValidationError({name: [ErrorDetail(str(REPEATED_PARAMETER), code="repeated")]})
    return values[0] if values else None
