"""Adapter: Qualcomm AI Hub on-device profiling (``qai_hub_models/models/*/perf.yaml`` of
quic/ai-hub-models, collected into one CSV) -> rows of the published-measurement contract.

Each source row is one profiling job: model, constructor (how the network is rebuilt), input
shape, device, precision (``float`` runs fp16 on the NPU, ``w8a8`` int8 weights and
activations, ``w8a16`` int8 weights with int16 activations, ``*_mixed_int16`` mixed), runtime
(tflite, qnn, qnn_dlc, onnx), compute unit and layer counts per unit, ``inference_ms``.

* **workload**: the ``constructor`` mapped by :data:`CONSTRUCTORS` to a hub reference
  (``torchvision:resnet50``, ``timm:mobilevit_s``, constructor arguments kept) or to a zoo
  name for networks written from their published definitions (``quicksrnet_small``, ``xlsr``,
  ``sesr_m5``, ``rrdbnet_x4``, ``srvggnet_compact``, ``unet``). ``workload_resolved`` is False
  where that zoo entry does not exist (yet); such rows are reported, never dropped.
* **precision**: float -> ``fp16``, w8a8 -> ``int8``, w8a16 -> ``w8a16``; mixed precisions keep
  their published name.
* **on_accelerator**: every layer ran on the NPU (``layers_npu == layers_total``).
* **newest** (default): the same model re-profiled by successive toolchain releases spreads by
  about 22% (shared/data/published/README.md), so one row per (model, input shape, precision,
  runtime) is kept: the newest ``source_commit_date``; among jobs of that date, all-NPU rows
  first, then the phone (Galaxy S23) before the QCS8550 proxy, then the smaller latency.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from codesign.errors import CodesignError
from codesign.published.families import model_family

PRECISIONS = {"float": "fp16", "w8a8": "int8", "w8a16": "w8a16"}
#: constructor text (regex, matched at the start) -> zoo workload name
CONSTRUCTORS = (
    (r"QuickSRNetBase\(4, 64 ch, 11 layers", "quicksrnet_large"),
    (r"QuickSRNetBase\(4, 32 ch, 5 layers", "quicksrnet_medium"),
    (r"QuickSRNetBase\(4, 32 ch, 2 layers", "quicksrnet_small"),
    (r"ESRGAN RRDBNet", "rrdbnet_x4"),
    (r"basicsr RRDBNet", "rrdbnet_x4"),
    (r"SESRRelease", "sesr_m5"),
    (r"XLSRRelease", "xlsr"),
    (r"SRVGGNetCompact", "srvggnet_compact"),
    (r"UNet", "unet"),
)
SOURCE = "quic/ai-hub-models (BSD-3-Clause)"
NEED = ("model", "constructor", "input_shape", "device", "precision", "runtime",
        "compute_unit", "inference_ms", "layers_total", "layers_npu", "source_commit",
        "source_commit_date", "job_id", "path")


def constructor_workload(constructor: str) -> str:
    """Workload reference of an AI Hub ``constructor`` text ('' when unknown).

    >>> constructor_workload(
    ...     "torchvision.models.segmentation.deeplabv3_resnet50(num_classes=21, aux_loss=False)['out']")
    'torchvision:deeplabv3_resnet50?num_classes=21&aux_loss=False'
    >>> constructor_workload("timm mobilevit_s at 256 (HF apple/mobilevit-small)")
    'timm:mobilevit_s'
    """
    c = str(constructor).strip()
    m = re.match(r"torchvision\.models\.(?:segmentation\.|detection\.|video\.)?([A-Za-z0-9_]+)"
                 r"(?:\(([^)]*)\))?", c)
    if m:
        args = "&".join(a.strip().replace(" ", "") for a in (m[2] or "").split(",") if a.strip())
        return f"torchvision:{m[1]}" + (f"?{args}" if args else "")
    m = re.match(r"timm ([A-Za-z0-9_]+)", c)
    if m:
        return f"timm:{m[1]}"
    for pattern, name in CONSTRUCTORS:
        if re.match(pattern, c):
            return name
    return ""


def _zoo_names() -> frozenset:
    try:
        from codesign.zoo import WORKLOADS
    except ImportError:  # pragma: no cover - the zoo needs torch, a core dependency
        return frozenset()
    return frozenset(WORKLOADS)


def read_qaihub(path: str | Path, dataset: str | None = None, newest: bool = True,
                hardware: str = "hexagon-v73") -> pd.DataFrame:
    """Rows of the AI Hub CSV (see module docstring); ``newest`` keeps one job per key."""
    path = Path(path)
    raw = pd.read_csv(path)
    missing = [c for c in NEED if c not in raw.columns]
    if missing:
        raise CodesignError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(NEED)}")
    layers_npu = raw["layers_npu"].fillna(0).astype(int)
    on_acc = (raw["compute_unit"] == "NPU") & (layers_npu == raw["layers_total"].astype(int))
    raw = raw.assign(_on_acc=on_acc, _phone=raw["device"].str.startswith("Samsung"))
    if newest:
        raw = raw.sort_values(["source_commit_date", "_on_acc", "_phone", "inference_ms"],
                              ascending=[True, True, True, False], kind="stable")
        raw = raw.drop_duplicates(["model", "input_shape", "precision", "runtime"], keep="last")
        raw = raw.sort_values(["model", "input_shape", "precision", "runtime"], kind="stable")
    raw = raw.reset_index(drop=True)
    layers_npu = raw["layers_npu"].fillna(0).astype(int)
    workloads = raw["constructor"].map(constructor_workload)
    zoo = _zoo_names()
    resolved = workloads.map(lambda w: bool(w) and (":" in w or w in zoo))
    shapes = raw["input_shape"].astype(str).str.split("x")
    lat = raw["inference_ms"].astype(float) / 1e3
    fam_src = workloads.where(workloads != "", raw["model"])
    out = pd.DataFrame({
        "dataset": dataset or path.stem,
        "source": (SOURCE + " " + raw["path"].astype(str) + " @" + raw["source_commit"].str[:7] +
                   " (" + raw["source_commit_date"].astype(str) + "), job " + raw["job_id"].astype(str) +
                   ", " + raw["device"].astype(str)),
        "workload": workloads,
        "family": fam_src.map(model_family),
        "input_shape": shapes.map(lambda s: "x".join(s[1:])),
        "batch": shapes.map(lambda s: int(s[0])),
        "precision": raw["precision"].map(lambda p: PRECISIONS.get(p, p)),
        "layout": "nhwc",
        "phase": "inference",
        "hardware": hardware,
        "runtime": raw["runtime"].astype(str),
        "measured_latency_s": lat,
        "measured_throughput_per_s": shapes.map(lambda s: int(s[0])) / lat,
        "on_accelerator": raw["_on_acc"].astype(bool),
        "metric": "latency_s",
        "model": raw["model"].astype(str),
        "constructor": raw["constructor"].astype(str),
        "workload_resolved": resolved.astype(bool),
        "published_precision": raw["precision"].astype(str),
        "device": raw["device"].astype(str),
        "compute_unit": raw["compute_unit"].astype(str),
        "layers_total": raw["layers_total"].astype(int),
        "layers_npu": layers_npu,
        "layers_gpu": raw.get("layers_gpu", pd.Series(0, index=raw.index)).fillna(0).astype(int),
        "layers_cpu": raw.get("layers_cpu", pd.Series(0, index=raw.index)).fillna(0).astype(int),
        "date": raw["source_commit_date"].astype(str),
        "job_id": raw["job_id"].astype(str),
    })
    return out


__all__ = ["CONSTRUCTORS", "PRECISIONS", "constructor_workload", "read_qaihub"]
