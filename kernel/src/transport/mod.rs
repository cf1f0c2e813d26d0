//! The wire: connection files, message signing, frame encoding, and the five ZeroMQ sockets.
//! Nothing here knows about Rust, magics or Kubernetes.

pub mod connection;
pub mod signing;
pub mod sockets;
pub mod wire;

pub use connection::ConnectionInfo;
pub use signing::Signer;
pub use sockets::Outgoing;
pub use wire::Message;
