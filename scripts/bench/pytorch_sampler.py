"""PyTorch eager baseline for `ifvit bench sampler`: the same model (scripts/parity/uvit_reference.py,
written from SPEC, random init), the same sampler (DDIM, eta 0, leading spacing, diffusers'
`DDIMScheduler` with the SPEC schedule) and the same classifier-free guidance (one forward of batch 2B
per step on [x; x] with the contexts [cond; uncond], then out_u + w (out_c - out_u)), fp32 on CPU,
under `torch.inference_mode()` (ifvit samples without autodiff too).

    python3 scripts/bench/pytorch_sampler.py --preset uvit-tiny --steps 20 --batch 50 --guidance 3

Step convention: ifvit's steps are diffusers' timesteps plus one (`n = t + 1`, docs in
crates/diffusion/src/sampler/spacing.rs), so the network sees `t + 1` and the step arithmetic is
diffusers' own. Prints one JSON object: median seconds of the full sampling loop, img/s, peak RSS
MiB, torch threads.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
from diffusers import DDIMScheduler

sys.path.insert(0, os.path.dirname(__file__))
from pytorch_train_step import PRESETS, build  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--preset', default='uvit-tiny', choices=sorted(PRESETS))
    p.add_argument('--fusion', default='early-concat')
    p.add_argument('--c', type=int, default=3)
    p.add_argument('--v', type=int, default=3)
    p.add_argument('--batch', type=int, default=50)
    p.add_argument('--steps', type=int, default=20, help='DDIM steps (model evaluations)')
    p.add_argument('--guidance', type=float, default=3.0, help='w of out_u + w (out_c - out_u); 0: off')
    p.add_argument('--repeats', type=int, default=3, help='timed sampling runs (the median is reported)')
    p.add_argument('--threads', type=int, default=os.cpu_count())
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    size = PRESETS[a.preset]
    model = build(a.fusion, c=a.c, v=a.v, **size).eval()
    sched = DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                          beta_schedule='scaled_linear', clip_sample=False, set_alpha_to_one=True,
                          steps_offset=0, timestep_spacing='leading', prediction_type='epsilon')
    b, c, s = a.batch, size['in_chans'], size['img_size']
    guided = a.guidance != 0.0
    rows = 2 * b if guided else b
    # [rows, Nt, Dc]: with guidance the first half plays the caption, the second the empty one
    ctx = torch.randn(rows, size['num_clip_token'], size['clip_dim'])
    x_t = torch.randn(b, c, s, s)

    def sample():
        sched.set_timesteps(a.steps)
        x = x_t
        for t in sched.timesteps:
            n = torch.full((rows,), float(t) + 1.0)  # ifvit's step n = t + 1
            if guided:
                out = model(torch.cat([x, x]), n, ctx)  # [2B, C, H, W]: [cond; uncond]
                cond, uncond = out.chunk(2)
                eps = uncond + a.guidance * (cond - uncond)
            else:
                eps = model(x, n, ctx)
            x = sched.step(eps, t, x, eta=0.0).prev_sample
        return x

    times = []
    with torch.inference_mode():
        model(torch.cat([x_t] * (rows // b)), torch.full((rows,), 500.0), ctx)  # warm-up: one full forward
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            sample()
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps(dict(framework=f'pytorch {torch.__version__} eager', preset=a.preset, fusion=a.fusion,
                          sampler='ddim', nfe=a.steps, batch=b, guidance=a.guidance if guided else None,
                          sampler_s=times, median_sampler_s=med, images_per_s=b / med,
                          threads=torch.get_num_threads(),
                          peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))


if __name__ == '__main__':
    main()
