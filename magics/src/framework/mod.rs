//! The magic framework: splitting cells into Rust and magic calls, the registry of magics with
//! help and "did you mean", and the seam to the notebook's Rust session. It knows nothing of
//! Kubernetes; output goes through the `output` crate's sink.

pub mod notebook;
pub mod parse;
pub mod registry;
pub mod spelling;
