//! `use namespace N` and `use context C`: where later commands go (kubectl's `config
//! set-context --current --namespace N` and `config use-context C`).

use super::flags::{Parsed, UsageError};
use super::{plan, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::connection::connect_checked;
use crate::k8s::cluster::objects::api_for;
use crate::k8s::cluster::Target;
use output::StreamName;
use std::sync::Arc;

pub struct Use;

const ABOUT: About = About {
    name: "use",
    flags: &[],
    help: "  %k8s use namespace N          make N the namespace of later commands (kubectl: config set-context --current --namespace N)
  %k8s use context C            switch to context C of the kubeconfig (kubectl: config use-context C)",
    body: None,
    takes_command: false,
};

enum Options {
    Namespace(String),
    Context(String),
}

impl Verb for Use {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        match p.positional.as_slice() {
            [what, name] if matches!(what.as_str(), "namespace" | "ns") => plan(Options::Namespace(name.clone())),
            [what, name] if what == "context" => plan(Options::Context(name.clone())),
            [what] if matches!(what.as_str(), "namespace" | "ns" | "context") => {
                let what = if what == "ns" { "namespace" } else { what.as_str() };
                Err(p.usage(format!("use {what} needs a name")))
            }
            _ => Err(p.usage("write `use namespace NAME` or `use context NAME`")),
        }
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(async move {
            match cx.positional.as_slice() {
                [] => vec!["namespace".into(), "context".into()],
                ["namespace" | "ns"] => cx.names("namespaces").await,
                ["context"] => cx.contexts(),
                _ => Vec::new(),
            }
        })
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        match self {
            Options::Namespace(name) => {
                let conn = cx.session.conn().await?;
                // Say so if it does not exist (kubectl would not), but switch anyway.
                let catalog = conn.catalog().await?;
                let ns_kind = catalog.resolve("namespaces")?;
                let exists = api_for(&conn, ns_kind, None).get_opt(name).await.ok().flatten().is_some();
                cx.session.set_namespace(name);
                let note = if exists { String::new() } else { " (it does not exist yet)".to_string() };
                cx.sink.stream(StreamName::Stdout, &format!("namespace is now {name}{note}\n"));
                Ok(MagicOutput::None)
            }
            Options::Context(name) => {
                let current = cx.session.existing().await;
                let target = Target {
                    context: Some(name.clone()),
                    kubeconfig: current.as_ref().and_then(|c| c.kubeconfig.clone()),
                    namespace: None,
                };
                let conn = Arc::new(connect_checked(&target).await?);
                cx.sink.stream(
                    StreamName::Stdout,
                    &format!("context is now {name}: {} (namespace {})\n", conn.server, conn.namespace),
                );
                cx.session.replace(conn).await;
                Ok(MagicOutput::None)
            }
        }
    }
}
