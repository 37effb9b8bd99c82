"""Hardware: the spec schema (:mod:`codesign.hardware.spec`), the loader and the shipped presets
(``codesign/hardware/presets/*.yaml``, file name = preset name)."""

from codesign.hardware.loader import (  # noqa: F401 - the package's public names
    DTYPES, EFFICIENCY_KEYS, KINDS, LAYOUTS, PRESET_DIR, SCHEMA_VERSION, AcceleratorSpec,
    CpuSpec, DispatchSpec, DspSpec, EnergySpec, FrozenDict, GpuSpec, HardwareSpec,
    list_hardware, load_hardware, load_spec_dict, load_spec_file, parse_yaml, preset_path,
)
from codesign.hardware.loader import __all__  # noqa: F401
