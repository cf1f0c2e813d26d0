//! `cluster-info`: where the control plane and the cluster's own services (those labelled
//! kubernetes.io/cluster-service=true in kube-system) are reached, as kubectl prints it.

use super::flags::{scope_only, Parsed, UsageError};
use super::{plan, result, About, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicOutput};
use crate::k8s::cluster::Scope;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams};
use output::{escape_html, MimeBundle};

pub struct ClusterInfo;

const ABOUT: About = About {
    name: "cluster-info",
    flags: &["--context", "--kubeconfig"],
    help: "  %k8s cluster-info            where the control plane and the cluster's services are reached",
    body: None,
    takes_command: false,
};

struct Options(Scope);

impl Verb for ClusterInfo {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        plan(Options(scope_only(&p)?))
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, _) = cx.session.for_call(&self.0).await?;
        // The same check as kubectl: the server answers, then its services are listed.
        conn.call("read the server version", conn.client.apiserver_version()).await?;
        let api: Api<Service> = Api::namespaced(conn.client.clone(), "kube-system");
        let lp = ListParams::default().labels("kubernetes.io/cluster-service=true");
        let services = conn.call("list services", api.list(&lp)).await?;
        let mut lines = vec![("Kubernetes control plane".to_string(), conn.server.clone())];
        for svc in services.items {
            let name = svc.metadata.name.clone().unwrap_or_default();
            let shown = svc.metadata.labels.as_ref().and_then(|l| l.get("kubernetes.io/name").cloned()).unwrap_or_else(|| name.clone());
            let port = svc.spec.as_ref().and_then(|s| s.ports.as_ref()).and_then(|p| p.first()).cloned();
            let link = match port {
                Some(p) => {
                    let scheme = if p.port == 443 || p.name.as_deref() == Some("https") { "https:" } else { "" };
                    let port = p.name.clone().unwrap_or_else(|| p.port.to_string());
                    format!("{}/api/v1/namespaces/kube-system/services/{scheme}{name}:{port}/proxy", conn.server)
                }
                None => format!("{}/api/v1/namespaces/kube-system/services/{name}/proxy", conn.server),
            };
            lines.push((shown, link));
        }
        let text: String = lines.iter().map(|(what, at)| format!("{what} is running at {at}\n")).collect();
        let html: String =
            lines.iter().map(|(what, at)| format!("<div><b>{}</b> is running at <code>{}</code></div>", escape_html(what), escape_html(at))).collect();
        result(MimeBundle::plain(text).with("text/html", html))
    }
}
