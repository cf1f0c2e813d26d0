//! `version`: this client's and the server's versions, as `kubectl version` prints them.

use super::flags::{scope_only, Parsed, UsageError};
use super::{plan, result, About, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicOutput};
use crate::k8s::cluster::Scope;
use output::MimeBundle;

pub struct Version;

const ABOUT: About = About {
    name: "version",
    flags: &["--context", "--kubeconfig"],
    help: "  %k8s version                 the client's and the server's versions",
    body: None,
    takes_command: false,
};

struct Options(Scope);

impl Verb for Version {
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
        let server = conn.call("read the server version", conn.client.apiserver_version()).await?;
        result(MimeBundle::plain(format!(
            "Client Version: kubernel {} (kube-rs)\nServer Version: {}",
            env!("CARGO_PKG_VERSION"),
            server.git_version
        )))
    }
}
