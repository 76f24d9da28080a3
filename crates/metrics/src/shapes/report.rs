//! Aggregated alignment: per-check means, overall and per caption aspect.

use std::collections::BTreeMap;
use std::fmt::Write;

use ifvit_data::shapes::Aspect;
use serde::{Deserialize, Serialize};

use super::score::AlignmentScore;
use crate::stats::Proportion;

/// Each check as `k` of `n` with its 95% Wilson interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckIntervals {
    pub count: Proportion,
    pub color: Proportion,
    pub shape: Proportion,
    /// Over relation captions only.
    pub relation: Option<Proportion>,
    pub all_correct: Proportion,
}

impl Default for CheckIntervals {
    fn default() -> Self {
        let none = Proportion::new(0, 0);
        CheckIntervals {
            count: none,
            color: none,
            shape: none,
            relation: None,
            all_correct: none,
        }
    }
}

/// Fractions of images passing each check (0..=1).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AspectMeans {
    /// Images scored.
    pub n: usize,
    pub count: f64,
    pub color: f64,
    pub shape: f64,
    /// Over relation captions only; `None` when there were none.
    pub relation: Option<f64>,
    pub all_correct: f64,
    /// The same checks with 95% Wilson intervals (absent in reports written before them).
    #[serde(default)]
    pub intervals: CheckIntervals,
}

impl AspectMeans {
    pub fn from_scores<'a>(scores: impl IntoIterator<Item = &'a AlignmentScore>) -> Self {
        let (mut n, mut c, mut col, mut sh, mut all) = (0usize, 0usize, 0usize, 0usize, 0usize);
        let (mut rn, mut rel) = (0usize, 0usize);
        for s in scores {
            n += 1;
            c += s.count as usize;
            col += s.color as usize;
            sh += s.shape as usize;
            all += s.all_correct as usize;
            if let Some(r) = s.relation {
                rn += 1;
                rel += r as usize;
            }
        }
        let frac = |k: usize, of: usize| if of == 0 { 0.0 } else { k as f64 / of as f64 };
        let prop = |k: usize, of: usize| Proportion::new(k as u64, of as u64);
        AspectMeans {
            n,
            count: frac(c, n),
            color: frac(col, n),
            shape: frac(sh, n),
            relation: (rn > 0).then(|| frac(rel, rn)),
            all_correct: frac(all, n),
            intervals: CheckIntervals {
                count: prop(c, n),
                color: prop(col, n),
                shape: prop(sh, n),
                relation: (rn > 0).then(|| prop(rel, rn)),
                all_correct: prop(all, n),
            },
        }
    }
}

/// Alignment of a set of (image, caption) pairs: overall and per caption aspect.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlignmentReport {
    pub overall: AspectMeans,
    /// Only aspects that occurred.
    pub by_aspect: BTreeMap<Aspect, AspectMeans>,
}

impl AlignmentReport {
    pub fn from_scores(scores: &[AlignmentScore]) -> Self {
        let by_aspect = Aspect::ALL
            .into_iter()
            .filter(|a| scores.iter().any(|s| s.aspect == *a))
            .map(|a| {
                (
                    a,
                    AspectMeans::from_scores(scores.iter().filter(|s| s.aspect == a)),
                )
            })
            .collect();
        AlignmentReport {
            overall: AspectMeans::from_scores(scores),
            by_aspect,
        }
    }

    /// A Markdown table (percentages), one row per aspect plus "all"; all-correct with its
    /// 95% Wilson interval.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from(
            "| captions | n | count | colour | shape | relation | all correct [95% CI] |\n\
             |---|---:|---:|---:|---:|---:|---:|\n",
        );
        let pct = |v: f64| format!("{:.1}%", 100.0 * v);
        let mut row = |name: &str, m: &AspectMeans| {
            let rel = m.relation.map(pct).unwrap_or_else(|| "-".into());
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {} | {rel} | {} |",
                m.n,
                pct(m.count),
                pct(m.color),
                pct(m.shape),
                m.intervals.all_correct.pct()
            );
        };
        for (a, m) in &self.by_aspect {
            row(a.name(), m);
        }
        row("all", &self.overall);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(aspect: Aspect, ok: bool, relation: Option<bool>) -> AlignmentScore {
        AlignmentScore {
            aspect,
            count: true,
            color: ok,
            shape: ok,
            relation,
            all_correct: ok && relation != Some(false),
        }
    }

    #[test]
    fn means_per_aspect_and_overall() {
        let scores = [
            s(Aspect::Count, true, None),
            s(Aspect::Count, false, None),
            s(Aspect::Relation, true, Some(true)),
            s(Aspect::Relation, true, Some(false)),
            s(Aspect::Relation, true, Some(false)),
        ];
        let r = AlignmentReport::from_scores(&scores);
        assert_eq!(r.overall.n, 5);
        assert!((r.overall.all_correct - 0.4).abs() < 1e-12);
        assert!((r.overall.relation.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.by_aspect[&Aspect::Count].color, 0.5);
        assert_eq!(r.by_aspect[&Aspect::Count].relation, None);
        assert!(!r.by_aspect.contains_key(&Aspect::Binding));
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"relation\":{\"n\":3"), "{json}");
        assert_eq!(serde_json::from_str::<AlignmentReport>(&json).unwrap(), r);
        let md = r.to_markdown();
        assert!(
            md.contains("| count | 2 | 100.0% | 50.0% | 50.0% | - | 50.0% [9.5, 90.5] |"),
            "{md}"
        );
        let ci = &r.by_aspect[&Aspect::Relation].intervals;
        assert_eq!((ci.all_correct.k, ci.all_correct.n), (1, 3));
        assert_eq!(ci.relation.unwrap().k, 1);
        // Reports written before the intervals still read.
        let old =
            r#"{"n":1,"count":1.0,"color":1.0,"shape":1.0,"relation":null,"all_correct":1.0}"#;
        assert_eq!(
            serde_json::from_str::<AspectMeans>(old)
                .unwrap()
                .intervals
                .count
                .n,
            0
        );
        assert_eq!(AlignmentReport::from_scores(&[]).overall.n, 0);
    }
}
