//! ifvit-diffusion
