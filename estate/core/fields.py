"""Serializer fields for every app's API: DRF's, strict where a loose reading stores the wrong row or fails."""

from __future__ import annotations

import math

from rest_framework import serializers


class SlugRelatedField(serializers.SlugRelatedField):
    """DRF's, but a slug with a NUL byte is invalid before it reaches the query (PostgreSQL refuses it: a 500)."""

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("invalid")
        return super().to_internal_value(data)


BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


def _outside_bigint(data) -> bool:
    """Whether an id is a number no 64-bit key column can hold (so no row has it)."""
    try:
        return not BIGINT_MIN <= int(data) <= BIGINT_MAX
    except (TypeError, ValueError, OverflowError):
        return False


class PrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """DRF's, but only an id is an id: true and 1.5 are not read as 1, and 1e400 (infinity) is not a 500."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or (isinstance(data, float) and not (math.isfinite(data) and data.is_integer())):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if _outside_bigint(data):  # SQLite raises OverflowError on such a parameter: a 500
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


class ModelSerializer(serializers.ModelSerializer):
    """Related fields the serializer builds itself are the strict ones above."""

    serializer_related_field = PrimaryKeyRelatedField
