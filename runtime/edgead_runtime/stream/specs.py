"""What ``--source`` (given once or more) and ``--sources FILE`` say: each source's spec, its name, and its own
policy (live or not, loop, reconnects, backoff, ROI), falling back to the run's flags.

A sources file is JSON (a list; each entry a spec string or an object with ``source`` and optional ``name``,
``live``, ``loop``, ``max_reconnects``, ``backoff``, ``roi``) or, for any other suffix, one spec per line
(``#`` comments and blank lines skipped). See docs/stream.md, "Several sources".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import SourceError

Roi = tuple[int, int, int, int]  # x, y, width, height
_NAME = re.compile(r"^[\w.-]{1,64}$")


@dataclass(frozen=True)
class SourceSpec:
    """One source of a run; None fields take the run's flag."""

    source: str
    name: str | None = None
    live: bool | None = None
    loop: bool | None = None
    max_reconnects: int | None = None
    backoff: tuple[float, float] | None = None
    roi: Roi | None = None


def read_sources_file(path: Path) -> list[SourceSpec]:
    """The sources listed in ``path``; SourceError naming the file, the entry and the fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"cannot read --sources '{path}': {exc.strerror}") from exc
    if path.suffix.lower() != ".json":
        return [SourceSpec(line.strip()) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"--sources '{path}' is not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    if not isinstance(entries, list) or not entries:
        raise SourceError(f"--sources '{path}' must hold a non-empty JSON list of sources")
    return [_entry(path, k, entry) for k, entry in enumerate(entries)]


def _entry(path: Path, k: int, entry: Any) -> SourceSpec:
    where = f"--sources '{path}', entry {k}"
    if isinstance(entry, str):
        return SourceSpec(entry)
    allowed = {f.name for f in fields(SourceSpec)}
    if not isinstance(entry, dict) or not isinstance(entry.get("source"), str):
        raise SourceError(f'{where}: expected a spec string or {{"source": SPEC, ...}}, got {json.dumps(entry)}')
    unknown = set(entry) - allowed
    if unknown:
        raise SourceError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}"
        )
    values = dict(entry)
    for key, size in (("backoff", 2), ("roi", 4)):
        if values.get(key) is not None:
            if not isinstance(values[key], list) or len(values[key]) != size:
                raise SourceError(f"{where}: '{key}' must be a list of {size} numbers, got {values[key]!r}")
            values[key] = tuple(values[key])
    for key in ("live", "loop"):
        if values.get(key) is not None and not isinstance(values[key], bool):
            raise SourceError(f"{where}: '{key}' must be true or false, got {values[key]!r}")
    limit = values.get("max_reconnects")
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise SourceError(f"{where}: 'max_reconnects' must be an integer >= 0, got {limit!r}")
    backoff = values.get("backoff")
    if backoff is not None and not 0 < backoff[0] <= backoff[1]:
        raise SourceError(f"{where}: 'backoff' needs 0 < FIRST <= MAX, got {list(backoff)}")
    return SourceSpec(**values)


def resolve_names(specs: list[SourceSpec]) -> list[SourceSpec]:
    """Every spec with a unique, file-name-safe name: the given one, else one derived from the spec."""
    named, seen = [], set()
    for k, spec in enumerate(specs):
        if spec.name is not None and not _NAME.match(spec.name):
            raise SourceError(f"source name '{spec.name}' must be 1-64 letters, digits, '_', '.' or '-'")
        name = spec.name or _derived_name(spec.source, k)
        if name in seen:
            if spec.name is not None:
                raise SourceError(f"two sources are named '{name}'; names must be unique")
            name = next(f"{name}-{i}" for i in range(2, len(specs) + 2) if f"{name}-{i}" not in seen)
        seen.add(name)
        named.append(SourceSpec(**{**spec.__dict__, "name": name}))
    return named


def _derived_name(spec: str, k: int) -> str:
    """``camera0`` for camera 0, the file's stem for a file or folder, host and path for a URL, else source<k>."""
    if spec.isdigit():
        return f"camera{spec}"
    if "://" in spec and "!" not in spec:
        text = spec.split("://", 1)[1]
    elif Path(spec).exists():
        text = Path(spec).stem or Path(spec).name
    else:
        return f"source{k}"
    slug = re.sub(r"[^\w.-]+", "_", text).strip("_.")[:64]
    return slug or f"source{k}"
