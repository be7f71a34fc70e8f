from __future__ import annotations

from rest_framework import serializers


class FindingSerializer(serializers.Serializer):
    kind = serializers.CharField(source="kind.slug")
    title = serializers.CharField(source="kind.title")
    severity = serializers.CharField()
    principle = serializers.IntegerField(source="kind.principle")
    message = serializers.CharField()
    advice = serializers.CharField(source="kind.advice")
    object_type = serializers.SerializerMethodField()
    object_id = serializers.IntegerField(source="obj.pk")
    object_name = serializers.CharField(source="obj")
    component_id = serializers.IntegerField(source="component.pk")
    url = serializers.CharField()

    def get_object_type(self, finding) -> str:
        return finding.obj._meta.model_name


class FindingKindSerializer(serializers.Serializer):
    slug = serializers.CharField(source="kind.slug")
    title = serializers.CharField(source="kind.title")
    severity = serializers.CharField(source="kind.severity")
    principle = serializers.IntegerField(source="kind.principle")
    advice = serializers.CharField(source="kind.advice")
    count = serializers.IntegerField()
