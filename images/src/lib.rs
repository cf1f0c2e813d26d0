//! Building, pushing, listing and inspecting OCI images in-process, without a container engine.
//!
//! kubernel turns a compiled notebook cell (a static binary) into an image on the cluster's
//! registry: one reproducible layer on a base such as `library/debian:bookworm-slim`, tagged
//! with its content hash, so that an unchanged cell pushes nothing. The same crate lists a
//! registry's images and inspects one, for `%k8s images` and `%k8s image inspect`.
//!
//! ```no_run
//! # async fn demo(program: Vec<u8>) -> Result<(), images::Error> {
//! use images::{File, ImageConfig, Layer, Registry};
//! let registry = Registry::new("127.0.0.1:5000")?;
//! let layer = Layer::from_files(&[File::new("/app/job", program, 0o755)])?;
//! let config = ImageConfig {
//!     entrypoint: Some(vec!["/app/job".into()]),
//!     user: Some("65532:65532".into()),
//!     ..ImageConfig::default()
//! };
//! let pushed = registry
//!     .build_and_push("library/debian:bookworm-slim", "kubernel/job-demo", &[layer], &config)
//!     .await?;
//! println!("{} ({} bytes sent)", pushed.reference, pushed.bytes_uploaded);
//! # Ok(()) }
//! ```
//!
//! Modules: [`reference`] (names, no I/O), [`auth`] (Docker config credentials), `layer`
//! (tar and gzip), `manifest` (composition, no I/O), `registry` (requests), `build` (push),
//! `query` (list and inspect), `error`.

pub mod auth;
mod build;
mod error;
mod layer;
mod manifest;
mod query;
pub mod reference;
mod registry;

pub use build::Pushed;
pub use error::Error;
pub use layer::{File, Layer, LAYER_MEDIA_TYPE};
pub use manifest::{content_tag, ImageConfig, BASE_DIGEST, BASE_NAME};
pub use query::{inspect, BaseImage, ImageInfo, ImageRow, LayerInfo};
pub use reference::ImageRef;
pub use registry::{PullSecret, Registry};
