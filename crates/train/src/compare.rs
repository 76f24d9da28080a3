//! Across runs and arms: each arm's spread over seeds, and paired differences between arms
//! over the same prompts and seeds.
//!
//! Arms of one ablation are scored on the same prompts with the same initial noise (run `k`
//! of every arm uses `eval.seed + k`), so their per-prompt outcomes pair up: the difference
//! of two arms' all-correct rates gets Newcombe's paired interval and an exact McNemar test
//! over the (seed, prompt) items ([`ifvit_metrics::Paired`]).

use ifvit_data::shapes::{Aspect, Split};
use ifvit_metrics::{Paired, Proportion, Spread};
use serde::{Deserialize, Serialize};

use crate::ablate::{AblationResults, ArmResult};

/// One arm over its runs (seeds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArmSummary {
    pub arm: String,
    pub runs: usize,
    /// All-correct fraction on the seen prompts, one value per run.
    pub seen: Option<Spread>,
    /// All-correct fraction on the unseen prompts, one value per run.
    pub unseen: Option<Spread>,
    /// The relation check on the seen relation prompts, one value per run.
    pub relation: Option<Spread>,
    /// FID per run.
    pub fid: Option<Spread>,
    /// Mean over runs of the attention-rank depth profile (shallow, middle, deep third);
    /// `None` where no run has one.
    #[serde(default)]
    pub attention_profile: Option<[f64; 3]>,
    /// Every run's seen items pooled (`runs x prompts`), with its Wilson interval.
    pub seen_pooled: Option<Proportion>,
    pub unseen_pooled: Option<Proportion>,
}

/// Arm `a` minus arm `b` on the prompts of one split (all of them, or one aspect's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedRow {
    pub a: String,
    pub b: String,
    pub split: Split,
    /// `None`: every prompt of the split; otherwise that aspect's prompts only.
    pub aspect: Option<Aspect>,
    /// Runs (seeds) both arms have.
    pub runs: usize,
    /// Pooled over the runs' items.
    pub paired: Paired,
    /// The difference of the rates within each run, in run order (whether the pooled
    /// difference holds seed by seed or comes from one run).
    #[serde(default)]
    pub per_run: Vec<f64>,
}

/// The runs of `arm`, in run order.
fn runs_of<'a>(r: &'a AblationResults, arm: &str) -> Vec<&'a ArmResult> {
    let mut v: Vec<&ArmResult> = r.all_runs().filter(|x| x.arm == arm).collect();
    v.sort_by_key(|x| x.seed_index);
    v
}

/// Spread and pooled rate per arm (in arm order).
pub fn summaries(r: &AblationResults) -> Vec<ArmSummary> {
    r.arms
        .iter()
        .map(|first| {
            let runs = runs_of(r, &first.arm);
            let seen: Vec<f64> = runs
                .iter()
                .filter_map(|x| x.alignment.as_ref().map(|a| a.overall.all_correct))
                .collect();
            let unseen: Vec<f64> = runs
                .iter()
                .filter_map(|x| x.unseen.as_ref().map(|a| a.overall.all_correct))
                .collect();
            let relation: Vec<f64> = runs
                .iter()
                .filter_map(|x| x.alignment.as_ref().and_then(|a| a.overall.relation))
                .collect();
            let fid: Vec<f64> = runs.iter().filter_map(|x| x.fid).collect();
            let profiles: Vec<[f64; 3]> = runs
                .iter()
                .filter_map(|x| x.quality.attention_rank_profile)
                .filter_map(|p| Some([p[0]?, p[1]?, p[2]?]))
                .collect();
            let attention_profile = (!profiles.is_empty()).then(|| {
                let n = profiles.len() as f64;
                std::array::from_fn(|i| profiles.iter().map(|p| p[i]).sum::<f64>() / n)
            });
            let pool = |f: fn(&ArmResult) -> &Vec<bool>| {
                let all: Vec<bool> = runs.iter().flat_map(|x| f(x).iter().copied()).collect();
                (!all.is_empty()).then(|| Proportion::of(all))
            };
            ArmSummary {
                arm: first.arm.clone(),
                runs: runs.len(),
                seen: Spread::of(&seen),
                unseen: Spread::of(&unseen),
                relation: Spread::of(&relation),
                fid: Spread::of(&fid),
                attention_profile,
                seen_pooled: pool(|x| &x.items.seen),
                unseen_pooled: pool(|x| &x.items.unseen),
            }
        })
        .collect()
}

/// Which arm pairs are compared: every pair up to four arms, otherwise each arm against the
/// first (a sweep's grid would give too many pairs to read).
fn pairs(n: usize) -> Vec<(usize, usize)> {
    if n <= 4 {
        (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .collect()
    } else {
        (1..n).map(|j| (0, j)).collect()
    }
}

/// Paired differences (later arm minus earlier arm) over the runs both arms have, for each
/// split with items, over all prompts and per binding and relation prompts.
pub fn paired(r: &AblationResults) -> Vec<PairedRow> {
    let mut rows = Vec::new();
    for (i, j) in pairs(r.arms.len()) {
        let (a, b) = (&r.arms[j].arm, &r.arms[i].arm);
        let (ra, rb) = (runs_of(r, a), runs_of(r, b));
        for (split, aspects) in [
            (Split::Seen, &r.aspects.seen),
            (Split::Unseen, &r.aspects.unseen),
        ] {
            let items = |x: &ArmResult| -> Vec<bool> {
                match split {
                    Split::Seen => x.items.seen.clone(),
                    Split::Unseen => x.items.unseen.clone(),
                }
            };
            // Runs both arms have, with items for every prompt of the split.
            let matched: Vec<(Vec<bool>, Vec<bool>)> = ra
                .iter()
                .filter_map(|x| {
                    let y = rb.iter().find(|y| y.seed_index == x.seed_index)?;
                    let (ix, iy) = (items(x), items(y));
                    (!ix.is_empty() && ix.len() == aspects.len() && iy.len() == ix.len())
                        .then_some((ix, iy))
                })
                .collect();
            if matched.is_empty() {
                continue;
            }
            for scope in [None, Some(Aspect::Binding), Some(Aspect::Relation)] {
                let keep = |k: usize| scope.is_none_or(|s| aspects[k] == s);
                if !(0..aspects.len()).any(keep) {
                    continue;
                }
                let (mut xa, mut xb) = (Vec::new(), Vec::new());
                let mut per_run = Vec::with_capacity(matched.len());
                for (ia, ib) in &matched {
                    let (mut ka, mut kb, mut n) = (0usize, 0usize, 0usize);
                    for k in (0..aspects.len()).filter(|&k| keep(k)) {
                        xa.push(ia[k]);
                        xb.push(ib[k]);
                        ka += ia[k] as usize;
                        kb += ib[k] as usize;
                        n += 1;
                    }
                    per_run.push((ka as f64 - kb as f64) / n as f64);
                }
                rows.push(PairedRow {
                    a: a.clone(),
                    b: b.clone(),
                    split,
                    aspect: scope,
                    runs: matched.len(),
                    paired: Paired::of(&xa, &xb),
                    per_run,
                });
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ablate::{Items, PromptAspects};
    use crate::eval_run::ClipField;
    use ifvit_metrics::AlignmentReport;

    /// A run of `arm` whose seen items are `seen` (all-correct per prompt).
    fn run(arm: &str, seed_index: usize, seen: &[bool], fid: f64) -> ArmResult {
        let k = seen.iter().filter(|&&x| x).count();
        ArmResult {
            arm: arm.into(),
            fusion: None,
            params: 1,
            gmacs: 1.0,
            gmacs_ratio_to_first_arm: 1.0,
            train_steps: 1,
            batch_size: 1,
            train_seconds: 1.0,
            train_images_per_s: 1.0,
            step_ms: 1.0,
            final_loss: 0.0,
            seed_index,
            alignment: Some(AlignmentReport {
                overall: ifvit_metrics::shapes::report::AspectMeans {
                    n: seen.len(),
                    all_correct: k as f64 / seen.len() as f64,
                    ..Default::default()
                },
                ..Default::default()
            }),
            unseen: None,
            items: Items {
                seen: seen.to_vec(),
                unseen: vec![],
            },
            sample_seconds: 0.0,
            fid: Some(fid),
            clip_score: ClipField::no_weights(),
            quality: Default::default(),
            run_dir: "x".into(),
        }
    }

    fn results(arms: Vec<ArmResult>, seed_runs: Vec<ArmResult>) -> AblationResults {
        use Aspect::*;
        AblationResults {
            name: "t".into(),
            chance: None,
            bounds: None,
            arms,
            seeds: 2,
            seed_runs,
            summary: vec![],
            paired: vec![],
            eval_prompts: 4,
            unseen_prompts: 0,
            unseen_chance: None,
            unseen_bounds: None,
            aspects: PromptAspects {
                seen: vec![Count, Binding, Relation, Relation],
                unseen: vec![],
            },
            sweep: None,
            sampler: String::new(),
            guidance: 1.0,
            total_seconds: 0.0,
            machine: String::new(),
            device: String::new(),
            fid_reference: None,
            quality_setup_seconds: 0.0,
        }
    }

    #[test]
    fn runs_pool_over_seeds_and_pair_item_by_item() {
        let (t, f) = (true, false);
        let r = results(
            vec![
                run("a", 0, &[t, t, f, f], 10.0),
                run("b", 0, &[t, t, t, t], 20.0),
            ],
            vec![
                run("a", 1, &[t, f, f, f], 30.0),
                run("b", 1, &[t, t, t, f], 40.0),
            ],
        );
        let s = summaries(&r);
        assert_eq!((s[0].arm.as_str(), s[0].runs), ("a", 2));
        let seen = s[0].seen.unwrap();
        assert!((seen.mean - 0.375).abs() < 1e-12 && (seen.min, seen.max) == (0.25, 0.5));
        assert_eq!(s[1].fid.unwrap().mean, 30.0);
        let pooled = s[1].seen_pooled.unwrap();
        assert_eq!((pooled.k, pooled.n), (7, 8));
        assert!(s[0].unseen.is_none() && s[0].unseen_pooled.is_none());

        let p = paired(&r);
        // One pair (b - a), seen split only: all prompts, binding, relation.
        assert_eq!(p.len(), 3);
        let all = &p[0];
        assert_eq!((all.a.as_str(), all.b.as_str(), all.runs), ("b", "a", 2));
        assert_eq!(all.aspect, None);
        // b right where a is wrong on 4 of 8 items, never the reverse.
        let d = all.paired;
        assert_eq!((d.both, d.only_a, d.only_b, d.neither), (3, 4, 0, 1));
        assert!((d.diff - 0.5).abs() < 1e-12);
        // Seed 0: b 4/4, a 2/4; seed 1: b 3/4, a 1/4.
        assert_eq!(all.per_run, vec![0.5, 0.5]);
        let rel = &p[2];
        assert_eq!(rel.aspect, Some(Aspect::Relation));
        assert_eq!((rel.paired.only_a, rel.paired.only_b), (3, 0));
        assert_eq!(rel.paired.both + rel.paired.neither, 1);
    }

    #[test]
    fn runs_without_a_partner_or_with_other_prompts_are_not_paired() {
        let t = true;
        let r = results(
            vec![run("a", 0, &[t, t, t, t], 1.0), run("b", 0, &[t, t], 1.0)],
            vec![run("a", 1, &[t, t, t, t], 1.0)],
        );
        assert!(paired(&r).is_empty());
    }

    #[test]
    fn pairs_are_all_up_to_four_arms_then_against_the_first() {
        assert_eq!(pairs(1), vec![]);
        assert_eq!(pairs(3), vec![(0, 1), (0, 2), (1, 2)]);
        assert_eq!(pairs(4).len(), 6);
        assert_eq!(pairs(9), (1..9).map(|j| (0, j)).collect::<Vec<_>>());
    }
}
