"""Log lines → mutation kinds, by the enabled LogRules.

Python's `re` cannot be interrupted, so the work is bounded instead: patterns are short and free
of nested repetitions (LogRule.clean), at most LOG_RULE_LIMIT rules are used, and each line is
cut to LOG_LINE_MAX characters before it is searched.
"""

from __future__ import annotations

import re

from estate.telemetry.models import LogRule

LOG_RULE_LIMIT = 100
LOG_LINE_MAX = 2000


class LogMatcher:
    """The enabled rules of one request, compiled once (rules are read per request: admins edit them)."""

    def __init__(self, rules: list[tuple[str, str]] | None = None):
        if rules is None:
            rules = list(LogRule.objects.filter(enabled=True).order_by("name").values_list("pattern", "kind"))
        self.rules = [(re.compile(pattern), kind) for pattern, kind in rules[:LOG_RULE_LIMIT]]

    def kind_of(self, line: str) -> str:
        """The mutation kind of the first rule that matches the line, "" when none does."""
        line = line[:LOG_LINE_MAX]
        for pattern, kind in self.rules:
            if pattern.search(line):
                return kind
        return ""
