"""CatNet: a small 3D-convolutional video backbone, trainable on 2 CPU cores.

Built for the rendered SSv2-Split world (8 frames of 48 x 48, NCTHW): the frames and their temporal
differences (motion is what most labels are about, and small objects move on busy backgrounds) enter
a strided spatio-temporal stem, three conv-BN-ReLU stages halve space (and once time), and global
average and max pooling (max keeps small objects' responses) give a `num_features`-dim embedding.
timm-style interface: `forward_features` (feature map), `features` (pooled [B, D], what a bundle's
backbone.onnx computes), `forward` (logits through `head`), `reset_classifier`. One factory per size.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn


class ConvBnAct(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel, stride):
        kernel = (kernel,) * 3 if isinstance(kernel, int) else tuple(kernel)
        stride = (stride,) * 3 if isinstance(stride, int) else tuple(stride)
        super().__init__(nn.Conv3d(cin, cout, kernel, stride, tuple(k // 2 for k in kernel), bias=False),
                         nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class CatNet(nn.Module):
    def __init__(self, num_classes: int = 0, widths: tuple[int, int, int, int] = (16, 32, 64, 128),
                 drop_rate: float = 0.2, in_chans: int = 3):
        super().__init__()
        w0, w1, w2, w3 = widths
        self.stem = ConvBnAct(2 * in_chans, w0, (3, 5, 5), (1, 2, 2))
        self.stages = nn.Sequential(ConvBnAct(w0, w1, 3, (1, 2, 2)),
                                    ConvBnAct(w1, w2, 3, (2, 2, 2)),
                                    ConvBnAct(w2, w3, 3, 1))
        self.num_features = 2 * w3
        self.drop_rate = drop_rate
        self.head_drop = nn.Dropout(drop_rate)
        self.head: nn.Module = nn.Identity()
        self.reset_classifier(num_classes)

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.head = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
        if num_classes:
            nn.init.trunc_normal_(self.head.weight, std=0.02)
            nn.init.zeros_(self.head.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        diff = torch.cat([torch.zeros_like(x[:, :, :1]), x[:, :, 1:] - x[:, :, :-1]], dim=2)
        return self.stages(self.stem(torch.cat([x, diff], dim=1)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Clip embedding [B, num_features]: average and max over time and space."""
        f = self.forward_features(x)
        return torch.cat([f.mean(dim=(2, 3, 4)), f.amax(dim=(2, 3, 4))], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_drop(self.features(x)))


class Backbone(nn.Module):
    """The feature half of a CatNet as its own module (what export_bundle turns into backbone.onnx)."""

    def __init__(self, net: CatNet):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)


def folded_convs(net: CatNet, backbone_onnx: str | Path) -> list[tuple[ConvBnAct, np.ndarray, np.ndarray]]:
    """Each ConvBnAct block of `net` with the (weight, bias) of its convolution in an exported backbone.

    torch.onnx (eval mode) folds every BatchNorm into the convolution before it, so a shipped bundle
    holds no BatchNorm, only biased Conv nodes in block order; rebuilding a trainable or timeable CatNet
    from a bundle (a fresh clone has no checkpoint) starts from these pairs.
    """
    graph = onnx.load(str(backbone_onnx)).graph
    inits = {t.name: t for t in graph.initializer}

    def array(name: str) -> np.ndarray:
        return np.array(numpy_helper.to_array(inits[name]))  # a writable copy, for torch.from_numpy

    convs = [n for n in graph.node if n.op_type == "Conv"]
    blocks = [m for m in net.modules() if isinstance(m, ConvBnAct)]
    if len(convs) != len(blocks) or any(n.op_type == "BatchNormalization" for n in graph.node):
        raise ValueError(f"{backbone_onnx}: not a CatNet of {len(blocks)} blocks with folded BatchNorm "
                         f"({len(convs)} Conv nodes)")
    return [(block, array(n.input[1]), array(n.input[2])) for block, n in zip(blocks, convs)]


def catnet_s(num_classes: int = 0, **kwargs) -> CatNet:
    """The size the shipped SSv2-Split-Synth bundles use: 0.3 M parameters, ~0.08 GMACs per clip."""
    return CatNet(num_classes, widths=(16, 32, 64, 128), **kwargs)
