"""Generates the FID/KID parity fixtures under crates/metrics/tests/fixtures/fid/.

    /opt/py/bin/python scripts/parity/make_fid_fixtures.py

Two fixed feature sets (non-negative like Inception pool3, correlated, different means):
feats_a.npy [200, 64] and feats_b.npy [150, 64] (float32, np.save). The reference numbers
in expected.json come from the reference implementations, in float64:

* FID: pytorch-fid 0.3's `calculate_frechet_distance` (scipy.linalg.sqrtm of sigma1 @ sigma2,
  the eps offset when not finite, real part), on mu = mean, sigma = np.cov(rowvar=False);
  stats_a.npz is set A's statistics written with np.savez(mu=, sigma=) as pytorch-fid does.
* KID: clean-fid's `kernel_distance` (cubic polynomial kernel, unbiased), with the random
  subsets replaced by the index lists stored in expected.json (x from B, y from A), so that
  the Rust side can use the very same subsets.
"""
import json
import os

import numpy as np
from scipy import linalg

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'crates', 'metrics', 'tests', 'fixtures', 'fid')


def calculate_frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    # pytorch-fid 0.3.0, src/pytorch_fid/fid_score.py
    mu1 = np.atleast_1d(mu1)
    mu2 = np.atleast_1d(mu2)
    sigma1 = np.atleast_2d(sigma1)
    sigma2 = np.atleast_2d(sigma2)
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError('Imaginary component {}'.format(np.max(np.abs(covmean.imag))))
        covmean = covmean.real
    tr_covmean = np.trace(covmean)
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def kernel_distance_on(feats1, feats2, subsets):
    # clean-fid 0.1.35 `kernel_distance` with its np.random.choice draws given explicitly.
    n = feats1.shape[1]
    t = 0
    for x_idx, y_idx in subsets:
        m = len(x_idx)
        x = feats2[x_idx]
        y = feats1[y_idx]
        a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3
        b = (x @ y.T / n + 1) ** 3
        t += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return float(t / len(subsets) / m)


def stats(f):
    return f.mean(axis=0), np.cov(f, rowvar=False)


def main():
    rng = np.random.default_rng(0)
    d = 64
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    a = np.abs(rng.normal(size=(200, d)) @ mix + 0.5).astype(np.float32)
    b = np.abs(rng.normal(size=(150, d)) @ (mix + 0.1 * rng.normal(size=(d, d))) + 0.6).astype(np.float32)
    os.makedirs(OUT, exist_ok=True)
    np.save(os.path.join(OUT, 'feats_a.npy'), a)
    np.save(os.path.join(OUT, 'feats_b.npy'), b)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    mu_a, sigma_a = stats(a64)
    mu_b, sigma_b = stats(b64)
    np.savez(os.path.join(OUT, 'stats_a.npz'), mu=mu_a, sigma=sigma_a)

    m = 100
    subsets = [(rng.choice(150, m, replace=False).tolist(), rng.choice(200, m, replace=False).tolist())
               for _ in range(5)]
    expected = {
        'fid_ab': calculate_frechet_distance(mu_a, sigma_a, mu_b, sigma_b),
        'fid_aa': calculate_frechet_distance(mu_a, sigma_a, mu_a, sigma_a),
        'kid_ab': kernel_distance_on(a64, b64, subsets),
        'kid_subsets': [{'b': x, 'a': y} for x, y in subsets],
    }
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(expected, f)
    print({k: v for k, v in expected.items() if k != 'kid_subsets'})


if __name__ == '__main__':
    main()
