from __future__ import annotations

from rest_framework import serializers

from estate.runbooks.choices import Decision
from estate.runbooks.models import RunbookRun, RunbookTemplate, RunStep, WindowRunbook


class RunbookTemplateSerializer(serializers.ModelSerializer):
    """Steps are checked by the model (RunbookTemplate.clean): a 400 names the step and the executor's actions."""

    steps = serializers.JSONField()

    class Meta:
        model = RunbookTemplate
        fields = ["id", "name", "description", "executor", "steps", "team", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]


class WindowRunbookSerializer(serializers.ModelSerializer):
    class Meta:
        model = WindowRunbook
        fields = ["id", "window", "template"]


class RunStepSerializer(serializers.ModelSerializer):
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = RunStep
        fields = ["position", "type", "name", "spec", "state", "question", "idempotency_key", "detail",
                  "decided_by", "started_at", "finished_at"]  # fmt: skip


class RunbookRunSerializer(serializers.ModelSerializer):
    occurrence = serializers.CharField(source="occurrence.key", read_only=True)
    state = serializers.CharField(source="operation.state", read_only=True)
    error = serializers.CharField(source="operation.error", read_only=True)
    requested_by = serializers.SlugRelatedField(source="operation.requested_by", slug_field="username", read_only=True)
    steps = RunStepSerializer(many=True, read_only=True)

    class Meta:
        model = RunbookRun
        fields = ["id", "operation", "occurrence", "template", "executor", "state", "error", "requested_by",
                  "versions_before", "versions_after", "steps", "created_at"]  # fmt: skip


class RunbookRunStartSerializer(serializers.Serializer):
    occurrence = serializers.CharField(max_length=40, help_text="The occurrence's key: <window id>-<epoch start>.")
    template = serializers.PrimaryKeyRelatedField(
        queryset=RunbookTemplate.objects.all(), required=False, allow_null=True,
        help_text="Empty: the window's runbook (or its checklist lines, as manual steps).",
    )  # fmt: skip
    params = serializers.DictField(
        child=serializers.CharField(max_length=100), required=False,
        help_text='Fill what the action steps leave empty, e.g. {"version": "16.5"} (at most 10; a step wins).',
    )  # fmt: skip


class DecisionSerializer(serializers.Serializer):
    step = serializers.IntegerField(min_value=1, max_value=1000, required=False, default=1,
                                    help_text="The step's number (from 1); ignored by abort.")  # fmt: skip
    decision = serializers.ChoiceField(choices=Decision.choices)
