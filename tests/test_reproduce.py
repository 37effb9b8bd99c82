"""Golden tests for ``codesign reproduce``: every figure of every claim is pinned in
``tests/golden/reproductions.json`` and a moved figure fails here. Regenerate only on purpose:
``pytest tests/test_reproduce.py --update-golden``.

Tolerances: relative 1e-6 for ``count`` figures (MACs, params, bytes and their ratios: graph
arithmetic), 1e-3 for ``sim`` figures (latency, energy, DRAM traffic, throughput).
All claims are computed once per test session with one shared trace cache.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from codesign.cli import main
from codesign.errors import CodesignError
from codesign.reproductions.claims import CLAIMS, VERDICTS, Session, reproduce, run_claims, write_report

pytestmark = pytest.mark.slow  # the reproductions trace and simulate every claim

GOLDEN = Path(__file__).parent / "golden" / "reproductions.json"
REL_TOL = {"count": 1e-6, "sim": 1e-3}


@pytest.fixture(scope="session")
def claims(update_golden):
    out = {c.name: c for c in run_claims(None, Session())}
    if update_golden:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        data = {name: {f.key: {"value": f.value, "kind": f.kind, "unit": f.unit} for f in c.figures}
                for name, c in out.items()}
        GOLDEN.write_text(json.dumps({"claims": data}, indent=1, sort_keys=True) + "\n")
    return out


@pytest.fixture(scope="session")
def golden(claims):
    if not GOLDEN.exists():
        pytest.fail(f"{GOLDEN} is missing; create it with: pytest {__file__} --update-golden")
    return json.loads(GOLDEN.read_text())["claims"]


@pytest.mark.parametrize("name", list(CLAIMS))
def test_figures_match_golden(name, claims, golden):
    assert name in golden, f"claim {name!r} has no golden figures; run with --update-golden"
    figs = {f.key: f for f in claims[name].figures}
    want = golden[name]
    assert set(figs) == set(want), (
        f"{name}: figure keys changed (new {sorted(set(figs) - set(want))}, "
        f"gone {sorted(set(want) - set(figs))}); run with --update-golden if intended")
    moved = []
    for key, spec in want.items():
        f = figs[key]
        assert f.kind == spec["kind"], f"{name}.{key}: kind {f.kind} != golden {spec['kind']}"
        if not math.isclose(f.value, spec["value"], rel_tol=REL_TOL[f.kind], abs_tol=1e-15):
            moved.append(f"{key}: {f.value!r} (golden {spec['value']!r}, {f.kind})")
    assert not moved, f"{name}: figures moved: " + "; ".join(moved)


@pytest.mark.parametrize("name", list(CLAIMS))
def test_claim_is_complete(name, claims):
    c = claims[name]
    assert c.verdict in VERDICTS
    for text in (c.title, c.source, c.paper, c.ours, c.config, c.assumptions):
        assert text.strip()
    if c.verdict in ("close", "disagrees", "not comparable"):
        assert c.gap.strip(), f"{name}: verdict {c.verdict} needs a reason"
    assert c.figures and all(math.isfinite(f.value) for f in c.figures)
    if c.detail:
        assert len({len(r) for r in c.detail}) == 1, "detail rows must match the header"


def test_nl_block_macs_closed_form(claims):
    # papers.md 1.5: C = 1024, N = 196, N' = 49, Ci = 512
    c, n, n2, ci = 1024, 196, 49, 512
    before = n * c * ci + 2 * n2 * c * ci + 2 * n * n2 * ci + n * ci * c
    after = n * c * ci + 2 * n * c * ci + 2 * n * n2 * ci + n * ci * c
    assert (before, after) == (266_735_616, 420_876_288)
    claim = claims["nl_block_macs"]
    assert claim.figure("macs_pool_before") == before
    assert claim.figure("macs_pool_after") == after
    assert claim.verdict == "agrees"


def test_quantized_model_is_a_quarter(claims):
    q = claims["quantization"]
    for f in q.figures:
        if f.key.endswith("size_factor"):
            assert f.value == pytest.approx(4.0)


def test_report_has_every_claim(claims, tmp_path):
    md, js = write_report(list(claims.values()), tmp_path / "r" / "reproductions.md")
    text = md.read_text()
    data = json.loads(js.read_text())
    assert js.name == "reproductions.json"
    assert [c["name"] for c in data["claims"]] == list(CLAIMS)
    for c in claims.values():
        assert c.title in text and f'id="{c.name}"' in text
        if c.gap:
            assert "Why we differ" in text


def test_reproduce_unknown_name():
    with pytest.raises(CodesignError, match="unknown claim 'nl_blok_macs'.*did you mean 'nl_block_macs'"):
        reproduce(["nl_blok_macs"], out=None)


def test_cli_reproduce_one(tmp_path, capsys):
    out = tmp_path / "repro.md"
    assert main(["reproduce", "nl_block_macs", "autonl_size", "--out", str(out)]) == 0
    assert out.exists() and out.with_suffix(".json").exists()
    printed = capsys.readouterr().out
    assert "nl_block_macs" in printed and "autonl_size" in printed


def test_cli_reproduce_unknown(tmp_path, capsys):
    assert main(["reproduce", "nope", "--out", str(tmp_path / "x.md")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown claim 'nope'" in err[0]
    assert not (tmp_path / "x.md").exists()
