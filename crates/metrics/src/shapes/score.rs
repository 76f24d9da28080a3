//! Scoring detected objects against a caption, per aspect.
//!
//! With `named` = the objects the caption names (groups expanded by their counts) and
//! `found` = the detected objects:
//! * `count`: `|found| == |named|`;
//! * `color`: the set of found colours equals the set of named colours;
//! * `shape`: the set of found shapes equals the set of named shapes (an unrecognised blob
//!   makes it wrong);
//! * `relation` (relation captions only, else `None`): each group is located by colour
//!   (by colour and shape when both groups share a colour); right when both groups are
//!   found and every (a, b) pair of their objects satisfies the relation on centroids
//!   (dominant axis, see `Relation::holds`);
//! * `all_correct`: the multiset of found (colour, shape) pairs equals the named one (this
//!   is what checks attribute binding) and, for relation captions, `relation`.

use std::collections::BTreeSet;

use ifvit_data::shapes::{Aspect, CaptionSpec, Color, Group, Shape};
use serde::{Deserialize, Serialize};

use super::features::DetectedObject;

/// The verdict on one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlignmentScore {
    pub aspect: Aspect,
    pub count: bool,
    pub color: bool,
    pub shape: bool,
    pub relation: Option<bool>,
    pub all_correct: bool,
}

/// Scores `found` objects against `spec` (the rules of the module docs).
pub fn score_objects(found: &[DetectedObject], spec: &CaptionSpec) -> AlignmentScore {
    let groups = spec.groups();
    let named: Vec<(Color, Option<Shape>)> = groups
        .iter()
        .flat_map(|g| std::iter::repeat_n((g.color, Some(g.shape)), g.count as usize))
        .collect();
    let got: Vec<(Color, Option<Shape>)> = found.iter().map(|o| (o.color, o.shape)).collect();

    let count = got.len() == named.len();
    let set = |v: &[(Color, Option<Shape>)]| v.iter().map(|p| p.0).collect::<BTreeSet<_>>();
    let color = set(&got) == set(&named);
    let shapes = |v: &[(Color, Option<Shape>)]| v.iter().map(|p| p.1).collect::<BTreeSet<_>>();
    let shape = shapes(&got) == shapes(&named);
    let relation = match spec {
        CaptionSpec::Relation { a, relation, b } => {
            let ca = locate(found, a, b);
            let cb = locate(found, b, a);
            let holds = !ca.is_empty()
                && !cb.is_empty()
                && ca.iter().all(|oa| {
                    cb.iter().filter(|ob| !std::ptr::eq(*oa, **ob)).all(|ob| {
                        relation.holds(oa.centroid.0 - ob.centroid.0, oa.centroid.1 - ob.centroid.1)
                    })
                });
            Some(holds)
        }
        CaptionSpec::Objects(_) => None,
    };
    let (mut g, mut n) = (got, named);
    g.sort();
    n.sort();
    AlignmentScore {
        aspect: spec.aspect(),
        count,
        color,
        shape,
        relation,
        all_correct: g == n && relation != Some(false),
    }
}

/// The detected objects that stand for `group` (by colour, or by colour and shape when the
/// other group has the same colour).
fn locate<'a>(
    found: &'a [DetectedObject],
    group: &Group,
    other: &Group,
) -> Vec<&'a DetectedObject> {
    found
        .iter()
        .filter(|o| {
            o.color == group.color && (group.color != other.color || o.shape == Some(group.shape))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(color: Color, shape: Shape, x: f32, y: f32) -> DetectedObject {
        DetectedObject {
            color,
            shape: Some(shape),
            area: 100,
            centroid: (x, y),
            bbox: (0, 0, 9, 9),
            fill: 1.0,
            taper: 1.0,
            corner_fill: 1.0,
        }
    }

    fn score(found: &[DetectedObject], caption: &str) -> AlignmentScore {
        score_objects(found, &CaptionSpec::parse(caption).unwrap())
    }

    #[test]
    fn each_check_fails_alone() {
        use Color::*;
        use Shape::*;
        let ok = [obj(Red, Circle, 8.0, 16.0), obj(Blue, Square, 24.0, 16.0)];
        let s = score(&ok, "a red circle left of a blue square");
        assert_eq!(
            (s.count, s.color, s.shape, s.relation, s.all_correct),
            (true, true, true, Some(true), true)
        );
        let s = score(&ok, "a red circle right of a blue square");
        assert_eq!(
            (s.count, s.color, s.shape, s.relation, s.all_correct),
            (true, true, true, Some(false), false)
        );
        // Swapped attributes: every set matches, the binding does not.
        let s = score(&ok, "a blue circle and a red square");
        assert_eq!(
            (s.count, s.color, s.shape, s.relation, s.all_correct),
            (true, true, true, None, false)
        );
        let s = score(&ok, "a red circle and a green square");
        assert_eq!(
            (s.count, s.color, s.shape, s.all_correct),
            (true, false, true, false)
        );
        let s = score(&ok, "a red circle and a blue triangle");
        assert_eq!(
            (s.count, s.color, s.shape, s.all_correct),
            (true, true, false, false)
        );
        let s = score(&ok[..1], "two red circles");
        assert_eq!(
            (s.count, s.color, s.shape, s.all_correct),
            (false, true, true, false)
        );
        let three = [
            obj(Red, Circle, 8.0, 8.0),
            obj(Red, Circle, 24.0, 8.0),
            obj(Red, Circle, 8.0, 24.0),
        ];
        assert!(score(&three, "three red circles").all_correct);
        assert_eq!(score(&three, "three red circles").aspect, Aspect::Count);
        let s = score(&[], "one red circle");
        assert_eq!(
            (s.count, s.color, s.shape, s.all_correct),
            (false, false, false, false)
        );
    }

    #[test]
    fn unrecognised_blobs_fail_shape_and_relations_need_both_groups() {
        use Color::*;
        use Shape::*;
        let mut blob = obj(Red, Circle, 8.0, 16.0);
        blob.shape = None;
        let s = score(&[blob.clone()], "one red circle");
        assert_eq!(
            (s.count, s.color, s.shape, s.all_correct),
            (true, true, false, false)
        );
        // Relation located by colour: a wrong shape does not hide a right placement.
        let found = [blob, obj(Blue, Square, 8.0, 30.0)];
        let s = score(&found, "a red circle above a blue square");
        assert_eq!((s.relation, s.all_correct), (Some(true), false));
        let s = score(&found[..1], "a red circle above a blue square");
        assert_eq!(s.relation, Some(false));
        // Same colour: located by colour and shape.
        let same = [obj(Red, Circle, 8.0, 16.0), obj(Red, Square, 24.0, 16.0)];
        assert!(score(&same, "a red square right of a red circle").all_correct);
        assert!(!score(&same, "a red square left of a red circle").all_correct);
        // Groups: every pair must hold.
        let g = [
            obj(Red, Circle, 8.0, 8.0),
            obj(Red, Circle, 8.0, 24.0),
            obj(Blue, Square, 24.0, 16.0),
        ];
        assert!(score(&g, "two red circles left of a blue square").all_correct);
        let g2 = [
            obj(Red, Circle, 8.0, 8.0),
            obj(Red, Circle, 28.0, 24.0),
            obj(Blue, Square, 24.0, 16.0),
        ];
        assert_eq!(
            score(&g2, "two red circles left of a blue square").relation,
            Some(false)
        );
    }
}
