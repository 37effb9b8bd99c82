"""Result manifests: writers say what a folder holds; the report dispatches on it and never
invents a missing column (issue 12, item 6)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch.nn as nn

import codesign
from codesign.errors import CodesignError
from codesign.reporting.document import collect, save_result
from codesign.results.manifest import ResultKind, read_manifest


@pytest.fixture(scope="module")
def result():
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(4))
    net(__import__("torch").zeros(1, 3, 8, 8))
    graph = codesign.trace(net, (1, 3, 8, 8))
    return codesign.simulate(graph, codesign.load_hardware("t4"), dtype="fp16")


def test_simulate_folder_has_a_manifest(result, tmp_path):
    out = save_result(result, tmp_path / "r")
    m = read_manifest(out)
    assert m.kind is ResultKind.SIMULATION and m.schema_version == 1
    assert m.table("ops").is_file()
    col = collect(out)
    assert len(col.ops) == 1 and len(col.summaries) == 1


def test_missing_required_column_names_file_and_column(result, tmp_path):
    out = save_result(result, tmp_path / "r")
    table = read_manifest(out).table("ops")
    pd.read_parquet(table).drop(columns=["supported"]).to_parquet(table, index=False)
    with pytest.raises(CodesignError) as info:
        collect(out)
    assert str(info.value).startswith(f"{table}: missing column 'supported'")


def test_dataframe_without_a_record_column_is_refused(result):
    frame = result.to_frame().drop(columns=["supported"])
    with pytest.raises(CodesignError, match="DataFrame: missing column 'supported'"):
        collect(frame)


@pytest.mark.parametrize("patch, message", [
    ({"kind": "benchmark"}, "kind = 'benchmark'; allowed: simulation, sweep, validation"),
    ({"schema_version": 99}, "schema_version = 99; this codesign reads 1..1 (upgrade codesign to read newer results)"),
])
def test_bad_manifest_is_one_line(result, tmp_path, patch, message):
    out = save_result(result, tmp_path / "r")
    path = out / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **patch}))
    with pytest.raises(CodesignError) as info:
        collect(out)
    assert str(info.value) == f"{path}: {message}"
