//! ifvit-data
