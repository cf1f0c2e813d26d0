//! The seam from magics to the notebook's Rust session: what the notebook has defined so far,
//! and a way to put a value into one of its variables. The kernel's evaluator implements it;
//! magics that build the notebook's code into programs (to run them in pods) read it.

use std::future::Future;
use std::pin::Pin;

/// What `bind` returns: it ends when the variable exists, or with why not.
pub type BindFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// One `[dependencies]` entry made by a `:dep` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub name: String,
    /// The value side of its TOML line as the notebook's Cargo.toml has it: `"1.0"` or
    /// `{ version = "1", features = ["derive"] }`.
    pub spec: String,
}

/// The notebook's state after its last successful cell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every item defined so far (fns, structs, enums, traits, impls, uses, consts, statics,
    /// macros), as Rust source in the order the cells defined them, without evcxr's wrappers.
    pub items: String,
    pub dependencies: Vec<Dependency>,
    /// The resolved Cargo.lock of those dependencies, when there are any.
    pub cargo_lock: Option<String>,
    /// How many successful cells the snapshot has seen (0: none yet).
    pub cells: u64,
}

pub trait Notebook: Send + Sync {
    /// The state after the last successful cell (read right after it, not later: evcxr rewrites
    /// its sources for completion and checks).
    fn snapshot(&self) -> Snapshot;

    /// Makes `name` a variable of the notebook, of Rust type `type_name`, holding `json`
    /// deserialized (serde_json). Ends when the variable exists, or with a message saying why not.
    fn bind<'a>(&'a self, name: &'a str, type_name: &'a str, json: String) -> BindFuture<'a>;
}

/// Where there is no Rust session (tests of magics alone): nothing defined, nothing can be bound.
pub struct NoNotebook;

impl Notebook for NoNotebook {
    fn snapshot(&self) -> Snapshot {
        Snapshot::default()
    }

    fn bind<'a>(&'a self, name: &'a str, _type_name: &'a str, _json: String) -> BindFuture<'a> {
        Box::pin(async move { Err(format!("there is no Rust session here to hold {name}")) })
    }
}
