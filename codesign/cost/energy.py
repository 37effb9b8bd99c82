"""Energy per op from its cost and the preset's coefficients (no torch).

E = MACs x E_mac[dtype] + vector ops x E_vec            (compute)
  + on-chip bytes x E_sram + L2 bytes x E_l2            (on-chip memories)
  + DRAM bytes x E_dram                                 (off-chip)
  + P_static x latency                                  (static / idle power)
Coefficients and their sources live in each preset's ``energy`` section (Horowitz ISSCC 2014
45 nm scaled to the node, HBM/GDDR/LPDDR pJ/bit; see codesign/hardware/presets/*.yaml).
Works element-wise when costs or coefficients are arrays (sweeps).
"""

from __future__ import annotations

from dataclasses import dataclass

from codesign.cost.base import Num, OpCost
from codesign.hardware.spec import HardwareSpec
from codesign.types import DType

PJ = 1e-12


@dataclass(frozen=True, slots=True)
class Energy:
    compute_j: Num
    sram_j: Num
    dram_j: Num
    static_j: Num

    @property
    def total_j(self) -> Num:
        return self.compute_j + self.sram_j + self.dram_j + self.static_j


def op_energy(cost: OpCost, hw: HardwareSpec, dtype: str) -> Energy:
    e = hw.energy
    dtype = "fp16" if dtype == DType.AMP else dtype  # autocast: the MACs run in fp16
    mac_pj = e.mac_pj.get(dtype, e.mac_pj.get("fp32", 0.0))
    compute = (cost.macs * mac_pj + cost.vector_ops * e.vector_op_pj) * PJ
    sram = (cost.onchip_bytes * e.sram_pj_per_byte + cost.l2_bytes * e.l2_pj_per_byte) * PJ
    dram = cost.dram_bytes * e.dram_pj_per_byte * PJ
    static = e.static_w * cost.latency_s
    return Energy(compute, sram, dram, static)
