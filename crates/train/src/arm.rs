//! One arm of an ablation: a fusion strategy with its display and folder names.
//!
//! The built-in strategies come from the config (`arms: [EarlyConcat, ...]`); a library user
//! brings their own [`FusionStrategy`] with [`Arm::new`] and runs the same ablation through
//! [`crate::ablate::ablate_arms`].

use std::any::Any;

use ifvit_fusion::{Fusion, FusionStrategy};

use crate::ablate::RunArm;

/// An arm: what to call it, where its run folder goes, and the strategy to train.
pub struct Arm {
    /// `early-concat`, `gated-crossattn(c=1,v=1)`, ... (the strategy's [`FusionStrategy::name`]).
    pub name: String,
    /// Folder name under `OUT/arms/` and of its sample grid: `intermediate-concat-c1v4`.
    pub slug: String,
    /// The config-level name, when the strategy is a built-in one.
    pub fusion: Option<Fusion>,
    pub(crate) runner: Box<dyn RunArm>,
}

impl Arm {
    /// An arm of any strategy, named by it.
    pub fn new<S: FusionStrategy>(strategy: S) -> Self {
        let fusion = (&strategy as &dyn Any).downcast_ref::<Fusion>().copied();
        let name = strategy.name();
        let slug = fusion.map_or_else(|| slugify(&name), |f| f.slug());
        Self {
            name,
            slug,
            fusion,
            runner: Box::new(strategy),
        }
    }

    /// Sets the display name (the folder name follows it).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self.slug = slugify(&self.name);
        self
    }
}

impl From<Fusion> for Arm {
    fn from(f: Fusion) -> Self {
        Arm::new(f)
    }
}

impl std::fmt::Debug for Arm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arm")
            .field("name", &self.name)
            .field("slug", &self.slug)
            .finish()
    }
}

/// `gated-crossattn(c=1,v=1)` -> `gated-crossattn-c1v1` (the built-in arms' folder style);
/// anything but `[a-z0-9._-]` becomes `-`.
pub fn slugify(name: &str) -> String {
    let s = name
        .to_lowercase()
        .replace("(c=", "-c")
        .replace(",v=", "v")
        .replace(')', "");
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_arms_keep_their_folder_names_and_custom_ones_get_the_same_style() {
        let f = Fusion::IntermediateConcat { c: 1, v: 4 };
        let a = Arm::from(f);
        assert_eq!(a.slug, f.slug());
        assert_eq!(a.name, f.to_string());
        assert_eq!(a.fusion, Some(f));
        assert_eq!(slugify("gated-crossattn(c=1,v=1)"), "gated-crossattn-c1v1");
        assert_eq!(slugify("My Arm/2"), "my-arm-2");
    }
}
