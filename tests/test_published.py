"""Published measurements: hub references, the loader on a slice of each dataset, model
families, metrics on hand-made rows, validate --published end to end on tiny models."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from codesign.errors import CodesignError, WorkloadError
from codesign.published import COLUMNS, DATASETS, load_published
from codesign.published.families import model_family
from codesign.published.qaihub import constructor_workload
from codesign.validation.metrics import error_summary, grouped_summary, spearman

# ----------------------------------------------------------------------------- loader

@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_dataset_loads_with_contract_columns(name):
    df = load_published(name)
    assert all(c in df.columns for c in COLUMNS)
    assert len(df) > 100 or name == "qaihub-snapdragon8gen2" and len(df) > 200
    assert (df["measured_latency_s"] > 0).all() and (df["batch"] >= 1).all()
    assert np.allclose(df["measured_throughput_per_s"] * df["measured_latency_s"], df["batch"])


def test_timm_slice_pinned():
    df = load_published("timm-rtx3090-infer-nchw").set_index("model")
    r = df.loc["test_vit"]      # first row of the file: test_vit,160,109337.21,9.356,1024,0.37,0.04,0.48
    assert r["workload"] == "timm:test_vit" and r["family"] == "test"
    assert r["input_shape"] == "3x160x160" and r["batch"] == 1024
    assert r["precision"] == "amp" and r["layout"] == "nchw" and r["phase"] == "inference"
    assert r["hardware"] == "rtx3090" and r["runtime"] == "pytorch" and bool(r["on_accelerator"])
    assert r["measured_throughput_per_s"] == pytest.approx(109337.21)
    assert r["measured_latency_s"] == pytest.approx(1024 / 109337.21)
    assert r["published_gmacs"] == pytest.approx(0.04) and r["metric"] == "throughput_per_s"
    assert "2.4.0" in r["source"] and "5c33776" in r["source"]


def test_timm_train_slice_pinned():
    df = load_published("timm-rtx3090-train-nhwc").set_index("model")
    r = df.loc["tinynet_e"]      # tinynet_e,11915.85,41.681,512,106,2.04
    assert r["phase"] == "training" and r["layout"] == "nhwc" and r["batch"] == 512
    assert r["input_shape"] == "3x106x106"
    assert r["measured_throughput_per_s"] == pytest.approx(11915.85)
    assert r["step_time_s"] == pytest.approx(0.041681)
    assert r["family"] == "tinynet" and "1.12" in r["source"]


def test_qaihub_slice_newest_job_and_mapping():
    df = load_published("qaihub-snapdragon8gen2")
    keys = ["model", "input_shape", "precision", "runtime"]
    assert not df.duplicated(keys).any()
    r = df[(df.model == "convnext_tiny") & (df.precision == "int8") & (df.runtime == "qnn")].iloc[0]
    assert r["workload"] == "torchvision:convnext_tiny" and r["family"] == "convnext"
    assert r["measured_latency_s"] == pytest.approx(0.001700) and r["date"] == "2025-02-14"
    assert r["hardware"] == "hexagon-v73" and r["metric"] == "latency_s" and r["batch"] == 1
    every = load_published("qaihub-snapdragon8gen2-all")
    same = every[(every.model == "convnext_tiny") & (every.precision == "int8") & (every.runtime == "qnn")]
    assert r["date"] == same["date"].max() and len(same) >= 1
    # on_accelerator from the layer counts
    assert (df["on_accelerator"] == ((df["layers_npu"] == df["layers_total"]) &
                                     (df["compute_unit"] == "NPU"))).all()
    # super-resolution nets map to zoo names, marked unresolved until the zoo has them
    sr = df[df.model == "xlsr"]
    assert set(sr["workload"]) == {"xlsr"}
    assert set(df["precision"]) >= {"fp16", "int8", "w8a16"}


def test_qaihub_constructors():
    assert constructor_workload("torchvision.models.resnet50") == "torchvision:resnet50"
    assert (constructor_workload("torchvision.models.inception_v3(transform_input=False) at 224")
            == "torchvision:inception_v3?transform_input=False")
    assert constructor_workload("timm nasnetalarge at 224") == "timm:nasnetalarge"
    assert constructor_workload("QuickSRNetBase(4, 32 ch, 2 layers) from aimet-model-zoo") == "quicksrnet_small"
    assert constructor_workload("ESRGAN RRDBNet(3, 3, 64, 23, gc=32)") == "rrdbnet_x4"
    assert constructor_workload("something else") == ""


def test_contract_csv_and_errors(tmp_path):
    df = load_published("timm-rtx3090-infer-nchw").head(5)
    path = tmp_path / "mine.csv"
    df.to_csv(path, index=False)
    back = load_published(str(path))
    assert list(back["workload"]) == list(df["workload"])
    with pytest.raises(CodesignError, match="did you mean 'timm-rtx3090-infer-nchw'"):
        load_published("timm-rtx3090-infer-ncwh")
    df.drop(columns=["family"]).to_csv(path, index=False)
    with pytest.raises(CodesignError, match="missing column.*family"):
        load_published(str(path))


@pytest.mark.parametrize("name,family", [
    ("resnet50d", "resnet"), ("seresnext101_32x4d", "resnet"), ("wide_resnet50_2", "resnet"),
    ("resnetv2_50x1_bit", "resnet"), ("tf_efficientnet_b3", "efficientnet"),
    ("efficientnetv2_rw_s", "efficientnetv2"), ("convnext_tiny", "convnext"),
    ("convnextv2_atto", "convnextv2"), ("inception_next_tiny", "inception_next"),
    ("inception_v3", "inception"), ("mobilenetv3_large_100", "mobilenetv3"),
    ("torchvision:mobilenet_v2", "mobilenetv2"), ("regnety_032", "regnet"),
    ("regnet_x_3_2gf", "regnet"), ("dm_nfnet_f0", "nfnet"), ("dla102x2", "dla"),
    ("res2net50_26w_4s", "res2net"), ("vit_base_patch16_224.augreg_in21k", "vit"),
    ("swinv2_cr_tiny_ns_224", "swinv2"), ("cs3darknet_focus_l", "cspnet"),
    ("eca_botnext26ts_256", "botnet"), ("quicksrnet_small", "quicksrnet"), ("sesr_m5", "sesr"),
])
def test_model_family(name, family):
    assert model_family(name) == family


# ----------------------------------------------------------------------------- metrics

def test_metrics_hand_made():
    measured = [100.0, 200.0, 50.0, 10.0]
    predicted = [110.0, 150.0, 50.0, 13.0]      # +10%, -25%, 0%, +30%
    s = error_summary(predicted, measured)
    assert s["n"] == 4 and s["n_invalid"] == 0
    assert s["mape"] == pytest.approx((0.10 + 0.25 + 0.0 + 0.30) / 4)
    assert s["median_ape"] == pytest.approx((0.10 + 0.25) / 2)
    assert s["within_10"] == pytest.approx(0.5)       # 10% counts as within
    assert s["within_20"] == pytest.approx(0.5)
    assert s["bias"] == pytest.approx((0.10 - 0.25 + 0.0 + 0.30) / 4)
    assert s["spearman"] == pytest.approx(1.0)        # same ranks: 3, 4, 2, 1 on both sides
    # one swapped pair of four: 1 - 6 * (1 + 1) / (4 * (16 - 1)) = 0.8
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_metrics_invalid_rows_counted():
    s = error_summary([1.0, float("nan"), 2.0], [1.0, 1.0, 0.0])
    assert s["n"] == 1 and s["n_invalid"] == 2 and s["mape"] == 0.0
    assert math.isnan(error_summary([], [])["mape"])
    frame = pd.DataFrame({"g": ["a", "a", "b"], "p": [1.0, 3.0, 2.0], "m": [1.0, 2.0, 1.0]})
    g = grouped_summary(frame, "g", "p", "m").set_index("g")
    assert g.loc["a", "mape"] == pytest.approx(0.25) and g.loc["b", "mape"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- hub references

def test_hub_reference_parsing_and_errors():
    from codesign.capture.hub import parse_hub_reference
    from codesign.capture.references import resolve_workload

    ref = parse_hub_reference("timm:convnext_tiny?drop_path_rate=0&ls_init_value=1e-6&x='a'")
    assert ref.hub == "timm" and ref.name == "convnext_tiny"
    assert dict(ref.kwargs) == {"drop_path_rate": 0, "ls_init_value": 1e-6, "x": "a"}
    with pytest.raises(WorkloadError, match="did you mean 'resnet50'"):
        resolve_workload("timm:resnet5O")
    with pytest.raises(WorkloadError, match="torchvision has no model"):
        resolve_workload("torchvision:resnet5")
    with pytest.raises(WorkloadError, match="expected key=value"):
        resolve_workload("timm:resnet18?x")


def test_timm_deprecated_names_build_the_architecture_they_denote():
    """timm maps ig_resnext101_32x16d (and 32x32d / 32x48d) to resnext101_32x8d; the
    train files measured the 32x16d model (130 img/s vs 276 for 32x8d)."""
    from codesign.capture.hub import build_hub_model, parse_hub_reference

    def params(name):
        model = build_hub_model(parse_hub_reference(f"timm:{name}"))
        return sum(p.numel() for p in model.parameters())

    assert params("ig_resnext101_32x16d") == 194_026_792    # timm's resnext101_32x16d
    assert params("ig_resnext101_32x48d") == 828_411_176    # the train file: 828.41M
    assert params("ssl_resnext50_32x4d") == 25_028_904       # timm's own mapping kept


def test_hub_missing_extra_is_one_line(monkeypatch):
    import builtins

    from codesign.capture.references import resolve_workload

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "timm" or name.startswith("timm."):
            raise ImportError("No module named 'timm'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(WorkloadError) as e:
        resolve_workload("timm:resnet18")
    msg = str(e.value)
    assert "\n" not in msg and "codesign[hub]" in msg and "torch==2.14.1" in msg


@pytest.mark.slow
def test_trace_real_hub_models():
    from codesign.capture.references import trace_workload

    wl, g = trace_workload("torchvision:mobilenet_v3_small")
    assert wl.input_shape == (1, 3, 224, 224)
    assert g.params_count == 2_542_856          # torchvision's documented parameter count
    assert 55e6 < g.macs < 60e6                 # torchvision: 0.06 GFLOPS (MACs)
    wl, g = trace_workload("timm:resnet18", input_shape=(2, 3, 160, 160))
    assert g.params_count == 11_689_512 and g.inputs[0].shape == (2, 3, 160, 160)
    wl, _ = trace_workload("torchvision:inception_v3?transform_input=False")
    assert wl.input_shape == (1, 3, 299, 299)   # default weights' crop


# ----------------------------------------------------------------------------- validate

def _rows(n=3):
    df = load_published("timm-rtx3090-infer-nchw").set_index("model")
    df = df.loc[["test_vit", "test_byobnet", "test_efficientnet"][:n]].reset_index()
    df["batch"] = 2                       # keep the test cheap; measured figures stay as given
    return df


@pytest.mark.slow
def test_validate_published_end_to_end(tmp_path):
    from codesign.capture.cache import TraceCache
    from codesign.reporting.published import write_published_report
    from codesign.validation.published import validate_published

    frame = _rows()
    bad = frame.iloc[[0]].assign(workload="timm:no_such_model_xyz", family="zz")
    w8 = frame.iloc[[1]].assign(precision="w8a16")
    frame = pd.concat([frame, bad, w8], ignore_index=True)
    cache = TraceCache(tmp_path / "cache")
    calls = []
    res = validate_published(frame, "rtx3090", cache=cache, progress=lambda *a: calls.append(a))
    s = res.summary()
    assert s["rows"] == 5 and s["scored"] == 3
    assert s["untraceable"] == {"workload_error": 1, "unsupported_precision": 1}
    ok = res.scored
    assert (ok["predicted"] > 0).all() and (ok["roofline_predicted"] > ok["predicted"]).all()
    assert ok["ape"].to_numpy() == pytest.approx(
        (abs(ok["predicted"] - ok["measured"]) / ok["measured"]).to_numpy())
    assert calls and calls[-1][0] == calls[-1][1]
    # second run: every graph (and the failure) comes from the cache
    again = validate_published(frame, "rtx3090", cache=cache)
    assert again.rows["predicted"].equals(res.rows["predicted"])
    files = write_published_report(res, tmp_path / "out")
    assert any(f.endswith("published_scatter.png") for f in files)
    assert pd.read_parquet(tmp_path / "out" / "rows.parquet").shape[0] == 5


def test_run_settings():
    from codesign.validation.published import run_settings

    s = run_settings("amp", "pytorch", "nhwc", "training")
    assert s.mode == "eager" and s.layout == "nhwc" and s.trace_phase == "train" and s.optimizer == "sgd"
    assert s.dtype in ("amp", "fp16")
    assert run_settings("int8", "qnn", "nhwc", "inference").mode == "fused"
    assert run_settings("w8a8_mixed_int16", "qnn", "nhwc", "inference").startswith("unsupported_precision")


@pytest.mark.slow
def test_cli_validate_published(tmp_path, capsys):
    from codesign.cli.main import main

    rc = main(["validate", "--published", "timm-rtx3090-infer-nchw", "--hw", "rtx3090",
               "--family", "test", "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "o"),
               "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "roofline" in out and "MAPE" in out
    assert (tmp_path / "o" / "report.md").is_file()
    assert main(["validate", "--published", "nope", "--hw", "rtx3090"]) == 2
    assert main(["validate", "--hw", "rtx3090"]) == 2


@pytest.mark.slow
def test_cli_calibrate_published(tmp_path, capsys):
    from codesign.cli.main import main
    from codesign.hardware import load_hardware

    out = tmp_path / "fitted.yaml"
    rows = pd.concat([_rows(), _rows(1).assign(batch=16)], ignore_index=True)
    rows["family"] = ["a", "b", "c", "d"]           # four families: LFO fits on three rows
    rows.to_csv(tmp_path / "rows.csv", index=False)
    rc = main(["calibrate", "--published", str(tmp_path / "rows.csv"), "--hw", "rtx3090",
               "--cache", str(tmp_path / "c"), "--out", str(out), "--no-progress", "--report",
               str(tmp_path / "r")])
    text = capsys.readouterr().out
    assert rc == 0 and "leave_family_out" in text and "in_sample" in text
    hw = load_hardware(str(out))
    assert hw.source.startswith("fitted to: ") and "rows 4" in hw.source
    assert 0 < hw.efficiency["matmul"] <= 1
    assert (tmp_path / "r" / "parameters.csv").is_file()
    assert main(["calibrate", "--published", "timm-rtx3090-infer-nchw", "--hw", "rtx3090"]) == 2


def test_trace_cache_roundtrip(tmp_path):
    from codesign.capture.cache import TraceCache

    cache = TraceCache(tmp_path)
    k1 = cache.key("timm:resnet18", (1, 3, 224, 224))
    k2 = cache.key("timm:resnet18", (2, 3, 224, 224))
    k3 = cache.key("resnet50", (1, 3, 224, 224))
    assert len({k1, k2, k3}) == 3
    assert k1.split("/")[0] != k3.split("/")[0]      # hub traces do not depend on the zoo
    assert cache.get(k1) is None and cache.get_failure(k1) is None
    cache.put(k1, {"graph": 1})
    cache.put_failure(k2, "trace_error: boom")
    assert cache.get(k1) == {"graph": 1} and cache.get_failure(k2) == "trace_error: boom"
    assert TraceCache(tmp_path).get(k1) == {"graph": 1}
    assert not TraceCache.cacheable("my.py:build") and TraceCache.cacheable("timm:x")


@pytest.mark.slow
def test_public_api_validate_and_calibrate_take_published(tmp_path):
    """design.md: codesign.validate(published=..., hardware=...) and
    codesign.calibrate(published=..., hardware=..., out=...) are the published-data calls."""
    import codesign

    frame = _rows(3)
    res = codesign.validate(published=frame, hardware="rtx3090", out=tmp_path / "v")
    assert res.summary()["scored"] == 3 and (tmp_path / "v" / "rows.parquet").is_file()
    fit = codesign.calibrate(published=frame, hardware="rtx3090", out=tmp_path / "fit.yaml",
                             lfo=False)
    assert fit.spec is not None and (tmp_path / "fit.yaml").is_file()
    with pytest.raises(codesign.CodesignError, match="not both"):
        codesign.validate("resnet50", published=frame)


@pytest.mark.slow
def test_torchvision_backbone_weights_are_never_downloaded(monkeypatch):
    """Segmentation builders load an ImageNet backbone by default; tracing needs none."""
    import torch.hub

    def no_download(*a, **k):
        raise AssertionError("tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    from codesign.capture.references import trace_workload

    _, graph = trace_workload("torchvision:deeplabv3_resnet50?num_classes=21&aux_loss=False",
                              input_shape=(1, 3, 64, 64))
    assert graph.macs > 0


def test_roofline_latency_shares_floors_of_equal_ops_and_sums_as_before():
    """The plain roofline costs ops of equal ``cost_key`` once: the total equals, bit for
    bit, the per-op sum of the floors in graph order (the pre-memo computation), on a net that
    repeats blocks of equal and of different shapes (a key that ignored shapes would fail)."""
    import torch.nn as nn

    import codesign
    from codesign.cost.base import cost_key
    from codesign.cost.roofline import roofline_floor
    from codesign.simulation import make_context
    from codesign.validation.published import roofline_latency_s

    def block(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]

    net = nn.Sequential(*block(3, 16), *block(16, 16), *block(16, 16), *block(16, 32),
                        *block(32, 32), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    g = codesign.trace(net, (2, 3, 32, 32))
    keys = [cost_key(op) for op in g.ops if op.supported]
    assert len(set(keys)) < len(keys), "no repeated op: the sharing is not exercised"
    for preset, dtype in (("rtx3090", "fp16"), ("host-cpu", "fp32")):
        hw = codesign.load_hardware(preset)
        ctx = make_context(hw, dtype, "eager", "nchw")
        plain = float(sum(float(np.asarray(roofline_floor(op, hw, ctx))) for op in g.ops
                          if op.supported))
        assert roofline_latency_s(g, hw, ctx) == plain
        assert len({float(np.asarray(roofline_floor(op, hw, ctx))) for op in g.ops
                    if op.kind.value == "conv"}) > 1
