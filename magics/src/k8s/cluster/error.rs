//! What can go wrong talking to a cluster, typed, with the cause kept as the source. Each error's
//! text is the one line a person reads; the magic's edge turns it into the cell's error with
//! [`ClusterError::ename`] as its name.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClusterError {
    /// No kubeconfig, a context it does not have, a client that cannot be built.
    #[error("{0}")]
    Config(String),
    /// The API server did not answer, or not in time.
    #[error("{message}")]
    Unreachable { message: String, #[source] source: Option<kube::Error> },
    #[error("{message}")]
    Tls { message: String, #[source] source: kube::Error },
    #[error("{message}")]
    Unauthorized { message: String, #[source] source: kube::Error },
    /// RBAC said no: the message names the verb, the resource and the user.
    #[error("{message}")]
    Forbidden { message: String, #[source] source: kube::Error },
    #[error("{message}")]
    NotFound { message: String, #[source] source: Option<kube::Error> },
    #[error("{message}")]
    Conflict { message: String, #[source] source: kube::Error },
    /// A create of a name that is taken.
    #[error("{message}")]
    AlreadyExists { message: String, #[source] source: kube::Error },
    /// The server refused an object as invalid (HTTP 422).
    #[error("{message}")]
    Invalid { message: String, #[source] source: kube::Error },
    /// Any other answer of the API server, or an answer that was not Kubernetes at all.
    #[error("{message}")]
    Api { message: String, code: Option<u16>, #[source] source: Option<kube::Error> },
    /// A kind the cluster does not serve (with a suggestion when one is close).
    #[error("{0}")]
    UnknownKind(String),
    /// A manifest that is not YAML, or not an object Kubernetes can take.
    #[error("{0}")]
    Manifest(String),
    /// Nowhere to push the images of programs made from cells.
    #[error("this cluster names no registry for kubernel's images: give --registry HOST[:PORT][/PATH] or set KUBERNEL_REGISTRY (install/cluster's local cluster names its own)")]
    NoRegistry,
}

impl ClusterError {
    /// The short name of the error's kind, shown before its message.
    pub fn ename(&self) -> &'static str {
        match self {
            ClusterError::Config(_) => "ConfigError",
            ClusterError::Unreachable { .. } => "Unreachable",
            ClusterError::Tls { .. } => "TLSError",
            ClusterError::Unauthorized { .. } => "Unauthorized",
            ClusterError::Forbidden { .. } => "Forbidden",
            ClusterError::NotFound { .. } => "NotFound",
            ClusterError::Conflict { .. } => "Conflict",
            ClusterError::AlreadyExists { .. } => "AlreadyExists",
            ClusterError::Invalid { .. } => "Invalid",
            ClusterError::Api { .. } => "ApiError",
            ClusterError::UnknownKind(_) => "UnknownKind",
            ClusterError::Manifest(_) => "YAMLError",
            ClusterError::NoRegistry => "NoRegistry",
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, ClusterError::NotFound { .. })
    }

    /// Errors that say the cluster as a whole cannot be used now (as opposed to one request).
    pub fn is_fatal(&self) -> bool {
        matches!(self, ClusterError::Unreachable { .. } | ClusterError::Forbidden { .. } | ClusterError::Unauthorized { .. })
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ClusterError::NotFound { message: message.into(), source: None }
    }
}

/// The innermost message of an error chain, which is the one that names the cause
/// ("Connection refused", "deadline has elapsed", ...).
pub fn root_message(err: &(dyn std::error::Error + 'static)) -> String {
    let mut messages = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        messages.push(e.to_string());
        cur = e.source();
    }
    let last = messages.pop().unwrap_or_default();
    // Some layers repeat their source in their own message; the last one is enough, but keep the
    // one before it when the last is too terse to read on its own.
    if last.len() < 12 {
        if let Some(prev) = messages.pop() {
            if !prev.contains(&last) {
                return format!("{prev}: {last}");
            }
            return prev;
        }
    }
    last
}
