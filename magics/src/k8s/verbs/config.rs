//! `config get-contexts` and `config current-context`: the kubeconfig's contexts as kubectl
//! lists them. (`config use-context` and `config set-context --current --namespace` are `use`.)

use super::flags::{Parsed, UsageError};
use super::{plan, result, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::view::Table;
use kube::config::Kubeconfig;
use output::MimeBundle;

pub struct Config;

const ABOUT: About = About {
    name: "config",
    flags: &["--kubeconfig"],
    help: "  %k8s config get-contexts | current-context     the kubeconfig's contexts (use-context and
        set-context --current --namespace N are spellings of use)",
    body: None,
    takes_command: false,
};

enum Options {
    GetContexts(Option<String>),
    CurrentContext(Option<String>),
}

impl Verb for Config {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        let file = p.text("--kubeconfig");
        match p.positional.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["get-contexts"] => plan(Options::GetContexts(file)),
            ["current-context"] => plan(Options::CurrentContext(file)),
            _ => Err(UsageError(
                "%k8s: of `config` get-contexts, current-context, use-context and set-context --current are known".into(),
            )),
        }
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(async move {
            match cx.positional.as_slice() {
                [] => ["get-contexts", "current-context", "use-context", "set-context"].iter().map(|s| s.to_string()).collect(),
                ["use-context"] => cx.contexts(),
                _ => Vec::new(),
            }
        })
    }
}

fn read(file: &Option<String>) -> Result<Kubeconfig, MagicError> {
    match file {
        Some(path) => Kubeconfig::read_from(path),
        None => Kubeconfig::read(),
    }
    .map_err(|e| MagicError::new("ConfigError", format!("cannot read the kubeconfig: {e}")))
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        match self {
            Options::CurrentContext(file) => {
                let kc = read(file)?;
                // After `use context C` the session's context is the current one.
                let session = cx.session.existing().await.and_then(|c| c.context.clone()).filter(|_| file.is_none());
                match session.or(kc.current_context) {
                    Some(c) => result(MimeBundle::plain(c)),
                    None => Err(MagicError::new("ConfigError", "current-context is not set")),
                }
            }
            Options::GetContexts(file) => {
                let kc = read(file)?;
                // The session's own choice of namespace shows for its context, as it would after
                // kubectl's set-context --current.
                let session_ns = cx.session.chosen_namespace();
                let current_name = cx.session.existing().await.and_then(|c| c.context.clone()).filter(|_| file.is_none()).or(kc.current_context.clone());
                let mut t = Table::new(&["CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE"]);
                for c in &kc.contexts {
                    let current = current_name.as_deref() == Some(c.name.as_str());
                    let ctx = c.context.as_ref();
                    let ns = ctx.and_then(|x| x.namespace.clone()).unwrap_or_default();
                    let ns = if current { session_ns.clone().unwrap_or(ns) } else { ns };
                    t.rows.push(vec![
                        if current { "*".into() } else { String::new() },
                        c.name.clone(),
                        ctx.map(|x| x.cluster.clone()).unwrap_or_default(),
                        ctx.and_then(|x| x.user.clone()).unwrap_or_default(),
                        ns,
                    ]);
                }
                result(t.bundle())
            }
        }
    }
}
