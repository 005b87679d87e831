"""Replace one ``## `` section of a markdown document, leaving the rest byte for byte (benchmarks that write their
results into docs/*.md share it)."""

from __future__ import annotations

from pathlib import Path


def replace_section(doc_path: Path, heading: str, text: str) -> None:
    """Replace the section under ``heading`` (up to the next ``## `` heading) with ``text``, or append it."""
    doc = doc_path.read_text() if doc_path.is_file() else ""
    start = doc.find(heading + "\n")
    if start < 0:
        doc = doc.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    else:
        end = doc.find("\n## ", start + len(heading))
        tail = doc[end + 1:] if end >= 0 else ""
        doc = doc[:start] + text.rstrip("\n") + "\n" + ("\n" + tail if tail else "")
    doc_path.write_text(doc)
