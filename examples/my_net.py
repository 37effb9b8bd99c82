"""examples/my_net.py: a user's own network, as README "Using it" traces it:

    codesign trace examples/my_net.py:build --input 1,3,224,224 --strict
    codesign simulate examples/my_net.py:build --set width=64 --hw examples/my_gpu.yaml

``build`` is the factory: its keyword arguments are the workload knobs (``--set width=64``),
with their defaults. A small VGG-style classifier: conv-BN-ReLU stages that halve the map and
double the channels, then global pooling and a linear head.
"""

from __future__ import annotations

import torch.nn as nn


def build(width: int = 32, stages: int = 3, classes: int = 10) -> nn.Module:
    layers: list[nn.Module] = []
    cin = 3
    for i in range(stages):
        cout = width * 2**i
        layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),   # [B, cout, H/2, W/2]
                   nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes)]   # [B, classes]
    return nn.Sequential(*layers).eval()
