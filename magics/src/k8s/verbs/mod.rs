//! The verbs of `%k8s`, one file each, as kubectl has one package per command: each reads its
//! own options from the shared flag table ([`flags`]), checks them before anything is sent,
//! runs, completes its arguments, and brings its help. Adding a verb is adding a file here and
//! its line in [`ALL`].

pub mod flags;

pub mod annotate;
pub mod api_resources;
pub mod apply;
pub mod auth;
pub mod autoscale;
pub mod cleanup;
pub mod cluster_info;
pub mod config;
pub mod connect;
pub mod cp;
pub mod create;
pub mod delete;
pub mod deploy;
pub mod describe;
pub mod diff;
pub mod endpoints;
pub mod exec;
pub mod explain;
pub mod expose;
pub mod get;
pub mod http;
pub mod image;
pub mod images;
pub mod job;
pub mod label;
pub mod logs;
pub mod owned;
pub mod patch;
pub mod port_forward;
pub mod promql;
pub mod proxy;
pub mod rollout;
pub mod run;
pub mod scale;
pub mod set;
pub mod top;
pub mod use_;
pub mod version;
pub mod wait;
pub mod watch;
pub mod workers;

use crate::framework::notebook::Notebook;
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::connection::context_names;
use crate::k8s::cluster::objects::api_for;
use crate::k8s::cluster::pods::PickError;
use crate::k8s::cluster::{ClusterError, Conn, Session};
use crate::k8s::watch::WaitError;
use flags::{Parsed, UsageError};
use kube::api::ListParams;
use output::{InputReader, MimeBundle, OutputSink};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every verb, in the order `%k8s?` and "the verbs are ..." list them.
pub static ALL: &[&dyn Verb] = &[
    &connect::Connect,
    &use_::Use,
    &get::Get,
    &describe::Describe,
    &apply::Apply,
    &diff::Diff,
    &delete::Delete,
    &logs::Logs,
    &scale::Scale,
    &run::Run,
    &job::Job,
    &workers::Workers,
    &deploy::Deploy,
    &images::Images,
    &image::Image,
    &expose::Expose,
    &endpoints::Endpoints,
    &http::Http,
    &exec::Exec,
    &cp::Cp,
    &port_forward::PortForward,
    &proxy::Proxy,
    &set::Set,
    &rollout::Rollout,
    &autoscale::Autoscale,
    &watch::WatchVerb,
    &promql::Promql,
    &top::Top,
    &owned::Owned,
    &cleanup::Cleanup,
    &version::Version,
    &cluster_info::ClusterInfo,
    &api_resources::ApiResources,
    &label::Label,
    &annotate::Annotate,
    &create::Create,
    &config::Config,
    &explain::Explain,
    &patch::Patch,
    &wait::Wait,
    &auth::Auth,
];

pub fn find(name: &str) -> Option<&'static dyn Verb> {
    ALL.iter().copied().find(|v| v.name() == name)
}

/// What a cell body means to a verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// YAML manifests (apply, delete).
    Manifests,
    /// The command's stdin (exec).
    Stdin,
    /// Rust code made into a program for the cluster (job, deploy, image build).
    Rust,
    /// A query (promql).
    Query,
}

/// What a verb is: its name, the flags it takes, its help, and what it does with a cell body.
pub struct About {
    pub name: &'static str,
    /// The long names of the flags it takes (see [`flags::FLAGS`]).
    pub flags: &'static [&'static str],
    /// Its lines in `%k8s?`.
    pub help: &'static str,
    /// What `%%k8s VERB` does with the cell's body; `None`: it takes none.
    pub body: Option<Body>,
    /// Whether what follows `--` is a command to run (run, exec) rather than more arguments.
    pub takes_command: bool,
}

pub trait Verb: Sync {
    fn about(&self) -> &'static About;
    /// Reads and checks the options; nothing is sent to the cluster yet.
    fn plan(&self, args: Parsed, has_body: bool) -> Result<Box<dyn Planned>, UsageError>;
    /// What may be typed for the positional arguments; the caller filters by the typed prefix.
    fn complete<'a>(&'a self, _cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(async { Vec::new() })
    }

    fn name(&self) -> &'static str {
        self.about().name
    }
    fn flags(&self) -> &'static [&'static str] {
        self.about().flags
    }
    fn help(&self) -> &'static str {
        self.about().help
    }
    fn body(&self) -> Option<Body> {
        self.about().body
    }
    fn takes_command(&self) -> bool {
        self.about().takes_command
    }
}

/// A verb's checked options, ready to run, as the magic holds them.
pub trait Planned: Send + Sync {
    fn run<'a>(&'a self, cx: &'a Cx<'a>) -> MagicFuture<'a, Result<MagicOutput, MagicError>>;
}

/// How a verb's checked options run; each verb's options struct implements it.
pub trait Plan: Send + Sync {
    fn run(&self, cx: &Cx<'_>) -> impl Future<Output = Result<MagicOutput, MagicError>> + Send;
}

impl<T: Plan> Planned for T {
    fn run<'a>(&'a self, cx: &'a Cx<'a>) -> MagicFuture<'a, Result<MagicOutput, MagicError>> {
        Box::pin(Plan::run(self, cx))
    }
}

/// What a running verb has at hand.
pub struct Cx<'a> {
    pub session: &'a Session,
    pub state: &'a State,
    pub sink: &'a Arc<dyn OutputSink>,
    pub input: &'a Arc<dyn InputReader>,
    pub notebook: &'a Arc<dyn Notebook>,
    /// The cell's body for `%%k8s VERB`, and the cell line it starts on.
    pub body: Option<&'a str>,
    pub body_line: usize,
}

/// What verbs keep between cells (the running port-forwards, ...), one value of each type.
#[derive(Default)]
pub struct State(Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl State {
    pub fn get<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut map = self.0.lock().unwrap();
        let entry = map.entry(TypeId::of::<T>()).or_insert_with(|| Arc::new(T::default()));
        entry.clone().downcast::<T>().expect("keyed by its type")
    }
}

/// Completing a verb's arguments: the positionals before the cursor and the -n given.
pub struct Completing<'a> {
    pub session: &'a Session,
    pub positional: Vec<&'a str>,
    pub namespace: Option<String>,
    /// The word at the cursor.
    pub current: &'a str,
}

/// The kinds offered first, kubectl's short names, and the live cluster's kinds if connected.
pub async fn kinds(session: &Session) -> Vec<String> {
    use crate::k8s::cluster::kinds::{COMMON_KINDS, SHORT_NAMES};
    let mut v: Vec<String> = COMMON_KINDS.iter().map(|s| s.to_string()).collect();
    v.extend(SHORT_NAMES.iter().map(|(s, _)| s.to_string()));
    if let Some(conn) = session.existing().await {
        if let Ok(catalog) = conn.catalog().await {
            v.extend(catalog.kinds.iter().map(|k| k.plural.clone()));
        }
    }
    v
}

impl Completing<'_> {
    /// Names of live objects of a kind in the namespace given or the session's.
    pub async fn names(&self, kind: &str) -> Vec<String> {
        let Ok(conn) = self.session.conn().await else { return Vec::new() };
        let ns = self.namespace.clone().unwrap_or_else(|| self.session.namespace(&conn));
        live_names(&conn, &ns, kind).await
    }

    /// `deploy/` and friends while no kind is typed; `deploy/NAME` for each live one after.
    pub async fn workload_names(&self, prefixes: &[&str]) -> Vec<String> {
        match self.current.split_once('/') {
            Some((kind, _)) => self.names(kind).await.into_iter().map(|n| format!("{kind}/{n}")).collect(),
            None => prefixes.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A kind first, then names of that kind; `KIND/` completes to `KIND/NAME`.
    pub async fn kind_then_names(&self) -> Vec<String> {
        if let Some((kind, _)) = self.current.split_once('/') {
            if self.positional.is_empty() {
                return self.names(kind).await.into_iter().map(|n| format!("{kind}/{n}")).collect();
            }
            return Vec::new();
        }
        match self.positional.first() {
            None => kinds(self.session).await,
            Some(kind) => self.names(kind).await,
        }
    }

    pub fn contexts(&self) -> Vec<String> {
        context_names(None)
    }
}

/// Names of live objects of a kind (for completion), within 3 s or none.
async fn live_names(conn: &Conn, ns: &str, typed_kind: &str) -> Vec<String> {
    let Ok(catalog) = conn.catalog().await else { return Vec::new() };
    let Ok(kind) = catalog.resolve(typed_kind) else { return Vec::new() };
    let api = api_for(conn, kind, Some(ns));
    match conn.call_within("list", Duration::from_secs(3), api.list_metadata(&ListParams::default().limit(500))).await {
        Ok(list) => list.items.into_iter().filter_map(|o| o.metadata.name).collect(),
        Err(_) => Vec::new(),
    }
}

// The edge: typed errors of the layers below become the cell's one-line error here.

impl From<ClusterError> for MagicError {
    fn from(e: ClusterError) -> Self {
        MagicError::new(e.ename(), e.to_string())
    }
}

impl From<WaitError> for MagicError {
    fn from(e: WaitError) -> Self {
        match e {
            WaitError::Cluster(e) => e.into(),
            WaitError::Failed(f) => MagicError::new(&f.cause, f.message),
        }
    }
}

impl From<UsageError> for MagicError {
    fn from(e: UsageError) -> Self {
        MagicError::usage(e.0)
    }
}

/// A pick error as the verb `verb` says it.
pub fn pick_error(verb: &str, e: PickError) -> MagicError {
    match e {
        PickError::Cluster(e) => e.into(),
        PickError::NoSelector(what) => MagicError::usage(format!("%k8s {verb}: {what} has no pod selector; name a pod")),
    }
}

/// The cell's result.
pub fn result(bundle: MimeBundle) -> Result<MagicOutput, MagicError> {
    Ok(MagicOutput::Result(bundle))
}

/// Boxes a plan (the options struct of a verb).
pub fn plan<P: Plan + 'static>(p: P) -> Result<Box<dyn Planned>, UsageError> {
    Ok(Box::new(p))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::flags::{parse, Parsed, UsageError};
    use super::Verb;

    /// A verb's arguments as the flag table reads them (`line` is what follows the verb).
    pub fn parsed(verb: &dyn Verb, line: &str) -> Result<Parsed, UsageError> {
        let args: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        parse(verb.name(), verb.flags(), verb.takes_command(), &args)
    }

    /// The usage error a line gives, or "" if it plans fine.
    pub fn refused(verb: &dyn Verb, line: &str, body: bool) -> String {
        match parsed(verb, line).and_then(|p| verb.plan(p, body)) {
            Ok(_) => String::new(),
            Err(e) => e.0,
        }
    }
}
