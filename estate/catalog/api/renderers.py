"""Renderers for the export's ?format=yaml|csv (the export itself answers its file; these render
the error bodies of a request that asked for one of those formats)."""

from __future__ import annotations

import json

import yaml
from rest_framework import renderers


class YamlRenderer(renderers.BaseRenderer):
    media_type = "application/yaml"
    format = "yaml"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode() if data is not None else b""


class CsvRenderer(renderers.BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() if data is not None else b""
