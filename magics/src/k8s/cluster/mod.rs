//! The cluster layer of `%k8s`, on kube: connecting (kubeconfig, contexts, in-cluster), the
//! session's connection and namespace, discovery and the kind catalogue, objects of any kind,
//! manifests, finding pods, the registry for images, the state of aggregated APIs (metrics), and
//! typed errors. It knows nothing of magics or cells.

pub mod aggregated;
pub mod connection;
pub mod discovery;
pub mod error;
pub mod kinds;
pub mod manifest;
pub mod objects;
pub mod pods;
pub mod registry;
pub mod session;

pub use connection::{Conn, Target};
pub use kinds::{Catalog, Kind};
pub use error::ClusterError;
pub use session::{Scope, Session};
