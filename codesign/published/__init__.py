"""Published measurements as a first-class input: one loader, one row format, an adapter per
source (``timm.py``, ``qaihub.py``). The data files live in ``codesign/published/data/`` with a
README that keeps their provenance.

``load_published(name_or_path)`` returns a pandas DataFrame, one row per measurement, with the
contract columns :data:`COLUMNS` (and extra columns per source):

==========================  =================================================================
dataset                     dataset name
source                      provenance of the row (file, commit, job)
workload                    reference: ``timm:NAME``, ``torchvision:NAME?k=v``, a zoo name
family                      model family for leave-family-out (codesign.published.families)
input_shape                 per sample, no batch: ``"3x224x224"``
batch                       int
precision                   ``amp`` (CUDA autocast fp16), ``fp32``, ``fp16``, ``int8`` (w8a8),
                            ``w8a16``
layout                      ``nchw`` / ``nhwc``
phase                       ``inference`` / ``training``
hardware                    preset name (``rtx3090``, ``hexagon-v73``)
runtime                     ``pytorch``, ``qnn``, ``qnn_dlc``, ``tflite``, ``onnx``
measured_latency_s          per batch
measured_throughput_per_s   samples/s
on_accelerator              every layer ran on the GPU / NPU
metric                      what the source measured and errors are computed on:
                            ``throughput_per_s`` or ``latency_s``
==========================  =================================================================

A new published table is a small adapter returning these columns, or a CSV that already has
them (``load_published("my_table.csv")`` checks and reads it as is).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from codesign.errors import CodesignError, did_you_mean

COLUMNS = ("dataset", "source", "workload", "family", "input_shape", "batch", "precision",
           "layout", "phase", "hardware", "runtime", "measured_latency_s",
           "measured_throughput_per_s", "on_accelerator", "metric")
PRECISIONS = ("amp", "fp32", "fp16", "bf16", "int8", "w8a16")
PHASES = ("inference", "training")
METRICS = ("throughput_per_s", "latency_s")


@dataclass(frozen=True)
class Dataset:
    """A named dataset: an adapter over one file of ``codesign/published/data``."""

    name: str
    file: str               # relative to the data folder
    reader: str             # "timm" | "qaihub"
    options: tuple = ()
    description: str = ""


DATASETS = {d.name: d for d in (
    Dataset("timm-rtx3090-infer-nchw", "timm/benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv",
            "timm", description="timm inference, AMP, NCHW, RTX 3090, PyTorch 2.4"),
    Dataset("timm-rtx3090-infer-nhwc", "timm/benchmark-infer-amp-nhwc-pt240-cu124-rtx3090.csv",
            "timm", description="timm inference, AMP, channels-last, RTX 3090, PyTorch 2.4"),
    Dataset("timm-rtx3090-train-nchw", "timm/benchmark-train-amp-nchw-pt112-cu113-rtx3090.csv",
            "timm", description="timm training step, AMP, NCHW, RTX 3090, PyTorch 1.12"),
    Dataset("timm-rtx3090-train-nhwc", "timm/benchmark-train-amp-nhwc-pt112-cu113-rtx3090.csv",
            "timm", description="timm training step, AMP, channels-last, RTX 3090, PyTorch 1.12"),
    Dataset("qaihub-snapdragon8gen2", "qaihub/qaihub_snapdragon8gen2.csv", "qaihub",
            (("newest", True),), "AI Hub on-device profiling, Snapdragon 8 Gen 2 (Hexagon v73), "
            "newest job per (model, input, precision, runtime)"),
    Dataset("qaihub-snapdragon8gen2-all", "qaihub/qaihub_snapdragon8gen2.csv", "qaihub",
            (("newest", False),), "AI Hub on-device profiling, every job"),
)}


def data_path(file: str) -> Path:
    """Path of a file in the package's data folder."""
    return Path(str(resources.files("codesign.published") / "data" / file))


def list_published() -> tuple[str, ...]:
    return tuple(DATASETS)


def _reader(kind: str) -> Callable[..., pd.DataFrame]:
    if kind == "timm":
        from codesign.published.timm import read_timm

        return read_timm
    from codesign.published.qaihub import read_qaihub

    return read_qaihub


def check_frame(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """The contract checks: every column present, known phases/metrics, positive numbers."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise CodesignError(f"{where}: missing column(s) {', '.join(missing)}; "
                            f"a published table needs {', '.join(COLUMNS)}")
    for col, allowed in (("phase", PHASES), ("metric", METRICS)):
        bad = sorted(set(frame[col].astype(str)) - set(allowed))
        if bad:
            raise CodesignError(f"{where}: {col} = {bad[0]!r}; allowed: {', '.join(allowed)}")
    for col in ("measured_latency_s", "measured_throughput_per_s", "batch"):
        if not (pd.to_numeric(frame[col], errors="coerce") > 0).all():
            raise CodesignError(f"{where}: {col} must be a positive number on every row")
    return frame


def load_published(name_or_path: str | Path) -> pd.DataFrame:
    """Rows of a named dataset (:func:`list_published`) or of a CSV/Parquet file: a timm
    ``benchmark-*.csv``, the AI Hub CSV, or a table already in the contract columns."""
    key = str(name_or_path)
    if key in DATASETS:
        d = DATASETS[key]
        frame = _reader(d.reader)(data_path(d.file), dataset=d.name, **dict(d.options))
        return check_frame(frame.reset_index(drop=True), d.name)
    path = Path(key)
    if not path.is_file():
        raise CodesignError(f"published dataset {key!r}: neither a dataset name nor a file"
                            f"{did_you_mean(key, DATASETS)}; datasets: {', '.join(DATASETS)}")
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        head = pd.read_csv(path, nrows=0).columns
        if path.name.startswith("benchmark-") and "model" in head:
            frame = _reader("timm")(path)
        elif "constructor" in head and "inference_ms" in head:
            frame = _reader("qaihub")(path)
        else:
            frame = pd.read_csv(path)
    return check_frame(frame.reset_index(drop=True), str(path))


__all__ = [
    "COLUMNS",
    "DATASETS",
    "METRICS",
    "PHASES",
    "PRECISIONS",
    "Dataset",
    "check_frame",
    "data_path",
    "list_published",
    "load_published",
]
