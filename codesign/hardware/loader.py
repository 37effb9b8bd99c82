"""Hardware specs and presets.

    from codesign.hardware import load_hardware, list_hardware
    hw = load_hardware("a100-sxm4-40gb")        # preset name, or a path to a YAML file
    hw.peak_macs_per_s("fp16"); hw.eff("conv.depthwise")
    swept = hw.with_knobs({"sm_count": np.array([54, 108])})   # vectorized copy

Presets are the ``*.yaml`` files next to this module (file name = preset name). Every number
in them carries a source or a stated assumption. Nothing is loaded or cached at import time.
Imports nothing of ours except :mod:`codesign.errors`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from codesign.errors import HardwareError, SpecError, did_you_mean

from codesign.hardware.spec import (
    DTYPES,
    EFFICIENCY_KEYS,
    KINDS,
    LAYOUTS,
    SCHEMA_VERSION,
    AcceleratorSpec,
    CpuSpec,
    DispatchSpec,
    DspSpec,
    EnergySpec,
    FrozenDict,
    GpuSpec,
    HardwareSpec,
    load_spec_dict,
)
from codesign.hardware import spec as _spec
from codesign.config.yaml import check_yaml_bounds, read_yaml_text

__all__ = [
    "AcceleratorSpec", "CpuSpec", "DispatchSpec", "DspSpec", "EnergySpec", "GpuSpec",
    "HardwareSpec", "FrozenDict", "DTYPES", "EFFICIENCY_KEYS", "KINDS", "LAYOUTS",
    "SCHEMA_VERSION", "PRESET_DIR", "load_hardware", "list_hardware", "preset_path",
    "load_spec_dict", "load_spec_file", "parse_yaml",
]

PRESET_DIR = Path(__file__).resolve().parent / "presets"


def parse_yaml(text: str, file: str) -> Any:
    """YAML text -> Python objects with the spec loader (:func:`codesign.hardware.spec.parse_yaml`:
    duplicate keys and syntax errors as SpecError), after the size, alias-expansion and depth
    bounds of :mod:`codesign.config.yaml` (an alias bomb is one line, not a hang)."""
    check_yaml_bounds(text, file)
    return _spec.parse_yaml(text, file)


def list_hardware() -> list[str]:
    """Names of the shipped presets, sorted."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def _normalize(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def preset_path(name: str) -> Path:
    """Path of a preset's YAML file; unknown names raise HardwareError with a suggestion."""
    key = _normalize(name)
    path = PRESET_DIR / f"{key}.yaml"
    if not path.is_file():
        names = list_hardware()
        starts = [n for n in names if n.startswith(key)] if key else []
        if starts:
            hint = f" (did you mean {' or '.join(repr(n) for n in starts)}?)"
        else:
            hint = did_you_mean(key, names)
        raise HardwareError(f"unknown hardware {name!r}{hint}; "
                            f"presets: {', '.join(names)}")
    return path


def _display(path: Path) -> str:
    """The file name errors show: relative to the working directory when under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        try:
            return str(Path("codesign/hardware/presets") / path.resolve().relative_to(PRESET_DIR))
        except ValueError:
            return str(path)


def load_spec_file(path: str | os.PathLike) -> HardwareSpec:
    """Load and validate one YAML spec file."""
    p = Path(path)
    if not p.is_file():
        raise HardwareError(f"hardware file not found: {p}")
    label = _display(p)
    data = parse_yaml(read_yaml_text(p, label), label)
    if data is None:
        raise SpecError(label, "", "empty file")
    return load_spec_dict(data, file=label)


def _looks_like_path(s: str) -> bool:
    return s.endswith((".yaml", ".yml")) or os.sep in s or "/" in s


def load_hardware(name_or_path: str | os.PathLike | HardwareSpec) -> HardwareSpec:
    """A validated :class:`HardwareSpec` from a preset name, a YAML path, or a spec (returned as is).

    A bare name is looked up among presets first; a name ending in .yaml/.yml or containing a
    path separator is a file. Each call reads the file again: nothing is cached globally."""
    if isinstance(name_or_path, HardwareSpec):
        return name_or_path
    if isinstance(name_or_path, os.PathLike):
        return load_spec_file(name_or_path)
    if not isinstance(name_or_path, str):
        raise HardwareError(f"hardware must be a preset name or a YAML path, "
                            f"not {type(name_or_path).__name__}")
    s = name_or_path
    if _looks_like_path(s):
        return load_spec_file(s)
    if _normalize(s) in list_hardware():
        return load_spec_file(preset_path(s))
    if Path(s).is_file():
        return load_spec_file(s)
    preset_path(s)  # raises the did-you-mean error
    raise AssertionError("unreachable")

