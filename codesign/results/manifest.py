"""Result manifests: every writer (simulate, sweep, validate) puts a ``manifest.json`` beside its
tables saying what the folder holds, and the report dispatches on it instead of guessing from
column names.

    {"kind": "simulation", "schema_version": 1, "tables": {"ops": "result.parquet"}, ...}

A table a manifest names must carry its kind's required columns; a missing one is a
:class:`~codesign.errors.CodesignError` naming the file and the column, never a filled-in value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Mapping

from codesign.errors import CodesignError
from codesign.results.records import OP_COLUMNS

MANIFEST = "manifest.json"
SCHEMA_VERSION = 1


class ResultKind(str, Enum):
    """What a result folder holds."""

    SIMULATION = "simulation"   # simulate: per-op rows of one run (+ summary.json)
    SWEEP = "sweep"             # sweep: one row per configuration (+ Pareto front, parts/)
    VALIDATION = "validation"   # validate: measured vs estimated per op and per workload


RUN_COLUMNS = ("workload", "hardware", "dtype", "mode", "layout", "batch")

#: (kind, table role) -> columns that table must have
REQUIRED: Mapping[tuple[ResultKind, str], tuple[str, ...]] = {
    (ResultKind.SIMULATION, "ops"): OP_COLUMNS + RUN_COLUMNS,
    (ResultKind.SWEEP, "results"): ("config_id", "workload", "preset", "dtype", "mode", "layout",
                                    "batch", "latency_s", "energy_j", "dram_bytes"),
    (ResultKind.SWEEP, "pareto"): ("config_id", "latency_s", "energy_j"),
    (ResultKind.VALIDATION, "ops"): ("workload", "batch", "name", "kind", "measured_s",
                                     "estimated_s"),
}


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest: the folder it describes, its kind and its table files by role."""

    folder: Path
    kind: ResultKind
    schema_version: int
    tables: Mapping[str, str] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)

    def table(self, role: str) -> Path | None:
        name = self.tables.get(role)
        return None if name is None else self.folder / name


def stamp(kind: ResultKind, tables: Mapping[str, str], **extra: Any) -> dict:
    """The manifest fields every writer includes (merge into a larger manifest if it has one)."""
    return {"kind": ResultKind(kind).value, "schema_version": SCHEMA_VERSION,
            "tables": dict(tables), **extra}


def write_manifest(folder: str | Path, kind: ResultKind, tables: Mapping[str, str],
                   **extra: Any) -> Path:
    """Write ``folder/manifest.json`` (see :func:`stamp`); returns its path."""
    path = Path(folder) / MANIFEST
    path.write_text(json.dumps(stamp(kind, tables, **extra), indent=2, default=str) + "\n",
                    encoding="utf-8")
    return path


def read_manifest(path: str | Path) -> Manifest | None:
    """The manifest at ``path`` (a folder or its manifest.json); None when the file has no
    ``kind`` (a folder written before manifests existed). A manifest of an unknown kind or a
    newer schema is an error naming the file."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CodesignError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "kind" not in data:
        return None
    try:
        kind = ResultKind(data["kind"])
    except ValueError:
        raise CodesignError(f"{path}: kind = {data['kind']!r}; allowed: "
                            + ", ".join(k.value for k in ResultKind)) from None
    version = data.get("schema_version")
    if not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
        raise CodesignError(f"{path}: schema_version = {version!r}; this codesign reads "
                            f"1..{SCHEMA_VERSION} (upgrade codesign to read newer results)")
    tables = data.get("tables") or {}
    if not isinstance(tables, dict):
        raise CodesignError(f"{path}: tables: expected a mapping of role -> file name")
    return Manifest(path.parent, kind, version, {str(k): str(v) for k, v in tables.items()}, data)


def require_columns(frame, kind: ResultKind, role: str, source: str) -> None:
    """Raise one line naming ``source`` and the first missing required column."""
    need = REQUIRED.get((ResultKind(kind), role), ())
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise CodesignError(f"{source}: missing column {missing[0]!r} ({kind.value} {role} "
                            f"tables need: {', '.join(need)})")


__all__ = ["MANIFEST", "SCHEMA_VERSION", "ResultKind", "Manifest", "REQUIRED", "RUN_COLUMNS",
           "stamp", "write_manifest", "read_manifest", "require_columns"]
