//! The `%` and `%%` magics of kubernel.
//!
//! A magic never sees a socket: it gets its parsed arguments and an [`OutputSink`], so it can be
//! run and tested without a kernel. The kernel owns the sink that turns output into messages.
//!
//! - [`framework`]: parsing, the registry, help and spelling, the seam to the Rust session
//!   (no Kubernetes here);
//! - [`builtin`]: `%lsmagic`, `%help`, `%clear`;
//! - [`k8s`]: `%k8s`, in layers (cluster, verbs, watch, view).

pub mod builtin;
pub mod framework;
pub mod k8s;

pub use framework::notebook::{Dependency, NoNotebook, Notebook, Snapshot};
pub use framework::parse::{magic_incomplete, split_cell, MagicCall, MagicKind, Segment};
pub use framework::registry::{Magic, MagicContext, MagicError, MagicFuture, MagicOutput, Registry};
pub use output::{InputReader, MimeBundle, NoInput, OutputSink, StreamName};

/// A registry with every magic kubernel has: the built-ins and `%k8s`.
pub fn registry() -> Registry {
    let mut registry = Registry::new();
    builtin::register(&mut registry);
    k8s::register(&mut registry);
    registry
}
