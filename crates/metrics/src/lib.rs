//! ifvit-metrics
