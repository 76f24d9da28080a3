//! Everything that can go wrong in this crate, with the fix in the message.

/// A bad schedule, sampler, objective or guidance setting, or a sampler driven wrongly.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DiffusionError {
    #[error("noise schedule: {field} = {value} is invalid: {reason}")]
    BadSchedule {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("sampler {sampler}: steps must be at least 1 (got 0)")]
    ZeroSteps { sampler: &'static str },
    #[error(
        "sampler {sampler}: {steps} steps is more than the schedule's {max} training steps; use at most {max}"
    )]
    TooManySteps {
        sampler: &'static str,
        steps: usize,
        max: usize,
    },
    #[error(
        "sampler {sampler}: {steps} steps repeat the training step n = {n} (a step of zero length); use fewer steps"
    )]
    RepeatedStep {
        sampler: &'static str,
        steps: usize,
        n: usize,
    },
    #[error("unknown {what} `{name}`; known: {known}")]
    UnknownName {
        what: &'static str,
        name: String,
        known: String,
    },
    #[error(
        "guidance scale must be a finite number (got {value}); w = 1 is no guidance (U-ViT's s = w - 1 = 0)"
    )]
    BadGuidance { value: f64 },
    #[error(
        "sampler ddim: eta must be in [0, 1] (got {eta}); 0 is deterministic DDIM, 1 the DDPM posterior variance"
    )]
    EtaOutOfRange { eta: f64 },
    #[error("sampler dpm-solver++: order must be 1, 2 or 3 (got {order}); SPEC uses 3")]
    BadOrder { order: usize },
    #[error("option `{option}` does not apply to sampler {sampler}; it applies to: {applies_to}")]
    OptionNotApplicable {
        option: &'static str,
        sampler: &'static str,
        applies_to: &'static str,
    },
    #[error("loss weighting: min-snr gamma must be a positive finite number (got {gamma})")]
    BadGamma { gamma: f64 },
    #[error(
        "sampler {sampler}: step {got} called out of order (expected step {expected} of {nfe}); build a fresh sampler to restart"
    )]
    StepOrder {
        sampler: &'static str,
        expected: usize,
        got: usize,
        nfe: usize,
    },
    #[error("sampler {sampler}: step {step} of {nfe} does not exist")]
    StepOutOfRange {
        sampler: &'static str,
        step: usize,
        nfe: usize,
    },
    #[error(
        "sampler {sampler}: step {step} adds noise and needs a noise tensor (see Sampler::needs_noise)"
    )]
    MissingNoise { sampler: &'static str, step: usize },
    #[error(
        "the model returned shape {got:?} for input x of shape {expected:?}; it must return the same shape"
    )]
    ModelOutputShape {
        expected: Vec<usize>,
        got: Vec<usize>,
    },
}
