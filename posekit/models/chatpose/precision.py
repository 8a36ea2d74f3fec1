"""Half-precision inference on a CPU: frozen linear weights stored in float16."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HalfWeightLinear", "half_weights"]


class HalfWeightLinear(nn.Module):
    """A frozen linear layer ``(..., in) -> (..., out)`` whose weight is stored in half precision,
    for CPU inference; input and output keep their dtype (float32).

    Products of at most ``gemv_rows`` rows (one new token per sequence while generating) multiply
    in half precision: they are bound by reading the weight, so half the bytes is about twice the
    speed. Larger ones (prompts) upcast ``chunk`` output rows at a time and multiply in float32,
    since CPUs without half-precision arithmetic run those several times slower in float16
    (measured in docs/reference.md, Benchmarks)."""

    def __init__(self, linear: nn.Linear, dtype: torch.dtype = torch.float16, gemv_rows: int = 4, chunk: int = 4096):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.gemv_rows, self.chunk = gemv_rows, chunk
        self.register_buffer("weight", linear.weight.detach().to(dtype).contiguous())
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.numel() // self.in_features <= self.gemv_rows:
            out = F.linear(x.to(self.weight.dtype), self.weight).to(x.dtype)
        elif self.out_features <= self.chunk:
            out = F.linear(x, self.weight.to(x.dtype))
        else:
            out = torch.cat([F.linear(x, self.weight[i:i + self.chunk].to(x.dtype))
                             for i in range(0, self.out_features, self.chunk)], -1)
        return out if self.bias is None else out + self.bias.to(out.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, weight={self.weight.dtype}"


def half_weights(module: nn.Module, dtype: torch.dtype) -> None:
    """Replace (in place) every frozen ``nn.Linear`` inside ``module`` by a :class:`HalfWeightLinear`
    storing its weight in ``dtype`` (LoRA's own trainable layers stay as they are)."""
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear and not child.weight.requires_grad:
                setattr(parent, name, HalfWeightLinear(child, dtype))
