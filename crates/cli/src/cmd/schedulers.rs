//! `ifvit schedulers`: the noise schedules, objectives and samplers, with their options.

use anyhow::Result;
use ifvit_diffusion::{NoiseSchedule, PREDICTIONS, SAMPLERS, SCHEDULES, SamplerConfig};
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct SchedulersArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct ScheduleRow {
    name: &'static str,
    about: &'static str,
    params: ifvit_diffusion::BetaSchedule,
    alpha_bar_last: f64,
}

#[derive(Serialize)]
struct SamplerRow {
    name: &'static str,
    about: &'static str,
    options: Vec<(&'static str, &'static str)>,
    default: SamplerConfig,
}

#[derive(Serialize)]
struct Listing {
    num_train_steps: usize,
    schedules: Vec<ScheduleRow>,
    predictions: Vec<(&'static str, &'static str)>,
    loss_weightings: Vec<(&'static str, &'static str)>,
    samplers: Vec<SamplerRow>,
    guidance: &'static str,
}

const N: usize = 1000;
const GUIDANCE: &str = "--guidance w: out = out_u + w (out_c - out_u), one batched forward of [cond; uncond] per \
                        model evaluation; w = 1 is no guidance; U-ViT's scale s = w - 1 (SPEC samples with s = 1, i.e. w = 2)";

fn listing() -> Result<Listing> {
    let schedules = SCHEDULES
        .iter()
        .map(|s| {
            Ok(ScheduleRow {
                name: s.name,
                about: s.about,
                params: s.default,
                alpha_bar_last: NoiseSchedule::new(s.default, N)?.alpha_bar(N),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let samplers = SAMPLERS
        .iter()
        .map(|s| {
            Ok(SamplerRow {
                name: s.name,
                about: s.about,
                options: s.options.to_vec(),
                default: SamplerConfig::parse(s.name, s.default_steps, &Default::default())?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Listing {
        num_train_steps: N,
        schedules,
        predictions: PREDICTIONS
            .iter()
            .map(|(_, name, about)| (*name, *about))
            .collect(),
        loss_weightings: vec![
            ("uniform", "every step weighs the same (SPEC)"),
            (
                "min-snr[:GAMMA]",
                "min(SNR, gamma) in x0 terms (Hang et al. 2023), gamma 5 by default",
            ),
        ],
        samplers,
        guidance: GUIDANCE,
    })
}

fn params(p: &ifvit_diffusion::BetaSchedule) -> String {
    use ifvit_diffusion::BetaSchedule::*;
    match *p {
        ScaledLinear {
            beta_start,
            beta_end,
        }
        | Linear {
            beta_start,
            beta_end,
        } => {
            format!("beta_start={beta_start} beta_end={beta_end}")
        }
        Cosine { s, max_beta } => format!("s={s} max_beta={max_beta}"),
    }
}

pub fn run(args: &SchedulersArgs) -> Result<()> {
    let l = listing()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&l)?);
        return Ok(());
    }
    println!(
        "Steps: training steps n in 1..={N}, alpha_bar(0) = 1; the network's time input is n \
         (continuous-time samplers: 1000 t, t in [1e-3, 1]).\n"
    );
    println!("Noise schedules (first: SPEC default):");
    for s in &l.schedules {
        let last = match s.alpha_bar_last {
            v if v >= 1e-3 => format!("{v:.6}"),
            v => format!("{v:.3e}"),
        };
        println!(
            "  {:<15} {:<34} alpha_bar(N) = {last:<10} {}",
            s.name,
            params(&s.params),
            s.about
        );
    }
    println!("\nObjectives (what the network predicts; first: SPEC default):");
    for (name, about) in &l.predictions {
        println!("  {name:<15} {about}");
    }
    println!("\nLoss weighting:");
    for (name, about) in &l.loss_weightings {
        println!("  {name:<15} {about}");
    }
    println!("\nSamplers (first: SPEC default; NFE = steps for all):");
    for s in &l.samplers {
        println!("  {:<15} {}", s.name, s.about);
        println!(
            "  {:<15} default: {} (RON, as in experiment configs)",
            "",
            ron::to_string(&s.default)?
        );
        for (opt, help) in &s.options {
            println!("  {:<15}   --{opt:<8} {help}", "");
        }
    }
    println!("\nGuidance:\n  {}", l.guidance);
    Ok(())
}
