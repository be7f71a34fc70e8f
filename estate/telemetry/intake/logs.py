"""Log lines → mutation kinds, by the enabled LogRules.

Matching is bounded three ways: each line is cut to LOG_LINE_MAX characters, at most
LOG_RULE_LIMIT rules are used, and each search runs with the `regex` module's timeout, so a rule
that backtracks catastrophically (LogRule.clean refuses the usual shapes, but not every one) costs
at most LOG_MATCH_TIMEOUT once per request: it is then skipped for the rest of the request.
"""

from __future__ import annotations

import logging

import regex

from estate.telemetry.models import LogRule

LOG_RULE_LIMIT = 100
LOG_LINE_MAX = 2000
LOG_MATCH_TIMEOUT = 0.05  # seconds for one rule on one line

log = logging.getLogger(__name__)


class LogMatcher:
    """The enabled rules of one request, compiled once (rules are read per request: admins edit them)."""

    def __init__(self, rules: list[tuple[str, str, str]] | None = None):
        if rules is None:
            rules = list(LogRule.objects.filter(enabled=True).order_by("name").values_list("name", "pattern", "kind"))
        self.rules = [(name, regex.compile(pattern), kind) for name, pattern, kind in rules[:LOG_RULE_LIMIT]]
        self.slow: set[str] = set()

    def kind_of(self, line: str) -> str:
        """The mutation kind of the first rule that matches the line, "" when none does."""
        line = line[:LOG_LINE_MAX]
        for name, pattern, kind in self.rules:
            if name in self.slow:
                continue
            try:
                if pattern.search(line, timeout=LOG_MATCH_TIMEOUT):
                    return kind
            except TimeoutError:
                self.slow.add(name)
                log.warning("Log rule %r took over %s s on one line; skipped for the rest of this request.", name,
                            LOG_MATCH_TIMEOUT)  # fmt: skip
        return ""
