//! Which registry the cluster's images go to: `--registry`, else `KUBERNEL_REGISTRY`, else the
//! one the cluster names itself in `kube-public/local-registry-hosting` (the convention of
//! KEP-1755, which kind and minikube follow, and so does install/cluster).

use super::connection::Conn;
use super::error::ClusterError;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;

pub const REGISTRY_ENV: &str = "KUBERNEL_REGISTRY";

/// Where images are pushed, and how the cluster's nodes name that registry when they pull.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryChoice {
    /// `host[:port][/path]`, as images::Registry takes it.
    pub push: String,
    /// The same registry as the container runtime of the nodes reaches it.
    pub pull: String,
    /// Where the choice came from, for messages ("--registry", "KUBERNEL_REGISTRY", ...).
    pub source: &'static str,
}

impl RegistryChoice {
    /// `host[:port]` of [`RegistryChoice::pull`]: what the nodes' credentials are keyed by.
    pub fn pull_host(&self) -> &str {
        self.pull.split('/').next().unwrap_or_default()
    }
}

pub async fn find_registry(conn: &Conn, flag: Option<&str>) -> Result<RegistryChoice, ClusterError> {
    let given = |spec: &str, source| RegistryChoice { push: spec.to_string(), pull: spec.to_string(), source };
    if let Some(spec) = flag.filter(|s| !s.is_empty()) {
        return Ok(given(spec, "--registry"));
    }
    if let Some(spec) = std::env::var(REGISTRY_ENV).ok().filter(|s| !s.trim().is_empty()) {
        return Ok(given(spec.trim(), "KUBERNEL_REGISTRY"));
    }
    let api: Api<ConfigMap> = Api::namespaced(conn.client.clone(), "kube-public");
    let found = conn.call("read kube-public/local-registry-hosting", api.get_opt("local-registry-hosting")).await;
    let hosting = match found {
        Ok(Some(cm)) => cm.data.and_then(|d| d.get("localRegistryHosting.v1").cloned()),
        // Not allowed to read it: the same as not there.
        Ok(None) | Err(ClusterError::Forbidden { .. }) => None,
        Err(e) => return Err(e),
    };
    match hosting.as_deref().and_then(parse_hosting) {
        Some((push, pull)) => Ok(RegistryChoice { push, pull, source: "the cluster's local-registry-hosting" }),
        None => Err(ClusterError::NoRegistry),
    }
}

/// `host:` (where this machine pushes) and `hostFromContainerRuntime:` (where nodes pull) of
/// the ConfigMap's small YAML document.
fn parse_hosting(doc: &str) -> Option<(String, String)> {
    let field = |key: &str| {
        doc.lines().find_map(|l| {
            let (k, v) = l.trim().split_once(':')?;
            (k.trim() == key).then(|| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string()).filter(|v| !v.is_empty())
        })
    };
    let push = field("host")?;
    let pull = field("hostFromContainerRuntime").unwrap_or_else(|| push.clone());
    Some((push, pull))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kep_1755_document_is_read() {
        let doc = "host: \"127.0.0.1:5000\"\nhelp: \"https://example.invalid\"\n";
        assert_eq!(parse_hosting(doc), Some(("127.0.0.1:5000".into(), "127.0.0.1:5000".into())));
        let doc = "host: localhost:5001\nhostFromContainerRuntime: kind-registry:5000\n";
        assert_eq!(parse_hosting(doc), Some(("localhost:5001".into(), "kind-registry:5000".into())));
        assert_eq!(parse_hosting("help: x"), None);
    }
}
