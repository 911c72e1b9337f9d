"""Serializer fields that take exactly the JSON types the OpenAPI schema names.

DRF's fields coerce: ``0`` becomes the string ``"0"``, ``"5"`` the integer 5, ``"true"``
a boolean. Then the schema and the server disagree about what is valid, and a client's bug
(a number where an id was meant) is stored instead of refused. These refuse another type
with a message that says which one to send; everything else is DRF's.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

import django_filters
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers


def _type_error(expected: str) -> serializers.ValidationError:
    return serializers.ValidationError(f"must be {expected}")


class StrictCharField(serializers.CharField):
    """A JSON string only. Whitespace is kept as sent: the schema's ``minLength`` counts
    it, so trimming would refuse a value the schema allows."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictSlugField(StrictCharField, serializers.SlugField):
    pass


class StrictEmailField(StrictCharField, serializers.EmailField):
    pass


class StrictURLField(StrictCharField, serializers.URLField):
    pass


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if isinstance(data, float) and not data.is_integer():
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A finite JSON number (NaN and Infinity are not numbers in JSON)."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if math.isnan(value) or math.isinf(value):
            raise _type_error("a finite number")
        return value


class PositiveFloatField(StrictFloatField):
    """A finite number above 0 (a weight): the schema says ``exclusiveMinimum``."""

    def to_internal_value(self, data: Any) -> float:
        value = super().to_internal_value(data)
        if value <= 0:
            raise serializers.ValidationError("must be above 0")
        return value


class PositiveFloatFieldSchema(OpenApiSerializerFieldExtension):
    target_class = PositiveFloatField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = {"type": "number", "format": "double", "minimum": 0, "exclusiveMinimum": True}
        if self.target.max_value is not None:
            schema["maximum"] = self.target.max_value
        return schema


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictDecimalField(serializers.DecimalField):
    """An amount as a JSON string of digits with an optional point (``"5000.00"``), so no
    binary float rounds it on the way; its pattern is the schema's."""

    def pattern(self) -> str:
        whole = (self.max_digits or 28) - (self.decimal_places or 0)
        sign = "" if self.min_value is not None and self.min_value >= 0 else "-?"
        fraction = rf"(?:\.\d{{1,{self.decimal_places}}})?" if self.decimal_places else ""
        return rf"^{sign}\d{{1,{whole}}}{fraction}$"

    def to_internal_value(self, data: Any) -> Decimal:
        if not isinstance(data, str):
            raise _type_error('a string of digits, such as "5000.00"')
        value = super().to_internal_value(data)  # DRF's words for non-numbers and limits
        unsigned = data[1:] if data.startswith("-") else data  # a sign is min_value's to judge
        if not re.fullmatch(self.pattern()[1:-1].removeprefix("-?"), unsigned):  # "5.", "1e3"
            raise _type_error(
                f'plain digits with at most {self.decimal_places} after the point, such as "5000.00"'
            )
        return value


class StrictDecimalFieldSchema(OpenApiSerializerFieldExtension):
    target_class = StrictDecimalField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        field = self.target
        schema: dict[str, Any] = {"type": "string", "format": "decimal"}
        if direction == "request":
            schema["pattern"] = field.pattern()
        return schema


class StrictModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose generated fields are the strict ones."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        **{
            model_field: strict
            for model_field, field in serializers.ModelSerializer.serializer_field_mapping.items()
            for base, strict in (
                (serializers.CharField, StrictCharField),
                (serializers.SlugField, StrictSlugField),
                (serializers.EmailField, StrictEmailField),
                (serializers.URLField, StrictURLField),
                (serializers.IntegerField, StrictIntegerField),
                (serializers.FloatField, StrictFloatField),
                (serializers.BooleanField, StrictBooleanField),
                (serializers.DecimalField, StrictDecimalField),
            )
            if field is base
        },
    }


class StrictFilterSet(django_filters.FilterSet):
    """A FilterSet that refuses a blank date, number or choice (``?renewal_before=``,
    ``?status=``) instead of ignoring it: the schema says the value is a date, a number or
    one of an enum, and a blank one is none of them."""

    def is_valid(self) -> bool:
        valid = super().is_valid()
        for name, filter_ in self.filters.items():
            typed = isinstance(
                filter_,
                django_filters.DateFilter
                | django_filters.NumberFilter
                | django_filters.ChoiceFilter,
            )
            if typed and name in self.data and not str(self.data.get(name, "")).strip():
                self.form.add_error(name, "must not be blank; leave the parameter out instead")
                valid = False
        return valid
