"""The README says what the code does: its table of what a rule can read is the one the code
generates, and every link within it leads to a heading. (Its first examples are run against
a fresh service by tests/e2e/test_readme.py.)"""

from __future__ import annotations

import re
from pathlib import Path

from fraud.domain.reference import markdown

README = Path(__file__).parents[2] / "README.md"


def test_the_readmes_field_and_feature_table_is_the_one_the_code_generates() -> None:
    text = README.read_text()
    found = re.search(r"<!-- reference:start -->\n(.*?)<!-- reference:end -->", text, re.S)
    assert found, "the README has lost its reference markers"
    assert found.group(1) == markdown(), (
        "the README's table differs from the code: paste `fraud features --format markdown` "
        "between the reference markers"
    )


def anchor(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings(text: str) -> list[str]:
    """The Markdown headings, not the comments of its code blocks."""
    found, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            found.append(line.lstrip("#"))
    return found


def test_every_link_within_the_readme_leads_to_a_heading() -> None:
    text = README.read_text()
    headings_found = {anchor(heading) for heading in headings(text)}
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links, "the README links to none of its sections"
    assert links <= headings_found, f"links to no heading: {sorted(links - headings_found)}"
