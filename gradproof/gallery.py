"""The gallery: every catalog entry's report, written together, with a manifest of what it says.

``reports/`` holds one page per entry (Markdown and HTML) and ``gallery.json``, the pages'
*deterministic content*: titles, symbols, steps with their claims, formulas (LaTeX) and statuses,
results and the graph route's matrix forms. Numeric-check errors are left out: float32 rounding
differs between runs in the last digits, so they cannot say whether the gallery is current.

A test recomputes that content from the code (without the numeric checks) and compares it with
the manifest, so the gallery fails CI only when what a page says has changed, never for a comment.
Regenerating builds every page first and writes them all at the end; a page whose text differs
from the one on disk only in such float digits is left as it is, so regenerating after no change
changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["MANIFEST", "build_entry_report", "gallery_content", "page_content", "same_but_float_digits", "stale_entries",
           "write_gallery"]

MANIFEST = "gallery.json"
# Keys of a report document that are not deterministic content: numeric outcomes, and the markup a
# formula or graph is drawn with (its LaTeX and the model names stay).
_LEFT_OUT = frozenset({"checks", "summary", "svg", "mathml"})
_FLOAT = re.compile(r"\d(?:\.\d+)?e[-+]?\d+")


def gallery_content(doc: Any) -> Any:
    """What a report says, without its numeric outcomes and drawing markup.

    >>> gallery_content({"name": "x", "checks": [1], "math": {"latex": "a", "mathml": "<mi>a</mi>"}})
    {'name': 'x', 'math': {'latex': 'a'}}
    """
    if isinstance(doc, Mapping):
        return {key: gallery_content(value) for key, value in doc.items() if key not in _LEFT_OUT}
    if isinstance(doc, list | tuple):
        return [gallery_content(value) for value in doc]
    return doc


def page_content(doc: Mapping[str, Any]) -> Any:
    """What a page says: ``gallery_content``, plus its "at a glance" lines (the strongest result per
    target, in the page's words), so a changed verdict or wording on the page is a changed page."""
    from .report import strongest

    return gallery_content({**doc, "glance": strongest(doc)})


def same_but_float_digits(old: str, new: str) -> bool:
    """Whether two pages differ at most in the digits of numbers written with an exponent.

    >>> same_but_float_digits("error 3.1e-07 ok", "error 4.4e-07 ok"), same_but_float_digits("a 1e-07", "b 1e-07")
    (True, False)
    """
    return _FLOAT.sub("#", old) == _FLOAT.sub("#", new)


def build_entry_report(name: str, examples: int = 20, lang: str = "en", dtypes: Sequence[str] = ("float64", "float32"),
                       progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """The report document of a catalog entry or a forward entry (verify/forwards/), by name.

    >>> build_entry_report("information", dtypes=())["summary"]["numeric_checks"]["passed"]
    0
    """
    from verify.forwards import NAMES as FORWARD_NAMES

    if name in FORWARD_NAMES:
        from verify.forwards import claims_for_report, entry, forward_of

        from .expression_report import build_expression_report

        return build_expression_report(forward_of(entry(name)), examples=examples, lang=lang, dtypes=dtypes,
                                       progress=progress, claims=claims_for_report(entry(name)))
    from .report import build_report

    return build_report(name, examples=examples, dtypes=dtypes, progress=progress, lang=lang)


def stale_entries(folder: Path, names: Sequence[str]) -> dict[str, str]:
    """Entries whose stored content differs from what the code says now, each with the first difference.

    Builds each entry's report without numeric checks (the derivations and the graph route only).
    """
    stored = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    stale = {}
    for name in names:
        if name not in stored:
            stale[name] = "not in the gallery"
            continue
        now = json.loads(json.dumps(page_content(build_entry_report(name, dtypes=())), ensure_ascii=False))
        if now != stored[name]:
            stale[name] = _first_difference(stored[name], now)
    return stale


def _first_difference(old: Any, new: Any, path: str = "") -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys()):
            if old.get(key) != new.get(key):
                return _first_difference(old.get(key), new.get(key), f"{path}.{key}")
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            if a != b:
                return _first_difference(a, b, f"{path}[{i}]")
    return f"{path or '.'}: {str(old)[:120]!r} -> {str(new)[:120]!r}"


def write_gallery(folder: Path, pages: Mapping[str, Mapping[str, str | bytes]],
                  contents: Mapping[str, Any]) -> list[str]:
    """Write every entry's pages (file name -> text or bytes) and the manifest, all at the end.

    A file whose text differs from the one on disk only in float digits, for an entry whose content
    is unchanged, is not rewritten. Each file is written beside its place and renamed into it, so a
    kill leaves every page either old or new. Returns the files written.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> doc = {"name": "a", "results": [], "matrix_form": []}
    >>> write_gallery(d, {"a": {"a.md": "err 1e-07"}}, {"a": doc})
    ['a.md', 'gallery.json']
    >>> write_gallery(d, {"a": {"a.md": "err 2e-07"}}, {"a": doc})
    []
    """
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    old = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
    manifest = json.loads(json.dumps({name: page_content(doc) for name, doc in contents.items()}, ensure_ascii=False))
    written = []
    for name, files in pages.items():
        unchanged = old.get(name) == manifest.get(name)
        for file_name, data in files.items():
            if _keep(folder / file_name, data, unchanged):
                continue
            _replace(folder / file_name, data)
            written.append(file_name)
    text = json.dumps(manifest, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if not manifest_path.is_file() or manifest_path.read_text(encoding="utf-8") != text:
        _replace(manifest_path, text)
        written.append(MANIFEST)
    return written


def _keep(path: Path, data: str | bytes, unchanged: bool) -> bool:
    if not path.is_file():
        return False
    if isinstance(data, bytes):
        return path.read_bytes() == data
    current = path.read_text(encoding="utf-8")
    return current == data or (unchanged and same_but_float_digits(current, data))


def _replace(path: Path, data: str | bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    if isinstance(data, bytes):
        partial.write_bytes(data)
    else:
        partial.write_text(data, encoding="utf-8")
    partial.replace(path)
