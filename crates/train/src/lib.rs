//! ifvit-train
