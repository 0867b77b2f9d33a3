"""No doc or README links to, or names, a repository file that does not exist: markdown
links to local files (and their #anchors within markdown), and `path/like/this.ext`
mentions of repository paths in code spans."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
SPAN = re.compile(r"`([^`\s]+)`")
TOP = ("src/", "tests/", "docs/", "scripts/", "clients/", "bench/", "spec/", "sdk/", ".ci/")
FILE = re.compile(r"^[\w./-]+\.(py|md|ts|json|toml|yaml|yml|ini|sh|csv|txt|lock)$")
# Folders a run writes (screenshots, reports), git-ignored: absent from a fresh clone until the
# tests that fill them have run, so a mention of them names no committed path.
GENERATED = tuple(
    line.strip().lstrip("/")
    for line in (ROOT / ".gitignore").read_text().splitlines()
    if line.strip().startswith(TOP) and line.strip().endswith("/")
)


def anchors(markdown: str) -> set[str]:
    """GitHub-style heading anchors of a markdown text."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_links__point_at_existing_files_and_headings() -> None:
    broken = []
    for doc in DOCS:
        text = doc.read_text()
        for target in LINK.findall(text):
            if re.match(r"^[a-z]+:", target):
                continue  # http(s), mailto
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            if not file.exists():
                broken.append(f"{doc.name}: {target}")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text()):
                broken.append(f"{doc.name}: {target} (no such heading)")
    assert not broken, broken


def test_mentions__repository_paths_exist() -> None:
    missing = []
    for doc in DOCS:
        for span in SPAN.findall(doc.read_text()):
            path = span.split("::")[0].rstrip(",.:;")
            if not path.startswith(TOP) or "*" in path or "<" in path or "{" in path:
                continue
            if path.startswith(GENERATED):
                continue
            if (FILE.match(path) or path.endswith("/")) and not (ROOT / path).exists():
                missing.append(f"{doc.name}: {span}")
    assert not missing, missing


def test_docs_index__readme_names_every_doc() -> None:
    readme = (ROOT / "README.md").read_text()
    unnamed = [d.name for d in DOCS[1:] if d.name not in readme]
    assert not unnamed, unnamed
