//! The cluster side of a kernel session: the connection (made on first use, replaced by
//! `connect` and `use context`) and the namespace chosen with `use namespace`.

use super::connection::{connect_checked, Conn, Target};
use super::error::ClusterError;
use std::sync::{Arc, Mutex};

/// Where one command goes: its -n, --context and --kubeconfig.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    pub namespace: Option<String>,
    pub context: Option<String>,
    pub kubeconfig: Option<String>,
}

#[derive(Default)]
pub struct Session {
    conn: tokio::sync::Mutex<Option<Arc<Conn>>>,
    /// `use namespace` on top of the connection's default.
    namespace: Mutex<Option<String>>,
}

impl Session {
    /// The current connection, connecting lazily (KUBECONFIG or in-cluster) on first use.
    pub async fn conn(&self) -> Result<Arc<Conn>, ClusterError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let conn = Arc::new(connect_checked(&Target::default()).await?);
        *guard = Some(conn.clone());
        Ok(conn)
    }

    /// The connection if there is one, without connecting (for completion).
    pub async fn existing(&self) -> Option<Arc<Conn>> {
        self.conn.lock().await.clone()
    }

    /// Makes `conn` the session's connection, with its own default namespace.
    pub async fn replace(&self, conn: Arc<Conn>) {
        *self.conn.lock().await = Some(conn);
        *self.namespace.lock().unwrap() = None;
    }

    pub fn set_namespace(&self, namespace: &str) {
        *self.namespace.lock().unwrap() = Some(namespace.to_string());
    }

    /// The namespace chosen with `use namespace`, if one was.
    pub fn chosen_namespace(&self) -> Option<String> {
        self.namespace.lock().unwrap().clone()
    }

    pub fn namespace(&self, conn: &Conn) -> String {
        self.namespace.lock().unwrap().clone().unwrap_or_else(|| conn.namespace.clone())
    }

    /// The connection for one command and its namespace: the session's, or a one-off
    /// connection for --context/--kubeconfig.
    pub async fn for_call(&self, scope: &Scope) -> Result<(Arc<Conn>, String), ClusterError> {
        if scope.context.is_some() || scope.kubeconfig.is_some() {
            let current = self.existing().await;
            let target = Target {
                context: scope.context.clone(),
                kubeconfig: scope.kubeconfig.clone().or_else(|| current.as_ref().and_then(|c| c.kubeconfig.clone())),
                namespace: None,
            };
            let conn = Arc::new(connect_checked(&target).await?);
            let ns = scope.namespace.clone().unwrap_or_else(|| conn.namespace.clone());
            return Ok((conn, ns));
        }
        let conn = self.conn().await?;
        let ns = scope.namespace.clone().unwrap_or_else(|| self.namespace(&conn));
        Ok((conn, ns))
    }
}
