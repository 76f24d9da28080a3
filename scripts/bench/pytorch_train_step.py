"""PyTorch eager baseline for `ifvit bench train`: the same model (scripts/parity/uvit_reference.py,
written from SPEC), the same sizes and the same step (forward, MSE, backward, AdamW with the SPEC
recipe), fp32 on CPU.

    python3 scripts/bench/pytorch_train_step.py --preset uvit-tiny --fusion early-concat --batch 32

Prints one JSON object: median step ms, img/s, achieved GFLOP/s (from the analytic forward GMACs
passed in, or computed the same way as ifvit's cost model), peak RSS MiB, torch threads.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'parity'))
from uvit_reference import build  # noqa: E402

PRESETS = {
    'uvit-s2': dict(img_size=32, in_chans=4, patch_size=2, embed_dim=512, depth=12, num_heads=8, mlp_ratio=4.,
                    qkv_bias=False, clip_dim=768, num_clip_token=77, conv=True),
    'uvit-s2-deep': dict(img_size=32, in_chans=4, patch_size=2, embed_dim=512, depth=16, num_heads=8, mlp_ratio=4.,
                         qkv_bias=False, clip_dim=768, num_clip_token=77, conv=True),
    'uvit-tiny': dict(img_size=32, in_chans=3, patch_size=8, embed_dim=128, depth=6, num_heads=2, mlp_ratio=4.,
                      qkv_bias=False, clip_dim=128, num_clip_token=8, conv=True),
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--preset', default='uvit-tiny', choices=sorted(PRESETS))
    p.add_argument('--fusion', default='early-concat')
    p.add_argument('--c', type=int, default=3)
    p.add_argument('--v', type=int, default=3)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--steps', type=int, default=20)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--threads', type=int, default=os.cpu_count())
    p.add_argument('--gmacs', type=float, default=None, help='forward GMACs per sample (for GFLOP/s)')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    size = PRESETS[a.preset]
    model = build(a.fusion, c=a.c, v=a.v, **size).train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4, betas=(0.9, 0.9), eps=1e-8, weight_decay=0.03)
    b, c, s = a.batch, size['in_chans'], size['img_size']
    x = torch.randn(b, c, s, s)
    target = torch.randn(b, c, s, s)
    t = torch.randint(1, 1001, (b,)).float()
    ctx = torch.randn(b, size['num_clip_token'], size['clip_dim'])
    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        out = model(x, t, ctx)
        loss = ((out - target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    res = dict(framework=f'pytorch {torch.__version__} eager', preset=a.preset, fusion=a.fusion, batch=b,
               params=sum(p.numel() for p in model.parameters()), median_step_ms=med * 1e3,
               images_per_s=b / med, threads=torch.get_num_threads(),
               peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if a.gmacs:
        res['achieved_gflops'] = 3 * 2 * a.gmacs * b / med
    print(json.dumps(res))


if __name__ == '__main__':
    main()
