//! `endpoints svc/NAME`: the pod addresses behind a service, from its EndpointSlices.

use super::flags::{split_kind_names, Parsed, UsageError};
use super::{plan, result, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::objects::{api_for, to_value};
use crate::k8s::cluster::Scope;
use crate::k8s::view::Table;
use kube::api::ListParams;
use output::MimeBundle;

pub struct Endpoints;

const ABOUT: About = About {
    name: "endpoints",
    flags: &["--namespace", "--context", "--kubeconfig"],
    help: "  %k8s endpoints svc/NAME       the pod addresses behind a service",
    body: None,
    takes_command: false,
};

struct Options {
    positional: Vec<String>,
    scope: Scope,
}

impl Verb for Endpoints {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, mut p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        split_kind_names(&mut p)?;
        if p.positional.len() == 1 {
            p.positional.insert(0, "services".into());
        }
        if p.positional.len() != 2 {
            return Err(p.usage("write endpoints svc/NAME"));
        }
        plan(Options { positional: p.positional.clone(), scope: p.scope() })
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(cx.kind_then_names())
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let kind = conn.kind(&self.positional[0]).await?;
        if kind.plural != "services" {
            return Err(MagicError::usage("%k8s endpoints: give a service, e.g. endpoints svc/web"));
        }
        let name = &self.positional[1];
        // The service must exist (a clear NotFound otherwise).
        conn.call(&format!("get services {name}"), api_for(&conn, &kind, Some(&ns)).get(name)).await?;
        let slices_kind = conn.kind("endpointslices.discovery.k8s.io").await?;
        let lp = ListParams::default().labels(&format!("kubernetes.io/service-name={name}"));
        let slices = conn.call("list endpointslices", api_for(&conn, &slices_kind, Some(&ns)).list(&lp)).await?;
        let mut t = Table::new(&["ADDRESS", "PORTS", "READY", "NODE", "POD"]);
        for slice in slices.items {
            let v = to_value(slice, &slices_kind.api_resource());
            let ports = v["ports"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| format!("{}/{}", p["port"].as_i64().unwrap_or(0), p["protocol"].as_str().unwrap_or("TCP")))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            for ep in v["endpoints"].as_array().cloned().unwrap_or_default() {
                let ready = ep["conditions"]["ready"].as_bool().map_or("unknown".to_string(), |r| r.to_string());
                for addr in ep["addresses"].as_array().cloned().unwrap_or_default() {
                    t.rows.push(vec![
                        addr.as_str().unwrap_or_default().to_string(),
                        ports.clone(),
                        ready.clone(),
                        ep["nodeName"].as_str().unwrap_or("<none>").to_string(),
                        ep["targetRef"]["name"].as_str().unwrap_or("<none>").to_string(),
                    ]);
                }
            }
        }
        t.rows.sort();
        if t.rows.is_empty() {
            return result(MimeBundle::plain(format!("service/{name} has no endpoints (no ready pods match its selector)")));
        }
        result(t.bundle())
    }
}
