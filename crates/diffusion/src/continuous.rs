//! The continuous-time view of a discrete schedule (DPM-Solver's `NoiseScheduleVP('discrete')`).
//!
//! Time `t` runs over `[1/N, 1]` (sampling stops at `t = 1e-3` for N = 1000); the network
//! sees model time `N t`. `log alpha(t)` is the piecewise-linear interpolation of
//! `0.5 * cumsum(log(1 - beta))` at the knots `t_k = k / N`, `k = 1..=N`, extended linearly
//! beyond the end knots as the original does. At a knot, `alpha(k / N)^2 = alpha_bar(k)`
//! exactly, so a network trained on integer `n` sees the same noise level at model time `n`.
//! `lambda(t) = log alpha(t) - log sigma(t)` is the half log-SNR.

use crate::schedule::NoiseSchedule;

/// Piecewise-linear interpolation through `(xs, ys)` (`xs` strictly increasing, at least two
/// knots), extending the first and last segments beyond the ends.
fn interpolate(x: f64, xs: impl Fn(usize) -> f64, ys: impl Fn(usize) -> f64, k: usize) -> f64 {
    // first knot index i with xs(i) > x, minus one: the segment [xs(i), xs(i+1)] holding x
    let (mut lo, mut hi) = (0usize, k);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if xs(mid) <= x { lo = mid + 1 } else { hi = mid }
    }
    let i = lo.saturating_sub(1).min(k - 2);
    let (x0, x1, y0, y1) = (xs(i), xs(i + 1), ys(i), ys(i + 1));
    y0 + (x - x0) * (y1 - y0) / (x1 - x0)
}

impl NoiseSchedule {
    /// The knot `t_k = k / N` for the 0-based knot index `i = k - 1`.
    fn knot(&self, i: usize) -> f64 {
        (i + 1) as f64 / self.num_steps() as f64
    }

    /// `log alpha(t)` (DPM-Solver's `marginal_log_mean_coeff`).
    pub fn log_alpha_t(&self, t: f64) -> f64 {
        interpolate(
            t,
            |i| self.knot(i),
            |i| self.log_alphas[i],
            self.num_steps(),
        )
    }

    /// `(alpha(t), sigma(t))` with `sigma = sqrt(1 - alpha^2)`.
    pub fn alpha_sigma_t(&self, t: f64) -> (f64, f64) {
        let la = self.log_alpha_t(t);
        (la.exp(), (1.0 - (2.0 * la).exp()).sqrt())
    }

    /// `lambda(t) = log alpha(t) - log sigma(t)`, the half log-SNR; decreasing in `t`.
    pub fn lambda_t(&self, t: f64) -> f64 {
        let la = self.log_alpha_t(t);
        la - 0.5 * (1.0 - (2.0 * la).exp()).ln()
    }

    /// The `t` with `lambda(t) = lambda` (DPM-Solver's `inverse_lambda`).
    pub fn t_of_lambda(&self, lambda: f64) -> f64 {
        // log alpha = -0.5 * logaddexp(0, -2 lambda)
        let m = -2.0 * lambda;
        let log_alpha = -0.5 * (m.max(0.0) + (-(m.abs())).exp().ln_1p());
        // log alpha decreases with t: interpolate on the reversed knots
        let n = self.num_steps();
        interpolate(
            log_alpha,
            |i| self.log_alphas[n - 1 - i],
            |i| self.knot(n - 1 - i),
            n,
        )
    }

    /// The network's time input for continuous time `t`: `N t` (U-ViT's `t_continuous * N`).
    pub fn model_time(&self, t: f64) -> f64 {
        t * self.num_steps() as f64
    }
}

#[cfg(test)]
mod tests {
    use crate::schedule::NoiseSchedule;

    #[test]
    fn knots_reproduce_the_discrete_alpha_bar() {
        let s = NoiseSchedule::default();
        for n in [1usize, 2, 17, 500, 999, 1000] {
            let (a, sigma) = s.alpha_sigma_t(n as f64 / 1000.0);
            assert!((a * a - s.alpha_bar(n)).abs() < 1e-14, "n = {n}");
            assert!(
                (sigma * sigma - (1.0 - s.alpha_bar(n))).abs() < 1e-14,
                "n = {n}"
            );
        }
    }

    #[test]
    fn interpolates_linearly_between_knots_and_extends_beyond() {
        let s = NoiseSchedule::default();
        let (l1, l2) = (s.log_alpha_t(0.001), s.log_alpha_t(0.002));
        assert!((s.log_alpha_t(0.0015) - 0.5 * (l1 + l2)).abs() < 1e-15);
        // below the first knot: the first segment extended
        assert!((s.log_alpha_t(0.0005) - (l1 - 0.5 * (l2 - l1))).abs() < 1e-15);
    }

    #[test]
    fn inverse_lambda_inverts_lambda() {
        let s = NoiseSchedule::default();
        for t in [0.001, 0.0013, 0.05, 0.3333, 0.5, 0.77777, 0.999, 1.0] {
            let back = s.t_of_lambda(s.lambda_t(t));
            assert!((back - t).abs() < 1e-12, "t = {t}: {back}");
        }
        assert!(s.lambda_t(0.001) > s.lambda_t(0.5) && s.lambda_t(0.5) > s.lambda_t(1.0));
        assert_eq!(s.model_time(0.5), 500.0);
    }
}
