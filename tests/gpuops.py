"""Shared helpers of the GPU mechanism tests: hand-built ops on the RTX 3090 preset."""

from codesign.ir.graph import Op


def make_op(kind, inputs, outputs, attrs=None, aten="aten::x") -> Op:
    """An op of ``kind`` in module ``m`` with these tensors (index 0)."""
    return Op(index=0, name=f"m/{kind.value}", aten=aten, kind=kind, module="m",
              inputs=tuple(inputs), outputs=tuple(outputs), attrs=attrs)


def achieved_bandwidth(hw) -> float:
    """The preset's achieved DRAM bandwidth (peak x ``memory`` efficiency), bytes/s."""
    return hw.dram_bandwidth_bytes_per_s * hw.eff("memory")
