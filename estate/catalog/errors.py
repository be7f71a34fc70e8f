"""A refused catalog: every problem with the place it was written."""

from __future__ import annotations

from dataclasses import dataclass

from estate.core.errors import ApplicationError


@dataclass(frozen=True)
class Problem:
    source: str  # the file name ("catalog.yaml"), "" when the whole catalog is concerned
    line: int  # 1-based; 0 when unknown
    path: str  # components[3].mode
    message: str
    column: int = 0

    @property
    def place(self) -> str:
        where = self.source
        if self.line:
            where += f":{self.line}" + (f":{self.column}" if self.column else "")
        return f"{where} {self.path}".strip() or "catalog"

    def __str__(self) -> str:
        return f"{self.place}: {self.message}"


class CatalogError(ApplicationError):
    """The catalog cannot be applied; nothing was written. `problems` name each place."""

    def __init__(self, problems: list[Problem], *, status: int = 400):
        problems = sorted(problems, key=lambda p: (p.source, p.line, p.column, p.path))
        self.problems = problems
        errors: dict[str, list[str]] = {}
        for problem in problems:
            errors.setdefault(problem.place, []).append(problem.message)
        head = str(problems[0]) if problems else "The catalog was refused."
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(head + more, errors=errors, status=status)


def path_text(path: tuple) -> str:
    """("components", 3, "mode") -> "components[3].mode"."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
