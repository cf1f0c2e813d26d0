//! `cleanup [--all]`: deletes what this session created (namespaces last; objects a controller
//! owns go with their owner), then waits, visibly, until it is gone.

use super::flags::{Parsed, UsageError};
use super::{plan, About, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicOutput};
use crate::k8s::cluster::objects::{api_for, being_deleted, kind_ref, owned_objects, owner_selector};
use crate::k8s::cluster::Kind;
use crate::k8s::view::name_of;
use crate::k8s::watch::gone::until_gone;
use kube::api::DeleteParams;
use output::StreamName;
use serde_json::Value;
use std::time::Duration;

/// How long `cleanup` waits for what it deleted to be gone (namespaces take longest).
const CLEANUP_WAIT: Duration = Duration::from_secs(90);

pub struct Cleanup;

const ABOUT: About = About {
    name: "cleanup",
    flags: &["--all", "--context", "--kubeconfig"],
    help: "  %k8s cleanup [--all]          delete it (namespaces last)",
    body: None,
    takes_command: false,
};

/// The same choice as `owned`: this session's objects, or any kubernel session's.
struct Options(super::owned::Options);

impl Verb for Cleanup {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        plan(Options(super::owned::Options::read(&p)?))
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, _) = cx.session.for_call(&self.0.scope).await?;
        let mut objects = owned_objects(&conn, self.0.all).await?;
        if objects.is_empty() {
            cx.sink.stream(StreamName::Stdout, "Nothing to clean up.\n");
            return Ok(MagicOutput::None);
        }
        // Namespaces last: deleting one takes what is in it along, and the lines above say what.
        objects.sort_by_key(|(k, _)| !k.namespaced);
        let mut first_error = None;
        // Objects a controller owns go with their owner (and would be made again if deleted first).
        let controlled = |o: &Value| o["metadata"]["ownerReferences"].as_array().is_some_and(|os| os.iter().any(|r| r["controller"] == true));
        for (kind, o) in objects.iter().filter(|(_, o)| !being_deleted(o) && !controlled(o)) {
            let (kind, o) = (kind.clone(), o.clone());
            let name = name_of(&o);
            let ns = o["metadata"]["namespace"].as_str().map(str::to_string);
            let api = api_for(&conn, &kind, ns.as_deref());
            match conn.call(&format!("delete {} {name}", kind.plural), api.delete(&name, &DeleteParams::background())).await {
                Ok(_) => {
                    let place = ns.map(|n| format!(" in {n}")).unwrap_or_default();
                    cx.sink.stream(StreamName::Stdout, &format!("{} \"{name}\" deleted{place}\n", kind_ref(&kind)));
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    cx.sink.stream(StreamName::Stderr, &format!("{}: {e}\n", e.ename()));
                    first_error.get_or_insert(MagicError::from(e));
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        // What is left is watched kind by kind: those that had something of ours.
        let mut kinds: Vec<Kind> = Vec::new();
        for (kind, _) in &objects {
            if !kinds.iter().any(|k| k.full_name() == kind.full_name()) {
                kinds.push(kind.clone());
            }
        }
        until_gone(&conn, &kinds, &owner_selector(self.0.all), objects.len(), CLEANUP_WAIT, cx.sink).await?;
        Ok(MagicOutput::None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn no_arguments() {
        assert_eq!(refused(&Cleanup, "--all", false), "");
        assert_ne!(refused(&Cleanup, "pods", false), "");
    }
}
