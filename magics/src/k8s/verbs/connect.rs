//! `connect`: (re)connects and shows the server, its version, the nodes and their capacity, and
//! the API groups with their preferred versions.

use super::flags::{no_positionals, Parsed, UsageError};
use super::{plan, result, About, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicOutput};
use crate::k8s::cluster::connection::connect_checked;
use crate::k8s::cluster::objects::{api_for, to_value};
use crate::k8s::cluster::{ClusterError, Conn, Target};
use crate::k8s::view::cluster_info::{cluster_bundle, ClusterInfo};
use chrono::Utc;
use kube::api::ListParams;
use output::MimeBundle;
use std::sync::Arc;

pub struct Connect;

const ABOUT: About = About {
    name: "connect",
    flags: &["--context", "--namespace", "--kubeconfig"],
    help: "  %k8s connect [--context C] [--namespace N] [--kubeconfig PATH]
        connect (again) and show the server, its version, the nodes and their capacity, and the
        API groups with their preferred versions",
    body: None,
    takes_command: false,
};

struct Options {
    target: Target,
}

impl Verb for Connect {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        no_positionals(&p)?;
        let s = p.scope();
        plan(Options { target: Target { context: s.context, kubeconfig: s.kubeconfig, namespace: s.namespace } })
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let conn = Arc::new(connect_checked(&self.target).await?);
        // Connecting again (a rerun first cell) keeps the namespace chosen with `use`, unless
        // this connect names one.
        let before = cx.session.existing().await;
        let same_cluster = before.as_ref().is_some_and(|b| {
            self.target.context.as_ref().is_none_or(|c| Some(c) == b.context.as_ref())
                && self.target.kubeconfig.as_ref().is_none_or(|k| Some(k) == b.kubeconfig.as_ref())
        }) || (before.is_none() && self.target.context.is_none() && self.target.kubeconfig.is_none());
        let kept = cx.session.chosen_namespace().filter(|_| self.target.namespace.is_none() && same_cluster);
        let namespace = kept.clone().unwrap_or_else(|| conn.namespace.clone());
        let bundle = summary(&conn, &namespace).await?;
        cx.session.replace(conn).await;
        if let Some(ns) = kept {
            cx.session.set_namespace(&ns);
        }
        result(bundle)
    }
}

async fn summary(conn: &Conn, namespace: &str) -> Result<MimeBundle, ClusterError> {
    let version = conn.call("read the server version", conn.client.apiserver_version()).await?;
    let catalog = conn.catalog().await?;
    let nodes_kind = catalog.resolve("nodes")?;
    let ar = nodes_kind.api_resource();
    let nodes = conn.call("list nodes", api_for(conn, nodes_kind, None).list(&ListParams::default())).await?;
    let info = ClusterInfo {
        server: conn.server.clone(),
        version: version.git_version,
        context: conn.context.clone(),
        user: conn.user.clone(),
        namespace: namespace.to_string(),
        nodes: nodes.items.into_iter().map(|o| to_value(o, &ar)).collect(),
        groups: catalog.groups.clone(),
    };
    Ok(cluster_bundle(&info, Utc::now()))
}
