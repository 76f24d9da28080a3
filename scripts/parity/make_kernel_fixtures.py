"""Generates the PyTorch parity fixture of the fused kernels (crates/kernels):

    /opt/py/bin/python scripts/parity/make_kernel_fixtures.py

Writes crates/kernels/tests/fixtures/kernels.safetensors (float32): for each op, its inputs,
an upstream gradient `dy`, PyTorch's output `y` and the gradients of `sum(y * dy)` (the same
as `y.backward(dy)`), all computed by PyTorch in float32 on CPU:

  gelu.x [2, 9, 64] (N(0, 3^2), so the tails of erf are exercised), gelu.dy, gelu.y, gelu.dx
      F.gelu(x) (approximate="none", the exact erf form U-ViT's timm Mlp uses)
  ln.x [2, 9, 48] (3 + N(0, 2^2)), ln.gamma [48] (1 + 0.2 N), ln.beta [48] (0.1 N), ln.dy,
      ln.y, ln.dx, ln.dgamma, ln.dbeta
      F.layer_norm(x, [48], gamma, beta, eps=1e-5) (nn.LayerNorm's defaults)
  attn.q [2, 2, 17, 16], attn.k, attn.v (N(0, 1.5^2)), attn.dy, attn.y, attn.dq, attn.dk, attn.dv
      F.scaled_dot_product_attention(q, k, v) (no mask, scale 16^-0.5): U-ViT self-attention
  xattn.q [1, 2, 9, 16], xattn.k [1, 2, 26, 16], xattn.v [1, 2, 26, 16], xattn.dy, xattn.y,
      xattn.dq, xattn.dk, xattn.dv: the joint-softmax cross-attention shape (fewer queries)
  linear.x [2, 9, 24], linear.w [24, 40] (burn's [d_in, d_out] layout: PyTorch's weight.T),
      linear.b [40], linear.dy, linear.y, linear.dx, linear.dw, linear.db
      F.linear(x, w.T, b) (nn.Linear); linear_nb.*: the same without bias (U-ViT's qkv)
"""

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parents[2] / "crates/kernels/tests/fixtures/kernels.safetensors"


def grads(f, inputs, prefix, out):
    leaves = [t.clone().requires_grad_(True) for t in inputs.values()]
    y = f(*leaves)
    dy = torch.randn_like(y)
    y.backward(dy)
    for (name, t), leaf in zip(inputs.items(), leaves):
        out[f"{prefix}.{name}"] = t
        out[f"{prefix}.d{name}"] = leaf.grad
    out[f"{prefix}.dy"] = dy
    out[f"{prefix}.y"] = y.detach()


def main():
    torch.manual_seed(0)
    out = {}
    grads(F.gelu, {"x": 3.0 * torch.randn(2, 9, 64)}, "gelu", out)
    d = 48
    grads(
        lambda x, gamma, beta: F.layer_norm(x, [d], gamma, beta, eps=1e-5),
        {
            "x": 3.0 + 2.0 * torch.randn(2, 9, d),
            "gamma": 1.0 + 0.2 * torch.randn(d),
            "beta": 0.1 * torch.randn(d),
        },
        "ln",
        out,
    )
    grads(
        F.scaled_dot_product_attention,
        {n: 1.5 * torch.randn(2, 2, 17, 16) for n in "qkv"},
        "attn",
        out,
    )
    grads(
        F.scaled_dot_product_attention,
        {"q": 1.5 * torch.randn(1, 2, 9, 16), "k": 1.5 * torch.randn(1, 2, 26, 16),
         "v": 1.5 * torch.randn(1, 2, 26, 16)},
        "xattn",
        out,
    )
    for prefix, bias in (("linear", True), ("linear_nb", False)):
        inputs = {"x": torch.randn(2, 9, 24), "w": torch.randn(24, 40) / 24**0.5}
        if bias:
            inputs["b"] = 0.1 * torch.randn(40)
        grads(lambda x, w, b=None: F.linear(x, w.T, b), inputs, prefix, out)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous().float() for k, v in out.items()}, str(OUT),
              metadata={"torch": torch.__version__})
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(out)} tensors, torch {torch.__version__})")


if __name__ == "__main__":
    main()
