"""Catalog bodies sent as they are (YAML or CSV), bounded before they are read."""

from __future__ import annotations

from django.conf import settings
from rest_framework import parsers

from estate.core.api import PayloadTooLarge


class RawCatalogParser(parsers.BaseParser):
    """The body as bytes, refused (413) past CATALOG_MAX_BYTES without reading the rest."""

    media_type = "application/yaml"
    suffix = "yaml"

    def parse(self, stream, media_type=None, parser_context=None):
        bound = settings.CATALOG_MAX_BYTES
        request = (parser_context or {}).get("request")
        length = request.META.get("CONTENT_LENGTH", "") if request is not None else ""
        if length.isdigit() and int(length) > bound:
            raise PayloadTooLarge(f"The catalog is {length} bytes; at most {bound} are accepted (CATALOG_MAX_BYTES).")
        body = stream.read(bound + 1) if stream is not None else b""
        if len(body) > bound:
            raise PayloadTooLarge(f"The catalog is over {bound} bytes (CATALOG_MAX_BYTES).")
        return {"raw": body, "suffix": self.suffix}


class TextYamlParser(RawCatalogParser):
    media_type = "text/yaml"


class XYamlParser(RawCatalogParser):
    media_type = "application/x-yaml"


class CsvParser(RawCatalogParser):
    media_type = "text/csv"
    suffix = "csv"
