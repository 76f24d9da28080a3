#!/usr/bin/env python3
"""Golden fixtures for `crates/diffusion` (noise schedules, timestep tables, trajectories).

    python3 scripts/golden/make_diffusion_fixtures.py

writes `crates/diffusion/tests/fixtures/{schedules,tables,trajectories}.json`.

References, all independent of the Rust code:
* schedules: float64 NumPy from the defining formulas (SD / U-ViT scaled-linear, DDPM linear,
  Nichol & Dhariwal cosine), cross-checked here against diffusers' own float32 tables;
* DDPM / DDIM / DPM-Solver++(2M) timestep tables and trajectories: diffusers' `DDPMScheduler`,
  `DDIMScheduler`, `DPMSolverMultistepScheduler` (version printed into the fixtures);
* the SPEC sampler (U-ViT's DPM-Solver++ "fast" singlestep, 50 NFE, time-uniform on
  [1e-3, 1]): the float64 port in `dpm_solver_uvit.py`.

Step convention: diffusers indexes steps t = 0..N-1; ifvit (like U-ViT) uses n = t + 1 in
1..=N, with alpha_bar(0) = 1. Tables are written in ifvit's n.

The "model" of every trajectory is analytic: data x0 ~ N(mu, diag(std^2)) elementwise, for
which the exact noise prediction at alpha_bar is
    eps*(x) = sigma (x - alpha mu) / (alpha^2 std^2 + sigma^2),  alpha = sqrt(abar), sigma = sqrt(1 - abar),
reported in the case's parameterisation (epsilon, sample = x0, or v = alpha eps - sigma x0).
Diffusers' schedulers get float64 `alphas_cumprod` (they build float32 ones from float32
betas), so their only float32 arithmetic left is DPMSolverMultistep's internal upcast to
float32 and its float32 sigma table.
"""

import json
import math
import os
import sys

import diffusers
import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dpm_solver_uvit import DPM_Solver, NoiseScheduleVP  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "diffusion", "tests", "fixtures")
N = 1000
SHAPE = [2, 1, 4, 4]  # [batch, C, H, W] of the analytic trajectories

# ---------------------------------------------------------------- schedules (float64)


def betas_scaled_linear(beta_start=0.00085, beta_end=0.012, n=N):
    return np.linspace(beta_start**0.5, beta_end**0.5, n, dtype=np.float64) ** 2


def betas_linear(beta_start=1e-4, beta_end=0.02, n=N):
    return np.linspace(beta_start, beta_end, n, dtype=np.float64)


def betas_cosine(s=0.008, max_beta=0.999, n=N):
    f = lambda t: math.cos((t + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    return np.array([min(1 - f((i + 1) / n) / f(i / n), max_beta) for i in range(n)], dtype=np.float64)


SCHEDULES = {
    "scaled-linear": ({"kind": "scaled-linear", "beta_start": 0.00085, "beta_end": 0.012}, betas_scaled_linear()),
    "linear": ({"kind": "linear", "beta_start": 1e-4, "beta_end": 0.02}, betas_linear()),
    # the known bug class: plain linear where scaled-linear was meant (SPEC: abar(N) = 0.001579)
    "linear-sd-endpoints": ({"kind": "linear", "beta_start": 0.00085, "beta_end": 0.012}, betas_linear(0.00085, 0.012)),
    "cosine": ({"kind": "cosine", "s": 0.008, "max_beta": 0.999}, betas_cosine()),
}


def alpha_bar_table(betas):
    """[abar(0) = 1, abar(1), ..., abar(N)]."""
    return np.concatenate([[1.0], np.cumprod(1.0 - betas)])


def check_against_diffusers():
    """Our float64 formulas agree with diffusers' float32 ones (sanity of the reference)."""
    for name, kind in [("scaled-linear", "scaled_linear"), ("linear", "linear"), ("cosine", "squaredcos_cap_v2")]:
        params, betas = SCHEDULES[name]
        kw = {k: v for k, v in params.items() if k in ("beta_start", "beta_end")}
        d = DDPMScheduler(num_train_timesteps=N, beta_schedule=kind, **kw)
        ours = alpha_bar_table(betas)[1:]
        rel = np.max(np.abs(d.alphas_cumprod.double().numpy() - ours) / ours)
        assert rel < 1e-3 if name == "cosine" else rel < 5e-5, (name, rel)


# ---------------------------------------------------------------- diffusers helpers

DIFFUSERS_PREDICTION = {"epsilon": "epsilon", "sample": "sample", "v": "v_prediction"}



def ddim(betas, spacing, prediction="epsilon"):
    s = DDIMScheduler(num_train_timesteps=N, trained_betas=betas, timestep_spacing=spacing,
                      clip_sample=False, set_alpha_to_one=True, steps_offset=0,
                      prediction_type=DIFFUSERS_PREDICTION[prediction])
    s.alphas_cumprod = torch.from_numpy(np.cumprod(1.0 - betas))
    s.final_alpha_cumprod = torch.tensor(1.0, dtype=torch.float64)
    return s


def ddpm(betas, spacing, prediction="epsilon"):
    s = DDPMScheduler(num_train_timesteps=N, trained_betas=betas, timestep_spacing=spacing,
                      clip_sample=False, variance_type="fixed_small", steps_offset=0,
                      prediction_type=DIFFUSERS_PREDICTION[prediction])
    s.alphas_cumprod = torch.from_numpy(np.cumprod(1.0 - betas))
    return s


def dpmpp_2m(betas, prediction="epsilon"):
    s = DPMSolverMultistepScheduler(num_train_timesteps=N, trained_betas=betas, solver_order=2,
                                    algorithm_type="dpmsolver++", solver_type="midpoint",
                                    lower_order_final=True, final_sigmas_type="zero",
                                    timestep_spacing="linspace",
                                    prediction_type=DIFFUSERS_PREDICTION[prediction])
    acp = torch.from_numpy(np.cumprod(1.0 - betas))
    s.alphas_cumprod = acp
    s.alpha_t, s.sigma_t = torch.sqrt(acp), torch.sqrt(1 - acp)
    s.lambda_t = torch.log(s.alpha_t) - torch.log(s.sigma_t)
    s.sigmas = ((1 - acp) / acp) ** 0.5
    return s


# ---------------------------------------------------------------- tables


def tables():
    betas = SCHEDULES["scaled-linear"][1]
    counts = [1, 2, 3, 6, 7, 10, 25, 50, 61, 100, 250, 999]
    out = {"ddim": [], "ddpm": [], "dpm-solver++-2m": [], "dpm-solver++": []}
    for spacing in ["leading", "trailing", "linspace"]:
        for steps in counts:
            s = ddim(betas, spacing)
            s.set_timesteps(steps)
            out["ddim"].append({"spacing": spacing, "steps": steps, "n": (s.timesteps.numpy() + 1).tolist()})
            s = ddpm(betas, spacing)
            s.set_timesteps(steps)
            out["ddpm"].append({"spacing": spacing, "steps": steps, "n": (s.timesteps.numpy() + 1).tolist()})
    for steps in counts + [1000]:
        s = dpmpp_2m(betas)
        s.set_timesteps(steps)
        out["dpm-solver++-2m"].append({"steps": steps, "n": (s.timesteps.numpy() + 1).tolist()})
    # every step count 1..=N, as one checksum per table (full tables would be ~1 MB):
    # sum_i (i + 1) * n_i + 7 * sum_i n_i^2 over the first `steps` entries; None when
    # diffusers' table repeats a step (our samplers refuse those step counts)
    out["digests"] = {}
    for name, make in [("ddim-leading", lambda: ddim(betas, "leading")),
                       ("ddim-trailing", lambda: ddim(betas, "trailing")),
                       ("ddim-linspace", lambda: ddim(betas, "linspace")),
                       ("dpm-solver++-2m", lambda: dpmpp_2m(betas))]:
        s, digests = make(), []
        for steps in range(1, N + 1):
            s.set_timesteps(steps)
            n = [int(t) + 1 for t in s.timesteps.numpy()[:steps]]
            repeated = len(set(n)) != len(n)
            digests.append(None if repeated else sum((i + 1) * v + 7 * v * v for i, v in enumerate(n)))
        out["digests"][name] = digests
    ns = NoiseScheduleVP(betas)
    for steps, order in [(50, 3), (49, 3), (48, 3), (20, 3), (7, 3), (3, 3), (2, 3), (1, 3),
                         (50, 2), (11, 2), (1, 2)]:
        solver = DPM_Solver(lambda x, t: np.zeros_like(x), ns)
        _, _, orders, grid = solver.sample(np.zeros(1), steps, eps=1.0 / N, T=1.0, order=order)
        out["dpm-solver++"].append({"steps": steps, "order": order, "orders": orders,
                                    "grid": grid.tolist(), "model_times": solver.evals})
    return out


def continuous():
    """log alpha(t), lambda(t) and inverse_lambda of the discrete scaled-linear schedule."""
    ns = NoiseScheduleVP(SCHEDULES["scaled-linear"][1])
    t = np.array([1e-3, 1.5e-3, 2e-3, 0.0123, 0.1, 0.33333, 0.5, 0.5005, 0.9, 0.999, 0.9995, 1.0])
    lam = ns.marginal_lambda(t)
    probe = np.linspace(float(lam.max()), float(lam.min()), 9)
    return {"t": t.tolist(), "log_alpha": ns.marginal_log_mean_coeff(t).tolist(),
            "sigma": ns.marginal_std(t).tolist(), "lambda": lam.tolist(),
            "lambda_probe": probe.tolist(), "inverse_lambda": ns.inverse_lambda(probe).tolist()}


# ---------------------------------------------------------------- trajectories


class Gaussian:
    """x0 ~ N(mu, std^2) elementwise; exact network outputs for a given alpha_bar."""

    def __init__(self, rng):
        self.mu = rng.uniform(-1.0, 1.0, SHAPE)
        self.std = rng.uniform(0.2, 1.0, SHAPE)

    def eps(self, x, abar):
        a, s = math.sqrt(abar), math.sqrt(1.0 - abar)
        return s * (x - a * self.mu) / (a * a * self.std**2 + s * s)

    def output(self, x, abar, prediction):
        a, s = math.sqrt(abar), math.sqrt(1.0 - abar)
        e = self.eps(x, abar)
        x0 = (x - s * e) / a
        return {"epsilon": e, "sample": x0, "v": a * e - s * x0}[prediction]


def flat(a):
    return np.asarray(a, dtype=np.float64).reshape(-1).tolist()


def flat10(a):
    """10 significant digits: enough for reference states (tolerances are >= 1e-6)."""
    return [float("%.10g" % v) for v in flat(a)]


def run_diffusers(sched, case, model, x, gen_seed=None):
    """Runs a diffusers scheduler; returns (model_times in n, noise per eval, states)."""
    betas = SCHEDULES[case["schedule"]][1]
    acp = np.cumprod(1.0 - betas)
    sched.set_timesteps(case["sampler"]["steps"])
    gen = torch.Generator().manual_seed(gen_seed) if gen_seed is not None else None
    twin = torch.Generator().manual_seed(gen_seed) if gen_seed is not None else None
    times, noises, states = [], [], []
    x = torch.from_numpy(x)
    eta = case["sampler"].get("eta", 0.0)
    for t in sched.timesteps:
        t = int(t)
        times.append(t + 1)
        out = torch.from_numpy(model.output(x.numpy(), float(acp[t]), case["prediction"]))
        if isinstance(sched, DDIMScheduler):
            noise = torch.randn(SHAPE, generator=twin, dtype=torch.float64) if eta > 0 else None
            x = sched.step(out, t, x, eta=eta, variance_noise=noise).prev_sample
        elif isinstance(sched, DDPMScheduler):
            noise = None
            if t > 0:  # DDPMScheduler draws its noise exactly like this
                noise = torch.randn(SHAPE, generator=twin, dtype=torch.float64)
            x = sched.step(out, t, x, generator=gen).prev_sample
        else:
            noise = None
            x = sched.step(out, t, x).prev_sample
        noises.append(None if noise is None else flat(noise.numpy()))
        states.append(flat10(x.numpy()))
    return times, noises, states


def trajectories():
    rng = np.random.default_rng(20240324)
    model = Gaussian(rng)
    cases = [
        {"name": "ddim-leading-50", "schedule": "scaled-linear", "prediction": "epsilon",
         "sampler": {"sampler": "ddim", "steps": 50, "eta": 0.0, "spacing": "leading"}},
        {"name": "ddim-trailing-20-eta", "schedule": "scaled-linear", "prediction": "sample",
         "sampler": {"sampler": "ddim", "steps": 20, "eta": 0.5, "spacing": "trailing"}},
        {"name": "ddim-leading-10-cosine-v", "schedule": "cosine", "prediction": "v",
         "sampler": {"sampler": "ddim", "steps": 10, "eta": 0.0, "spacing": "leading"}},
        {"name": "ddpm-leading-50", "schedule": "scaled-linear", "prediction": "epsilon",
         "sampler": {"sampler": "ddpm", "steps": 50, "spacing": "leading"}},
        {"name": "ddpm-trailing-25-linear-v", "schedule": "linear", "prediction": "v",
         "sampler": {"sampler": "ddpm", "steps": 25, "spacing": "trailing"}},
        {"name": "dpmpp-2m-20", "schedule": "scaled-linear", "prediction": "epsilon",
         "sampler": {"sampler": "dpm-solver++-2m", "steps": 20}},
        {"name": "dpmpp-2m-25-sample", "schedule": "scaled-linear", "prediction": "sample",
         "sampler": {"sampler": "dpm-solver++-2m", "steps": 25}},
        {"name": "dpmpp-2m-15-cosine-v", "schedule": "cosine", "prediction": "v",
         "sampler": {"sampler": "dpm-solver++-2m", "steps": 15}},
        {"name": "uvit-dpm-solver++-50", "schedule": "scaled-linear", "prediction": "epsilon",
         "sampler": {"sampler": "dpm-solver++", "steps": 50, "order": 3}},
        {"name": "uvit-dpm-solver++-10-order2", "schedule": "scaled-linear", "prediction": "epsilon",
         "sampler": {"sampler": "dpm-solver++", "steps": 10, "order": 2}},
    ]
    out = {"shape": SHAPE, "mu": flat(model.mu), "std": flat(model.std), "cases": []}
    for i, case in enumerate(cases):
        params, betas = SCHEDULES[case["schedule"]]
        x_T = rng.standard_normal(SHAPE)
        kind = case["sampler"]["sampler"]
        if kind == "ddim":
            sched = ddim(betas, case["sampler"]["spacing"], case["prediction"])
            times, noises, states = run_diffusers(sched, case, model, x_T, 1000 + i)
        elif kind == "ddpm":
            sched = ddpm(betas, case["sampler"]["spacing"], case["prediction"])
            times, noises, states = run_diffusers(sched, case, model, x_T, 1000 + i)
        elif kind == "dpm-solver++-2m":
            sched = dpmpp_2m(betas, case["prediction"])
            times, noises, states = run_diffusers(sched, case, model, x_T)
        else:
            ns = NoiseScheduleVP(betas)
            solver = DPM_Solver(lambda x, t: model.eps(x, math.exp(2 * float(ns.marginal_log_mean_coeff(t)))), ns)
            _, macro, orders, _ = solver.sample(x_T.copy(), case["sampler"]["steps"], eps=1.0 / N, T=1.0,
                                                order=case["sampler"]["order"])
            times, noises = solver.evals, [None] * len(solver.evals)
            # the state after the last evaluation of each singlestep update; None in between
            states = []
            for o, x in zip(orders, macro):
                states += [None] * (o - 1) + [flat10(x)]
        out["cases"].append({**case, "schedule_params": params, "x_T": flat(x_T), "model_times": times,
                             "noise": noises, "states": states, "final": states[-1]})
    return out


def exact_ode_error(case, mu, std):
    """max |final - exact ODE solution| of a deterministic case (a sanity check of the
    references: the probability-flow ODE maps z = (x - a mu) / sqrt(a^2 std^2 + s^2) to itself)."""
    abar = alpha_bar_table(SCHEDULES[case["schedule"]][1])
    uvit = case["sampler"]["sampler"] == "dpm-solver++"
    a_T = math.sqrt(abar[N] if uvit else abar[int(case["model_times"][0])])
    a_0 = math.sqrt(abar[1]) if uvit else 1.0  # U-ViT stops at t = 1e-3, diffusers at abar = 1
    s_T, s_0 = math.sqrt(1 - a_T**2), math.sqrt(1 - a_0**2)
    z = (np.array(case["x_T"]) - a_T * mu) / np.sqrt(a_T**2 * std**2 + s_T**2)
    exact = a_0 * mu + np.sqrt(a_0**2 * std**2 + s_0**2) * z
    return float(np.abs(np.array(case["final"]) - exact).max())


def dump(name, obj):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(path, ROOT)} ({os.path.getsize(path) / 1024:.0f} KiB)")


def main():
    os.makedirs(OUT, exist_ok=True)
    check_against_diffusers()
    meta = {"generator": "scripts/golden/make_diffusion_fixtures.py", "diffusers": diffusers.__version__,
            "torch": torch.__version__, "numpy": np.__version__}
    dump("schedules.json", {**meta, "num_steps": N, "continuous_scaled_linear": continuous(),
                            "schedules": {k: {"params": p, "alpha_bar": alpha_bar_table(b).tolist()}
                                          for k, (p, b) in SCHEDULES.items()}})
    dump("tables.json", {**meta, **tables()})
    traj = trajectories()
    mu, std = np.array(traj["mu"]), np.array(traj["std"])
    for case in traj["cases"]:
        if case["sampler"].get("eta", 0.0) == 0.0 and case["sampler"]["sampler"] != "ddpm":
            err = exact_ode_error(case, mu, std)
            print(f"  {case['name']}: max |final - exact ODE solution| = {err:.2e}")
            assert err < 0.2, case["name"]
    dump("trajectories.json", {**meta, **traj})


if __name__ == "__main__":
    main()
