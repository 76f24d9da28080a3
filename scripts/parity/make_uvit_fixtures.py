"""Generates the U-ViT parity fixtures under crates/uvit/tests/fixtures/.

    python3 scripts/parity/make_uvit_fixtures.py

For each of the four paper strategies and the two further arms (PixArt cross-attention,
MMDiT joint attention): a small model (SMALL below) with random weights of the
real layout, saved as PyTorch-named safetensors (`<name>.weights.safetensors`), and fixed
inputs with the reference output (`<name>.io.safetensors`: x, t, context, out), plus the
Rust `UViTConfig` as JSON (`<name>.config.json`). Weights are re-drawn with a larger scale
than U-ViT's init (std 0.2, LayerNorm 1 +/- 0.2) so that every path visibly shapes the
output. Also writes `uvit_s2_layout.json`: the names and shapes of the real U-ViT-S/2
(MS-COCO) `nnet` state dict, for the checkpoint-layout test.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(__file__))
from uvit_reference import build  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'crates', 'uvit', 'tests', 'fixtures')
SMALL = dict(img_size=8, in_chans=4, patch_size=2, embed_dim=32, depth=4, num_heads=4, mlp_ratio=4.,
             qkv_bias=False, clip_dim=24, num_clip_token=5, conv=True)
CASES = [
    ('early-concat', 'early-concat', 0, 0, 'EarlyConcat'),
    ('early-crossattn', 'early-crossattn', 0, 0, 'EarlyCrossAttn'),
    ('intermediate-concat-c1v1', 'intermediate-concat', 1, 1, {'IntermediateConcat': {'c': 1, 'v': 1}}),
    ('intermediate-crossattn-c2v1', 'intermediate-crossattn', 2, 1, {'IntermediateCrossAttn': {'c': 2, 'v': 1}}),
    # v = depth/2: only the mid block is joint.
    ('intermediate-concat-c1v2', 'intermediate-concat', 1, 2, {'IntermediateConcat': {'c': 1, 'v': 2}}),
    ('early-pixart-crossattn', 'early-pixart-crossattn', 0, 0, 'EarlyPixArtCrossAttn'),
    ('intermediate-pixart-crossattn-c1v1', 'intermediate-pixart-crossattn', 1, 1,
     {'IntermediatePixArtCrossAttn': {'c': 1, 'v': 1}}),
    ('early-mmdit-joint', 'early-mmdit-joint', 0, 0, 'EarlyMmditJoint'),
    ('intermediate-mmdit-joint-c1v1', 'intermediate-mmdit-joint', 1, 1,
     {'IntermediateMmditJoint': {'c': 1, 'v': 1}}),
]


def rust_config(fusion):
    s = SMALL
    return dict(img_size=s['img_size'], in_chans=s['in_chans'], patch_size=s['patch_size'],
                embed_dim=s['embed_dim'], depth=s['depth'], num_heads=s['num_heads'],
                mlp_ratio=s['mlp_ratio'], qkv_bias=s['qkv_bias'], context_dim=s['clip_dim'],
                num_text_tokens=s['num_clip_token'], conv_head=s['conv'], fusion=fusion)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    x = torch.randn(2, SMALL['in_chans'], SMALL['img_size'], SMALL['img_size'])
    t = torch.tensor([3., 917.])
    context = torch.randn(2, SMALL['num_clip_token'], SMALL['clip_dim'])
    for name, strategy, c, v, fusion in CASES:
        torch.manual_seed(1)
        model = build(strategy, c=c, v=v, **SMALL).eval()
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if pname.endswith('.weight') and pname.split('.')[-2].startswith('norm'):
                    p.copy_(1 + 0.2 * torch.randn_like(p))
                else:
                    p.copy_(0.2 * torch.randn_like(p))
            out = model(x, t, context)
        sd = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(sd, os.path.join(OUT, f'{name}.weights.safetensors'))
        save_file({'x': x, 't': t, 'context': context, 'out': out.contiguous()},
                  os.path.join(OUT, f'{name}.io.safetensors'))
        with open(os.path.join(OUT, f'{name}.config.json'), 'w') as f:
            json.dump(rust_config(fusion), f, indent=1)
        n = sum(p.numel() for p in model.parameters())
        print(f'{name}: {n} params, out std {out.std():.4f}')

    s2 = build('early-concat', img_size=32, in_chans=4, patch_size=2, embed_dim=512, depth=12, num_heads=8,
               mlp_ratio=4., qkv_bias=False, clip_dim=768, num_clip_token=77, conv=True)
    layout = {k: list(v.shape) for k, v in s2.state_dict().items()}
    with open(os.path.join(OUT, 'uvit_s2_layout.json'), 'w') as f:
        json.dump(layout, f, indent=0)
    print(f'uvit-s2 layout: {len(layout)} tensors, {sum(p.numel() for p in s2.parameters())} params')


if __name__ == '__main__':
    main()
