"""Generates the AutoencoderKL parity fixtures under crates/encoders/tests/fixtures/vae_tiny/.

    /opt/py/bin/python scripts/parity/make_vae_fixtures.py

A tiny diffusers `AutoencoderKL` (TINY below: two levels of 16 and 32 channels, one ResNet per
encoder level, GroupNorm(8)) with random weights of the real layout: convolution/linear weights
keep diffusers' default init, every GroupNorm weight is 1 + 0.2 N(0, 1) and every bias 0.1 N(0, 1)
so that each path visibly shapes the output. The weights are stored in float16 (as SD's fp16
variants are) and the reference runs in float32 on exactly those rounded values.

Writes:
  vae_tiny/config.json                           the diffusers config (as save_pretrained does)
  vae_tiny/diffusion_pytorch_model.safetensors   the weights, diffusers names, F16
  vae_tiny.io.safetensors                        x [2,3,16,16] in [-1,1], moments, z [2,4,8,8],
                                                 decoded (decode(z)), noise, z_scaled
                                                 (0.23010 * sample), decoded_scaled
  vae_param_counts.json                          diffusers' parameter counts of TINY and of the
                                                 published stabilityai/sd-vae-ft-mse config
"""
import json
import os

import torch
from diffusers import AutoencoderKL
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'crates', 'encoders', 'tests', 'fixtures')
TINY = dict(in_channels=3, out_channels=3,
            down_block_types=['DownEncoderBlock2D'] * 2, up_block_types=['UpDecoderBlock2D'] * 2,
            block_out_channels=[16, 32], layers_per_block=1, act_fn='silu', latent_channels=4,
            norm_num_groups=8, sample_size=16)
# stabilityai/sd-vae-ft-mse/config.json as published (the Rust test holds the same text).
SD_VAE_FT_MSE = dict(in_channels=3, out_channels=3,
                     down_block_types=['DownEncoderBlock2D'] * 4, up_block_types=['UpDecoderBlock2D'] * 4,
                     block_out_channels=[128, 256, 512, 512], layers_per_block=2, act_fn='silu',
                     latent_channels=4, norm_num_groups=32, sample_size=256)
UVIT_SCALE = 0.23010


def count(model):
    return sum(p.numel() for p in model.parameters())


def main():
    os.makedirs(os.path.join(OUT, 'vae_tiny'), exist_ok=True)
    torch.manual_seed(0)
    vae = AutoencoderKL(**TINY).eval()
    with torch.no_grad():
        for name, p in vae.named_parameters():
            if p.dim() == 1 and 'norm' in name and name.endswith('weight'):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn_like(p))
            p.copy_(p.half().float())  # the reference uses the stored (f16) values
    vae.save_pretrained(os.path.join(OUT, 'vae_tiny'), safe_serialization=True)
    sd = {k: v.half().contiguous() for k, v in vae.state_dict().items()}
    save_file(sd, os.path.join(OUT, 'vae_tiny', 'diffusion_pytorch_model.safetensors'))

    x = torch.rand(2, 3, 16, 16) * 2 - 1
    z = torch.randn(2, 4, 8, 8)
    noise = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        moments = vae.quant_conv(vae.encoder(x))
        decoded = vae.decode(z).sample
        mean, logvar = moments.chunk(2, dim=1)
        logvar = logvar.clamp(-30.0, 20.0)
        z_scaled = UVIT_SCALE * (mean + torch.exp(0.5 * logvar) * noise)
        decoded_scaled = vae.decode(z_scaled / UVIT_SCALE).sample.clamp(-1, 1)
        # Cross-check against diffusers' own posterior.
        post = vae.encode(x).latent_dist
        assert torch.allclose(post.mean, mean) and torch.allclose(post.logvar, logvar)
    io = {'x': x, 'moments': moments, 'z': z, 'decoded': decoded, 'noise': noise,
          'z_scaled': z_scaled, 'decoded_scaled': decoded_scaled}
    save_file({k: v.contiguous() for k, v in io.items()},
              os.path.join(OUT, 'vae_tiny.io.safetensors'))

    counts = {'tiny': count(vae), 'sd_vae_ft_mse': count(AutoencoderKL(**SD_VAE_FT_MSE))}
    with open(os.path.join(OUT, 'vae_param_counts.json'), 'w') as f:
        json.dump(counts, f, indent=1)
    print(counts, 'moments', tuple(moments.shape), 'decoded std', decoded.std().item())


if __name__ == '__main__':
    main()
