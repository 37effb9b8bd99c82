"""Hardware spec schema, loader, presets and knobs (hw_models/)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import yaml

from codesign.errors import CodesignError, HardwareError, SpecError
from codesign.hardware import (
    DTYPES,
    EFFICIENCY_KEYS,
    HardwareSpec,
    list_hardware,
    load_hardware,
    load_spec_dict,
)


REQUIRED_PRESETS = {
    "v100-sxm2", "p100", "t4", "a100-sxm4-40gb", "a100-sxm4-80gb", "h100-sxm", "h200",
    "rtx2080ti", "rtx3090", "rtx4090", "l4", "jetson-agx-orin", "hexagon-v68", "hexagon-v73",
    "hexagon-v75", "hexagon-v79", "condensation-accelerator", "host-cpu",
}
REQUIRED_KNOBS = {
    "gpu": {"clock_hz", "dram_bandwidth_bytes_per_s", "sm_count", "l2_bytes"},
    "dsp": {"clock_hz", "dram_bandwidth_bytes_per_s", "hvx_units", "vtcm_bytes",
            "dma_bandwidth_bytes_per_s"},
    "accelerator": {"clock_hz", "dram_bandwidth_bytes_per_s", "sram_bytes", "mac_count"},
    "cpu": {"clock_hz", "dram_bandwidth_bytes_per_s", "cores"},
}


def preset_dict(name: str = "a100-sxm4-40gb") -> dict:
    """A preset as a plain dict, to break one key at a time."""
    return copy.deepcopy(load_hardware(name).to_dict())


def error_of(d: dict, file: str = "hw_models/x.yaml") -> SpecError:
    with pytest.raises(SpecError) as info:
        load_spec_dict(d, file=file)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(file + ": ")
    return info.value


# --------------------------------------------------------------------------- presets


def test_required_presets_ship():
    assert REQUIRED_PRESETS <= set(list_hardware())


@pytest.mark.parametrize("name", list_hardware())
def test_preset_loads(name):
    spec = load_hardware(name)
    assert isinstance(spec, HardwareSpec)
    assert spec.name == name
    assert spec.source.strip() and spec.notes.strip() and spec.energy.source.strip()
    assert spec.unit is getattr(spec, spec.kind)
    for dt in spec.dtypes:
        peak = spec.peak_macs_per_s(dt)
        assert peak > 0
        assert spec.energy.mac_pj[dt] > 0
    for key in EFFICIENCY_KEYS:
        assert 0 < spec.eff(key) <= 1
    assert REQUIRED_KNOBS[spec.kind] <= set(spec.knob_names())


def test_headline_numbers_match_datasheets():
    # closed-form checks against the published dense peaks (hardware.md §1.2); MAC/s = FLOPS / 2
    a100 = load_hardware("a100-sxm4-40gb")
    assert a100.peak_macs_per_s("fp16") * 2 == pytest.approx(312e12, rel=0.01)
    assert a100.peak_macs_per_s("tf32") * 2 == pytest.approx(156e12, rel=0.01)
    assert a100.peak_macs_per_s("int8") * 2 == pytest.approx(624e12, rel=0.01)
    assert a100.peak_macs_per_s("fp32") * 2 == pytest.approx(19.5e12, rel=0.01)
    h100 = load_hardware("h100-sxm")
    assert h100.peak_macs_per_s("fp16") * 2 == pytest.approx(989.4e12, rel=0.01)
    t4 = load_hardware("t4")
    assert t4.peak_macs_per_s("fp16") * 2 == pytest.approx(65e12, rel=0.01)
    assert t4.peak_macs_per_s("fp32") * 2 == pytest.approx(8.1e12, rel=0.01)
    l4 = load_hardware("l4")
    assert l4.peak_macs_per_s("int8") * 2 == pytest.approx(242.5e12, rel=0.01)
    assert load_hardware("rtx4090").peak_macs_per_s("fp16") * 2 == pytest.approx(165.2e12, rel=0.01)
    assert load_hardware("h200").dram_bandwidth_bytes_per_s == 4.8e12


def test_unsupported_dtype_and_unit_rates():
    v100 = load_hardware("v100-sxm2")
    with pytest.raises(HardwareError, match="'bf16' is not supported by 'v100-sxm2'"):
        v100.peak_macs_per_s("bf16")
    with pytest.raises(HardwareError, match="did you mean 'fp16'"):
        v100.peak_macs_per_s("fp61")
    # depthwise runs on CUDA cores: vector rate is below the tensor rate
    assert v100.vector_macs_per_s("fp16") < v100.peak_macs_per_s("fp16")
    p100 = load_hardware("p100")  # no tensor cores: fp16 = packed half2 on CUDA cores
    assert p100.peak_macs_per_s("fp16") == 2 * p100.peak_macs_per_s("fp32")
    hex68 = load_hardware("hexagon-v68")
    assert hex68.peak_macs_per_s("int8") > hex68.vector_macs_per_s("int8")  # HMX over HVX
    acc = load_hardware("condensation-accelerator")
    assert acc.accelerator.cross_channel_pool and "ccp" in acc.layouts
    assert acc.peak_macs_per_s("int8") == acc.accelerator.mac_count * acc.clock_hz


# --------------------------------------------------------------------------- loader


def test_unknown_preset_name_suggests():
    with pytest.raises(HardwareError, match=r"unknown hardware 'a100-sxm4-40g'.*did you mean 'a100-sxm4-40gb'"):
        load_hardware("a100-sxm4-40g")


def test_name_normalisation_and_spec_passthrough():
    spec = load_hardware("A100_SXM4_40GB")
    assert spec.name == "a100-sxm4-40gb"
    assert load_hardware(spec) is spec


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(HardwareError) as info:
        load_hardware(str(tmp_path / "nope.yaml"))
    assert "not found" in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, CodesignError)


def test_yaml_path_loads_and_yaml12_floats(tmp_path):
    text = load_hardware("t4").to_yaml().replace("clock_hz: 1590000000.0", "clock_hz: 1.2e9")
    p = tmp_path / "mine.yaml"
    p.write_text(text)
    spec = load_hardware(p)
    assert spec.clock_hz == 1.2e9 and isinstance(spec.clock_hz, float)
    assert load_hardware(str(p)).clock_hz == 1.2e9


def test_yaml_syntax_and_duplicate_keys(tmp_path):
    p = tmp_path / "dup.yaml"
    p.write_text("schema_version: 1\nname: a\nname: b\n")
    with pytest.raises(SpecError, match=r"dup.yaml: name: duplicate key at line 3"):
        load_hardware(p)
    p.write_text("schema_version: [1\n")
    with pytest.raises(SpecError, match=r"invalid YAML"):
        load_hardware(p)
    p.write_text("")
    with pytest.raises(SpecError, match="empty file"):
        load_hardware(p)


# --------------------------------------------------------------------------- schema errors


def test_unknown_key_did_you_mean_with_path():
    d = preset_dict()
    d["gpu"]["sm_cont"] = d["gpu"].pop("sm_count")
    err = error_of(d)
    assert err.key == "gpu.sm_cont"
    assert str(err) == ("hw_models/x.yaml: gpu.sm_cont: unknown key 'sm_cont' "
                        "(did you mean 'sm_count'?)")


def test_unknown_top_level_and_efficiency_keys():
    d = preset_dict()
    d["clock_hertz"] = 1e9
    assert "did you mean 'clock_hz'" in str(error_of(d))
    d = preset_dict()
    d["efficiency"]["conv.depthwize"] = 0.3
    err = error_of(d)
    assert err.key == "efficiency.conv.depthwize"
    assert "did you mean 'conv.depthwise'" in str(err)
    d = preset_dict()
    d["energy"]["mac_pj"]["fp64"] = 1.0
    assert "energy.mac_pj.fp64: unknown key 'fp64'" in str(error_of(d))


@pytest.mark.parametrize("path, value, expected", [
    ("gpu.sm_count", -3, "hw_models/x.yaml: gpu.sm_count = -3; expected a positive integer"),
    ("gpu.sm_count", 1.5, "hw_models/x.yaml: gpu.sm_count = 1.5; expected a positive integer"),
    ("gpu.sm_count", "many", "hw_models/x.yaml: gpu.sm_count = 'many'; expected a positive integer"),
    ("gpu.sm_count", True, "hw_models/x.yaml: gpu.sm_count = true; expected a positive integer"),
    ("clock_hz", 0, "hw_models/x.yaml: clock_hz = 0; expected a positive number"),
    ("dram_latency_s", -1e-9, "hw_models/x.yaml: dram_latency_s = -1e-09; expected a number >= 0"),
    ("efficiency.memory", 1.2, "hw_models/x.yaml: efficiency.memory = 1.2; expected a number in (0, 1]"),
    ("kind", "tpu", "hw_models/x.yaml: kind = 'tpu'; allowed: gpu, dsp, cpu, accelerator (did you mean 'gpu'?)"),
    ("schema_version", 2, "hw_models/x.yaml: schema_version = 2; allowed: 1"),
    ("dtypes", ["fp32", "fp8"], "hw_models/x.yaml: dtypes[1] = 'fp8'; allowed: fp32, tf32, fp16, bf16, int8, w8a16"),
    ("layouts", ["nchw", "nhwcc"], "hw_models/x.yaml: layouts[1] = 'nhwcc'; allowed: nchw, nhwc, ccp (did you mean 'nhwc'?)"),
    ("layouts", [], "hw_models/x.yaml: layouts = []; expected a non-empty list from: nchw, nhwc, ccp"),
    ("energy.dram_pj_per_byte", -5, "hw_models/x.yaml: energy.dram_pj_per_byte = -5; expected a number >= 0"),
    ("gpu", [1, 2], "hw_models/x.yaml: gpu = [1, 2]; expected a mapping of keys"),
    ("source", "", "hw_models/x.yaml: source = ''; expected a non-empty string"),
])
def test_bad_values_one_line(path, value, expected):
    d = preset_dict()
    *parents, leaf = path.split(".", 1) if path.startswith("efficiency.") else path.split(".")
    node = d
    for p in parents:
        node = node[p]
    node[leaf] = value
    err = error_of(d)
    assert str(err) == expected
    assert err.key == (path if not path.startswith(("dtypes", "layouts")) or value == []
                       else f"{path}[1]")
    assert err.file == "hw_models/x.yaml"


def test_bad_dsp_vector_width_lists_allowed():
    d = preset_dict("hexagon-v68")
    d["dsp"]["vector_width_bits"] = 96
    assert str(error_of(d)) == "hw_models/x.yaml: dsp.vector_width_bits = 96; allowed: 512, 1024"


def test_missing_required_key_and_section():
    d = preset_dict()
    del d["gpu"]["sm_count"]
    err = error_of(d)
    assert err.key == "gpu.sm_count" and "missing required key" in str(err)
    d = preset_dict()
    del d["gpu"]
    assert "gpu: missing required section for kind 'gpu'" in str(error_of(d))


def test_cross_checks():
    d = preset_dict()
    del d["energy"]["mac_pj"]["bf16"]
    assert "energy.mac_pj: missing entry for supported dtype 'bf16'" in str(error_of(d))
    d = preset_dict("v100-sxm2")
    d["dtypes"].append("bf16")
    d["energy"]["mac_pj"]["bf16"] = 0.5
    assert "needs a tensor-core rate" in str(error_of(d))
    d = preset_dict()
    d["layouts"].append("ccp")
    assert "'ccp' needs accelerator.cross_channel_pool: true" in str(error_of(d))
    d = preset_dict("condensation-accelerator")
    d["accelerator"]["cross_channel_pool"] = "yes"
    assert str(error_of(d)) == ("hw_models/x.yaml: accelerator.cross_channel_pool = 'yes'; "
                                "expected true or false")


def test_errors_name_the_preset_file():
    with pytest.raises(SpecError) as info:
        load_spec_dict({"schema_version": 1}, file="hw_models/t4.yaml")
    assert str(info.value).startswith("hw_models/t4.yaml: name: missing required key")


# --------------------------------------------------------------------------- serialisation


@pytest.mark.parametrize("name", list_hardware())
def test_to_yaml_round_trips(name, tmp_path):
    spec = load_hardware(name)
    again = load_spec_dict(yaml.safe_load(spec.to_yaml()))
    assert again == spec
    assert again.spec_hash() == spec.spec_hash()
    p = tmp_path / "copy.yaml"
    p.write_text(spec.to_yaml())
    assert load_hardware(p) == spec


def test_provenance_and_numpy_input_round_trip():
    d = preset_dict("host-cpu")
    d["cpu"]["cores"] = np.int64(4)
    d["clock_hz"] = np.float64(3.1e9)
    d["provenance"] = {"device": "cpu", "threads": np.int64(4), "residuals": [0.1, -0.05],
                       "fit": {"date": "2025-01-01"}}
    spec = load_spec_dict(d)
    assert spec.cpu.cores == 4 and type(spec.cpu.cores) is int
    assert spec.provenance["residuals"] == (0.1, -0.05)
    assert spec.provenance["fit"]["date"] == "2025-01-01"
    assert load_spec_dict(yaml.safe_load(spec.to_yaml())) == spec
    hash(spec)


def test_spec_is_frozen_hashable_picklable():
    spec = load_hardware("a100-sxm4-40gb")
    with pytest.raises(Exception):
        spec.clock_hz = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.efficiency["memory"] = 0.1  # type: ignore[index]
    assert hash(spec) == hash(load_hardware("a100-sxm4-40gb"))
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_spec_hash_stable_and_sensitive():
    a = load_hardware("t4")
    assert a.spec_hash() == load_hardware("t4").spec_hash()
    assert len(a.spec_hash()) == 12
    assert a.with_knobs({"sm_count": 41}).spec_hash() != a.spec_hash()
    assert a.with_knobs({"sm_count": 40}).spec_hash() == a.spec_hash()
    assert load_hardware("a100-sxm4-40gb").spec_hash() != load_hardware("a100-sxm4-80gb").spec_hash()


# --------------------------------------------------------------------------- efficiency


def test_eff_fallback_chain():
    spec = load_spec_dict({**preset_dict(), "efficiency": {"default": 0.5, "conv": 0.7,
                                                           "conv.depthwise": 0.2}})
    assert spec.eff("conv.depthwise") == 0.2
    assert spec.eff("conv.grouped") == 0.7          # family
    assert spec.eff("softmax") == 0.5               # table default
    bare = load_spec_dict({**preset_dict(), "efficiency": {}})
    assert bare.eff("softmax", 0.9) == 0.9          # caller default
    assert bare.eff("softmax") == 1.0               # no derating
    with pytest.raises(HardwareError, match="did you mean 'softmax'"):
        spec.eff("softmx")


# --------------------------------------------------------------------------- knobs


def test_with_knobs_scalars():
    spec = load_hardware("a100-sxm4-40gb")
    new = spec.with_knobs({"sm_count": 54, "clock_hz": 1e9, "energy.dram_pj_per_byte": 10.0,
                           "efficiency.conv.depthwise": 0.5, "mac_pj.fp16": 0.1})
    assert new.gpu.sm_count == 54 and new.clock_hz == 1e9
    assert new.energy.dram_pj_per_byte == 10.0 and new.energy.mac_pj["fp16"] == 0.1
    assert new.energy.mac_pj["fp32"] == spec.energy.mac_pj["fp32"]
    assert new.eff("conv.depthwise") == 0.5
    assert spec.gpu.sm_count == 108  # original untouched
    assert new.peak_macs_per_s("fp16") == pytest.approx(spec.peak_macs_per_s("fp16") / 2 / 1.41)


def test_with_knobs_arrays_vectorize():
    spec = load_hardware("a100-sxm4-40gb")
    sms = np.array([54, 108, 216])
    new = spec.with_knobs({"gpu.sm_count": sms, "dram_bandwidth_bytes_per_s": [1e12, 2e12, 3e12]})
    assert isinstance(new.gpu.sm_count, np.ndarray)
    peaks = new.peak_macs_per_s("fp16")
    assert peaks.shape == (3,)
    np.testing.assert_allclose(peaks, sms * 2048 / 2 * 1.41e9)
    assert isinstance(new.dram_bandwidth_bytes_per_s, np.ndarray)
    assert len(new.spec_hash()) == 12  # arrays serialise too
    # an efficiency key the preset does not set can be swept
    bare = load_spec_dict({**preset_dict(), "efficiency": {"default": 0.5}})
    swept = bare.with_knobs({"efficiency.attention": np.array([0.3, 0.6])})
    np.testing.assert_allclose(swept.eff("attention"), [0.3, 0.6])


@pytest.mark.parametrize("name", ["hexagon-v68", "condensation-accelerator", "host-cpu"])
def test_with_knobs_per_kind(name):
    spec = load_hardware(name)
    knobs = {k: getattr(spec.unit, k) * 2 for k in REQUIRED_KNOBS[spec.kind] if hasattr(spec.unit, k)}
    new = spec.with_knobs(knobs)
    for k, v in knobs.items():
        assert getattr(new.unit, k) == v


def test_short_names_prefer_own_kind_section():
    orin = load_hardware("jetson-agx-orin")  # carries both gpu and cpu sections
    assert orin.cpu is not None
    new = orin.with_knobs({"l2_bytes": 8e6})
    assert new.gpu.l2_bytes == 8e6 and new.cpu.l2_bytes == orin.cpu.l2_bytes
    assert orin.with_knobs({"cpu.l2_bytes": 1e6}).cpu.l2_bytes == 1e6
    names = orin.knob_names()
    assert "l2_bytes" in names and "cpu.l2_bytes" in names and "cores" in names


def test_knob_errors():
    spec = load_hardware("a100-sxm4-40gb")
    with pytest.raises(HardwareError, match="did you mean 'sm_count'"):
        spec.with_knobs({"sm_cont": 1})
    with pytest.raises(HardwareError, match="belongs to the dsp section"):
        spec.with_knobs({"hvx_units": 8})
    with pytest.raises(HardwareError, match="both set gpu.sm_count"):
        spec.with_knobs({"sm_count": 1, "gpu.sm_count": 2})
    with pytest.raises(HardwareError, match="no such entry"):
        load_hardware("v100-sxm2").with_knobs({"tensor_flops_per_clock_per_sm.int8": 2048})


def test_knob_names_all_resolve():
    for name in list_hardware():
        spec = load_hardware(name)
        names = spec.knob_names()
        assert len(names) == len(set(names))
        for knob in names:
            try:
                spec.with_knobs({knob: 1})  # every listed name is accepted ...
            except HardwareError as e:      # ... though 1 may not be a legal value for it
                assert str(e).startswith(f"knob {knob!r} = 1; "), e


def test_dtype_constants():
    # w8a16 (issue 13: int8 weights, int16 activations) appended last: existing indices unchanged
    assert DTYPES == ("fp32", "tf32", "fp16", "bf16", "int8", "w8a16")


def test_cpu_half_work_macs_optional_and_validated():
    d = preset_dict("host-cpu")
    d["cpu"].pop("half_work_macs", None)
    assert load_spec_dict(d).cpu.half_work_macs == {}          # optional, defaults to empty
    d["cpu"]["half_work_macs"] = {"conv.standard": 2e6, "matmul": 0}
    spec = load_spec_dict(d)
    assert spec.cpu.half_work_macs["conv.standard"] == 2e6
    assert spec.with_knobs({"cpu.half_work_macs.matmul": 5e5}).cpu.half_work_macs["matmul"] == 5e5
    d["cpu"]["half_work_macs"] = {"conv.standrad": 1e6}
    assert "cpu.half_work_macs.conv.standrad: unknown key" in str(error_of(d))
    d["cpu"]["half_work_macs"] = {"matmul": -1}
    assert str(error_of(d)) == ("hw_models/x.yaml: cpu.half_work_macs.matmul = -1; "
                                "expected a number >= 0")
