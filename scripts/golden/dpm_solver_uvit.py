"""A float64 NumPy port of the DPM-Solver++ sampler exactly as U-ViT's MS-COCO code runs it.

Source ported: `dpm_solver_pp.py` of the U-ViT repository (Bao et al., baofff/U-ViT; also
vendored by UniDiffuser), called from `train_t2i_discrete.py` as

    noise_schedule = NoiseScheduleVP(schedule='discrete', betas=betas)
    model_fn = lambda x, t_continuous: cfg_nnet(x, t_continuous * N)      # model time = 1000 t
    dpm_solver = DPM_Solver(model_fn, noise_schedule, predict_x0=True, thresholding=False)
    z = dpm_solver.sample(z_init, steps=50, eps=1. / N, T=1.)

with `sample`'s defaults `order=3, skip_type='time_uniform', method='fast',
solver_type='dpm_solver', denoise=False`. Only the code paths this call reaches are ported
(discrete schedule, data prediction, singlestep orders 1-3 with the "fast" order schedule);
names follow the original so the two can be read side by side. The original runs in float32
torch; this port runs in float64 so that it is a sharp reference for the Rust code, whose
schedule constants are float64.
"""

import numpy as np


def interpolate_fn(x, xp, yp):
    """Piecewise-linear interpolation through the knots (xp, yp), xp increasing; outside the
    knots the first / last segment is extended as a straight line (as the original does)."""
    x = np.asarray(x, dtype=np.float64)
    k = len(xp)
    # index of the segment [xp[i], xp[i+1]] holding x, clamped to the end segments
    i = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, k - 2)
    x0, x1, y0, y1 = xp[i], xp[i + 1], yp[i], yp[i + 1]
    return y0 + (x - x0) * (y1 - y0) / (x1 - x0)


class NoiseScheduleVP:
    """`NoiseScheduleVP(schedule='discrete', betas=...)`: log alpha(t) is the piecewise-linear
    interpolation of 0.5 * cumsum(log(1 - beta)) at t_k = k / N, k = 1..N."""

    def __init__(self, betas):
        betas = np.asarray(betas, dtype=np.float64)
        self.total_N = len(betas)
        self.log_alpha_discrete = 0.5 * np.cumsum(np.log(1.0 - betas))
        self.t_discrete = np.linspace(1.0 / self.total_N, 1.0, self.total_N)
        self.T = 1.0

    def marginal_log_mean_coeff(self, t):
        return interpolate_fn(t, self.t_discrete, self.log_alpha_discrete)

    def marginal_alpha(self, t):
        return np.exp(self.marginal_log_mean_coeff(t))

    def marginal_std(self, t):
        return np.sqrt(1.0 - np.exp(2.0 * self.marginal_log_mean_coeff(t)))

    def marginal_lambda(self, t):
        log_mean_coeff = self.marginal_log_mean_coeff(t)
        log_std = 0.5 * np.log(1.0 - np.exp(2.0 * log_mean_coeff))
        return log_mean_coeff - log_std

    def inverse_lambda(self, lamb):
        log_alpha = -0.5 * np.logaddexp(0.0, -2.0 * lamb)
        # log alpha decreases with t: interpolate on the flipped knots
        return interpolate_fn(log_alpha, self.log_alpha_discrete[::-1], self.t_discrete[::-1])


class DPM_Solver:
    """`DPM_Solver(model_fn, ns, predict_x0=True, thresholding=False)`, singlestep "fast"."""

    def __init__(self, model_fn, noise_schedule):
        self.model = model_fn  # (x, t_continuous) -> network output (epsilon here)
        self.noise_schedule = noise_schedule
        self.evals = []  # model times 1000 t of every evaluation, for the timestep table

    def model_fn(self, x, t):
        """Data prediction x0 = (x - sigma_t eps) / alpha_t."""
        ns = self.noise_schedule
        self.evals.append(float(t) * ns.total_N)
        noise = self.model(x, t)
        return (x - ns.marginal_std(t) * noise) / ns.marginal_alpha(t)

    def get_time_steps(self, t_T, t_0, N):  # skip_type == 'time_uniform'
        return np.linspace(t_T, t_0, N + 1)

    @staticmethod
    def fast_orders(steps, order):
        """`get_time_steps_for_dpm_solver_fast`: the order of each singlestep update."""
        if order == 3:
            K = steps // 3 + 1
            if steps % 3 == 0:
                return [3] * (K - 2) + [2, 1]
            if steps % 3 == 1:
                return [3] * (K - 1) + [1]
            return [3] * (K - 1) + [2]
        if order == 2:
            K = steps // 2
            return [2] * K + ([1] if steps % 2 else [])
        raise ValueError("order must >= 2")

    def first_update(self, x, s, t):
        ns = self.noise_schedule
        h = ns.marginal_lambda(t) - ns.marginal_lambda(s)
        sigma_s, sigma_t = ns.marginal_std(s), ns.marginal_std(t)
        alpha_t = ns.marginal_alpha(t)
        phi_1 = (np.exp(-h) - 1.0) / (-1.0)
        x0_s = self.model_fn(x, s)
        return (sigma_t / sigma_s) * x + (alpha_t * phi_1) * x0_s

    def second_update(self, x, s, t, r1):
        ns = self.noise_schedule
        lambda_s, lambda_t = ns.marginal_lambda(s), ns.marginal_lambda(t)
        h = lambda_t - lambda_s
        s1 = ns.inverse_lambda(lambda_s + r1 * h)
        sigma_s, sigma_s1, sigma_t = ns.marginal_std(s), ns.marginal_std(s1), ns.marginal_std(t)
        alpha_s1, alpha_t = ns.marginal_alpha(s1), ns.marginal_alpha(t)
        phi_11 = np.expm1(-r1 * h)
        phi_1 = np.expm1(-h)
        x0_s = self.model_fn(x, s)
        x_s1 = (sigma_s1 / sigma_s) * x - (alpha_s1 * phi_11) * x0_s
        x0_s1 = self.model_fn(x_s1, s1)
        return (
            (sigma_t / sigma_s) * x
            - (alpha_t * phi_1) * x0_s
            - (0.5 / r1) * (alpha_t * phi_1) * (x0_s1 - x0_s)
        )

    def third_update(self, x, s, t, r1, r2):
        ns = self.noise_schedule
        lambda_s, lambda_t = ns.marginal_lambda(s), ns.marginal_lambda(t)
        h = lambda_t - lambda_s
        s1 = ns.inverse_lambda(lambda_s + r1 * h)
        s2 = ns.inverse_lambda(lambda_s + r2 * h)
        sigma_s, sigma_s1, sigma_s2, sigma_t = (ns.marginal_std(v) for v in (s, s1, s2, t))
        alpha_s1, alpha_s2, alpha_t = (ns.marginal_alpha(v) for v in (s1, s2, t))
        phi_11 = np.expm1(-r1 * h)
        phi_12 = np.expm1(-r2 * h)
        phi_1 = np.expm1(-h)
        phi_22 = np.expm1(-r2 * h) / (r2 * h) + 1.0
        phi_2 = phi_1 / h + 1.0
        x0_s = self.model_fn(x, s)
        x_s1 = (sigma_s1 / sigma_s) * x - (alpha_s1 * phi_11) * x0_s
        x0_s1 = self.model_fn(x_s1, s1)
        x_s2 = (
            (sigma_s2 / sigma_s) * x
            - (alpha_s2 * phi_12) * x0_s
            + r2 / r1 * (alpha_s2 * phi_22) * (x0_s1 - x0_s)
        )
        x0_s2 = self.model_fn(x_s2, s2)
        return (
            (sigma_t / sigma_s) * x
            - (alpha_t * phi_1) * x0_s
            + (1.0 / r2) * (alpha_t * phi_2) * (x0_s2 - x0_s)
        )

    def sample(self, x, steps, eps, T, order=3):
        """method='fast', skip_type='time_uniform'. Returns the final x and the state after
        every singlestep update (one entry per order in the order schedule)."""
        ns = self.noise_schedule
        orders = self.fast_orders(steps, order)
        timesteps = self.get_time_steps(T, eps, steps)
        states = []
        i = 0
        for order in orders:
            s, t = timesteps[i], timesteps[i + order]
            h = ns.marginal_lambda(t) - ns.marginal_lambda(s)
            r1 = None if order <= 1 else (ns.marginal_lambda(timesteps[i + 1]) - ns.marginal_lambda(s)) / h
            r2 = None if order <= 2 else (ns.marginal_lambda(timesteps[i + 2]) - ns.marginal_lambda(s)) / h
            if order == 1:
                x = self.first_update(x, s, t)
            elif order == 2:
                x = self.second_update(x, s, t, r1)
            else:
                x = self.third_update(x, s, t, r1, r2)
            states.append(x)
            i += order
        return x, states, orders, timesteps
