"""Read a rendered page the way a user does: the text of an element, the rows of a table."""

from __future__ import annotations

from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Element:
    def __init__(self, tag: str, attrs: dict[str, str]):
        self.tag, self.attrs, self.children = tag, attrs, []

    @property
    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text for c in self.children]
        return " ".join(" ".join(parts).split())

    def iter(self):
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        """Elements by tag and attributes: data_testid="x" is data-testid, class_="x" one of the classes."""
        wanted = {name.rstrip("_").replace("_", "-"): value for name, value in attrs.items()}
        return [el for el in self.iter() if (tag is None or el.tag == tag) and el._matches(wanted)]

    def _matches(self, wanted: dict[str, str]) -> bool:
        for name, value in wanted.items():
            if name not in self.attrs:
                return False
            if name == "class" and value not in self.attrs["class"].split():
                return False
            if name != "class" and self.attrs[name] != value:
                return False
        return True

    def find(self, tag: str | None = None, **attrs: str) -> Element:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag or '*'}> with {attrs} on the page"
        return found[0]


class _Builder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse(html: str | bytes) -> Element:
    builder = _Builder()
    builder.feed(html.decode() if isinstance(html, bytes) else html)
    return builder.root


def table_rows(html: str | bytes | Element, **attrs: str) -> list[list[str]]:
    """The body rows of the (first) table with these attributes, as lists of cell texts."""
    root = html if isinstance(html, Element) else parse(html)
    table = root.find("table", **attrs)
    return [
        [cell.text for cell in row.find_all("td")] for body in table.find_all("tbody") for row in body.find_all("tr")
    ]
