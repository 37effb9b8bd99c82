"""Adapter: timm's published benchmark CSVs (``results/benchmark-*.csv`` of
huggingface/pytorch-image-models) -> rows of the published-measurement contract.

How timm measured them (its ``benchmark.py``): one model at a time, random input, AMP fp16
autocast (``--amp``), eval mode and ``torch.no_grad()`` for inference, a training step
(forward, cross-entropy loss, backward, SGD step) for ``train`` files; NCHW or channels-last
(``nhwc`` in the file name); batch size and image size per row; throughput in samples/s.

The file name carries what the rows share:
``benchmark-{infer|train}-amp-{nchw|nhwc}-pt{torch}-cu{cuda}-{gpu}.csv``.

Rows are traced as the network was when measured: the train files are from 2022 (timm 0.5/0.6,
``TIMM_ERA``), and a model whose timm definition changed since (``DEFINITION_CHANGES``: TResNet
then ran InPlace-ABN; two ``*_iabn`` models were removed) gets a workload reference that
rebuilds it (``timm:tresnet_l?rebuild='inplace_abn'``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from codesign.errors import CodesignError
from codesign.published.families import model_family

_NAME = re.compile(r"benchmark-(?P<phase>infer|train)-(?P<prec>amp|fp32|fp16|bf16)-"
                   r"(?P<layout>nchw|nhwc)-pt(?P<pt>\d+)-cu(?P<cu>\d+)-(?P<gpu>[a-z0-9]+)\.csv$")
#: GPU tag in timm's file names -> our preset name
GPU_PRESETS = {"rtx3090": "rtx3090", "rtx4090": "rtx4090", "a100": "a100-sxm4-40gb",
               "v100": "v100-sxm2", "t4": "t4", "l4": "l4", "h100": "h100-sxm"}
#: what the timm results/ files were taken from (shared/data/published/README.md)
TIMM_SOURCE = "huggingface/pytorch-image-models results/ (Apache-2.0)"
TIMM_COMMITS = {"pt240": "commit 5c33776, 2024-09-04"}


#: timm releases the files' rows were measured with, by file tag; the train files are from
#: 2022 (shared/data/published/README.md), timm 0.5 / 0.6
TIMM_ERA = {"pt112": "0.6", "pt113": "0.6"}


@dataclass(frozen=True)
class DefinitionChange:
    """A timm model whose definition changed after a file's rows were measured: models whose
    name matches ``pattern``, measured with a timm before ``changed_in``, are rebuilt as they
    were (``rebuild``) so the traced network is the measured one. A fact about the workload
    (which layers it ran), never a correction of the result."""

    pattern: str
    changed_in: str
    rebuild: str   # a rebuild of codesign.capture.hub.REBUILDS (hub reference ``?rebuild=``)
    note: str
    base: str = ""  # the current timm model to rebuild from ("" = the same name)


#: TResNet used InPlace-ABN (InplaceAbn, leaky_relu) after every conv until timm 0.9, which
#: converted it to BatchNorm + LeakyReLU and remaps the old weights (timm ``tresnet.py``,
#: ``checkpoint_filter_fn``: "convert weight from inplace_abn to batchnorm")
#: densenet264d_iabn and ese_vovnet99b_iabn (timm 0.6: densenet264d / ese_vovnet99b with
#: ``create_norm_act("iabn", act_layer="leaky_relu")`` for every norm) are absent from timm 1.0
DEFINITION_CHANGES = (
    DefinitionChange(r"tresnet_", "0.9", "inplace_abn",
                     "BatchNorm + LeakyReLU was InplaceAbn (leaky_relu) before timm 0.9"),
    DefinitionChange(r"densenet264d_iabn$", "1.0", "inplace_abn",
                     "removed; densenet264d with InplaceAbn (leaky_relu)", base="densenet264d"),
    DefinitionChange(r"ese_vovnet99b_iabn$", "1.0", "inplace_abn",
                     "removed; ese_vovnet99b with InplaceAbn (leaky_relu)",
                     base="ese_vovnet99b"),
)


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def definition_change(model: str, timm_era: str | None) -> DefinitionChange | None:
    """The change of ``model``'s definition since ``timm_era`` (a timm version), or None."""
    if not timm_era:
        return None
    for ch in DEFINITION_CHANGES:
        if re.match(ch.pattern, model) and _version(timm_era) < _version(ch.changed_in):
            return ch
    return None


def as_measured_reference(model: str, timm_era: str) -> str:
    """The workload reference of ``model`` as measured with timm ``timm_era``:
    ``timm:NAME``, or for a changed definition its base rebuilt
    (``timm:densenet264d?rebuild='inplace_abn'``)."""
    ch = definition_change(model, timm_era)
    if ch is None:
        return f"timm:{model}"
    return f"timm:{ch.base or model}?rebuild='{ch.rebuild}'"


def _col(raw: pd.DataFrame, name: str) -> pd.Series:
    return raw[name].astype(float) if name in raw.columns else pd.Series(float("nan"), index=raw.index)


def read_timm(path: str | Path, dataset: str | None = None) -> pd.DataFrame:
    """Rows of one timm benchmark CSV; hardware, layout, phase and precision from its name."""
    path = Path(path)
    m = _NAME.search(path.name)
    if not m:
        raise CodesignError(f"{path}: not a timm benchmark file name; expected "
                            "benchmark-{infer|train}-amp-{nchw|nhwc}-ptNNN-cuNNN-GPU.csv")
    gpu = m["gpu"]
    if gpu not in GPU_PRESETS:
        raise CodesignError(f"{path}: GPU {gpu!r} has no preset mapping; known: "
                            f"{', '.join(sorted(GPU_PRESETS))}")
    raw = pd.read_csv(path)
    pre = "infer" if m["phase"] == "infer" else "train"
    need = ("model", f"{pre}_samples_per_sec", f"{pre}_batch_size", f"{pre}_img_size")
    missing = [c for c in need if c not in raw.columns]
    if missing:
        raise CodesignError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(need)}")
    torch_v = {"240": "2.4.0", "112": "1.12", "113": "1.13", "200": "2.0.0"}.get(m["pt"], m["pt"])
    cuda_v = f"{m['cu'][:-1]}.{m['cu'][-1]}"
    commit = TIMM_COMMITS.get(f"pt{m['pt']}", "")
    era = TIMM_ERA.get(f"pt{m['pt']}", "")
    source = (f"{TIMM_SOURCE} {path.name}" + (f" ({commit})" if commit else "") +
              f"; timm benchmark.py --amp, PyTorch {torch_v} / CUDA {cuda_v}")
    thr = raw[f"{pre}_samples_per_sec"].astype(float)
    batch = raw[f"{pre}_batch_size"].astype(int)
    img = raw[f"{pre}_img_size"].astype(int)
    out = pd.DataFrame({
        "dataset": dataset or path.stem,
        "source": source,
        "workload": [as_measured_reference(name, era)
                     for name in raw["model"].astype(str)],
        "family": raw["model"].map(model_family),
        "input_shape": "3x" + img.astype(str) + "x" + img.astype(str),
        "batch": batch,
        "precision": m["prec"],
        "layout": m["layout"],
        "phase": "inference" if pre == "infer" else "training",
        "hardware": GPU_PRESETS[gpu],
        "runtime": "pytorch",
        "measured_latency_s": batch / thr,
        "measured_throughput_per_s": thr,
        "on_accelerator": True,
        "metric": "throughput_per_s",
        "model": raw["model"].astype(str),
        "step_time_s": _col(raw, f"{pre}_step_time") / 1e3,
        "param_count_m": _col(raw, "param_count"),
        "torch_version": torch_v,
        "timm_era": era,
    })
    if "infer_gmacs" in raw.columns:
        out["published_gmacs"] = raw["infer_gmacs"].astype(float)
    if "infer_macts" in raw.columns:
        out["published_macts_m"] = raw["infer_macts"].astype(float)
    return out


__all__ = ["DEFINITION_CHANGES", "GPU_PRESETS", "DefinitionChange", "as_measured_reference",
           "definition_change", "read_timm"]
