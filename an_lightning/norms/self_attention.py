"""``sa``: SA-GAN self-attention (Zhang et al. 2019), docs/method.md section 7.

Registered as a norm so that it can be placed by configuration exactly where AN
goes (the paper compares the two at the same 32x32 stage).
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Norm
from .spectral_norm import spectral_norm as _sn


class SelfAttention(Norm):
    """``x + gamma * o(softmax(q k^T) v)``; q, k: C/8, v: C/2, gamma init 0.

        k and v are 2x2 max-pooled (SA-GAN / BigGAN), which cuts the attention matrix
        to HW x HW/4. The product runs through ``scaled_dot_product_attention`` with
        scale 1 (SA-GAN does not scale the logits), in float32 so the softmax never
        runs in half precision; it picks a memory-efficient kernel where one exists.
    With ``spectral_norm=True`` the four convs carry spectral norm whose power
    iteration runs in float32 even under autocast (``norms.spectral_norm``).
    """

    def __init__(self, num_features: int, pool: bool = True, spectral_norm: bool = False) -> None:
        super().__init__()
        c = num_features
        self.qk_channels, self.v_channels = max(c // 8, 1), max(c // 2, 1)
        wrap = _sn if spectral_norm else (lambda m: m)
        self.query = wrap(nn.Conv2d(c, self.qk_channels, 1, bias=False))
        self.key = wrap(nn.Conv2d(c, self.qk_channels, 1, bias=False))
        self.value = wrap(nn.Conv2d(c, self.v_channels, 1, bias=False))
        self.out = wrap(nn.Conv2d(self.v_channels, c, 1, bias=False))
        self.gamma = nn.Parameter(torch.zeros(()))
        self.pool = pool

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        b, _, h, w = x.shape
        q, k, v = self.query(x), self.key(x), self.value(x)
        if self.pool and h >= 2 and w >= 2:
            k, v = F.max_pool2d(k, 2), F.max_pool2d(v, 2)
        with torch.autocast(device_type=x.device.type, enabled=False):
            dtype = torch.promote_types(x.dtype, torch.float32)
            # (B, 1 head, HW, C'): fused kernels (CPU flash included) want 4-D input.
            q, k, v = (t.flatten(2).mT[:, None].to(dtype).contiguous() for t in (q, k, v))
            # The CPU flash kernel also refuses q/k narrower than v; zero columns
            # leave every dot product unchanged.
            pad = self.v_channels - self.qk_channels
            q, k = F.pad(q, (0, pad)), F.pad(k, (0, pad))
            o = F.scaled_dot_product_attention(q, k, v, scale=1.0)[:, 0]
        o = o.transpose(1, 2).reshape(b, self.v_channels, h, w).to(x.dtype)
        return x + self.gamma * self.out(o)
