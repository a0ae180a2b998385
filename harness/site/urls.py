"""Where each page of a site lives: one place that turns names into safe, relative URLs.

A name from a results file (run id, profile id, plan, model) becomes a file name made of
`[A-Za-z0-9._-]` (nothing a URL or a file system reads specially); a name that had to
change carries a short hash of itself, so two names never share a page (`a/b` and `a-b`
differ).
"""

from __future__ import annotations

import hashlib
import posixpath
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
INDEX = "index.html"
PLOTLY = "plotly.min.js"


def slug(name: object) -> str:
    raw = str(name)
    clean = _UNSAFE.sub("-", raw).strip("-.")[:80]
    if clean and clean == raw:
        return clean
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{clean}-{digest}" if clean else digest


def run_page(run_id: str) -> str:
    return f"runs/{slug(run_id)}.html"


def compare_page(profile_id: str, run_id: str) -> str:
    return f"compare/{slug(profile_id)}/{slug(run_id)}.html"


def trend_page(profile_id: str, plan: str) -> str:
    return f"trends/{slug(profile_id)}/{slug(plan)}.html"


def across_page(plan: str) -> str:
    return f"across/{slug(plan)}.html"


def model_page(model: str) -> str:
    return f"models/{slug(model)}.html"


def href(target: str, page: str) -> str:
    """`target` (a path from the site root) as a link from `page` (another such path)."""
    return posixpath.relpath(target, posixpath.dirname(page) or ".")


PAGE_DIRS = ("runs", "compare", "trends", "across", "models")
"""The folders of generated pages (a rebuild replaces them whole)."""
