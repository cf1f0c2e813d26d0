//! The `%` and `%%` magics of kubernel.
//!
//! A magic never sees a socket: it gets its parsed arguments and an [`OutputSink`], so it can be
//! run and tested without a kernel. The kernel owns the sink that turns output into messages.

pub mod builtin;
pub mod k8s;
pub mod parse;
pub mod registry;
pub mod sink;
pub mod spelling;

pub use parse::{split_cell, MagicCall, MagicKind, Segment};
pub use registry::{Magic, MagicContext, MagicError, MagicFuture, MagicOutput, Registry};
pub use sink::{InputReader, MimeBundle, NoInput, OutputSink, StreamName};
