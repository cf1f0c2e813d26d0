//! Building an image on a base and pushing it: the ko way, without a container engine.
//!
//! The base's manifest and config are read (not its layers), the new layers are appended, and
//! only what the registry lacks is sent: base layers are mounted from the base's repository
//! (copied when the registry will not mount), new layers and the config are uploaded, then the
//! manifest. The tag is the content hash, so an unchanged input finds its tag and sends nothing.

use std::time::Instant;

use futures::future::{try_join3, try_join_all};

use crate::manifest::{compose, Descriptor, ImageConfig, OCI_MANIFEST};
use crate::registry::{locate, Registry};
use crate::{Error, Layer};

/// What [`Registry::build_and_push`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// `host/repository@sha256:…`: what a pod spec should name (a digest cannot move).
    pub reference: String,
    /// The content tag, `host/repository:TAG`'s TAG.
    pub tag: String,
    /// The manifest's digest.
    pub digest: String,
    /// Bytes sent: blobs that were missing (new layers, config, copied base layers) and the
    /// manifest. 0 when the image was there already.
    pub bytes_uploaded: u64,
    /// True when the tag already named this digest and nothing was sent.
    pub reused: bool,
    /// The base's digest (its index's, for a multi-platform base).
    pub base_digest: String,
    /// Time the whole operation took, for reports and benchmarks.
    pub elapsed: std::time::Duration,
}

impl Registry {
    /// Builds `base` + `layers` with `config` and pushes it as `name` (under the registry's
    /// prefix), tagged with its content hash.
    ///
    /// `base` is `repository[:tag|@digest]` on this registry, or a full reference on another
    /// (its layers are then copied).
    pub async fn build_and_push(
        &self,
        base: &str,
        name: &str,
        layers: &[Layer],
        config: &ImageConfig,
    ) -> Result<Pushed, Error> {
        let started = Instant::now();
        let repository = self.repository(name);
        crate::reference::check_repository(&repository).map_err(|reason| {
            Error::InvalidReference {
                input: name.to_string(),
                reason,
            }
        })?;
        let (base_reg, base_ref) = locate(self, base)?;
        let base_name = format!("{}/{}", base_reg.host(), base_ref_text(&base_ref));
        let base_key = base_ref.manifest_key().to_string();

        let resolved = match base_reg.resolve(&base_ref.repository, &base_key).await {
            Ok(r) => r,
            Err(Error::ImageNotFound { .. }) => {
                let reason = base_reg
                    .explain_missing(&base_ref.repository, &base_key)
                    .await
                    .to_string();
                return Err(Error::BaseNotFound {
                    host: base_reg.host().to_string(),
                    reference: base_name,
                    reason,
                });
            }
            Err(e) => return Err(e),
        };
        let base_config = base_reg
            .blob(&base_ref.repository, &resolved.manifest.config)
            .await?;
        let composed = compose(
            &base_name,
            &resolved.digest,
            &resolved.manifest,
            &base_config,
            layers,
            config,
        )?;
        let done = |bytes_uploaded: u64, reused: bool| Pushed {
            reference: format!("{}/{repository}@{}", self.host(), composed.manifest_digest),
            tag: composed.tag.clone(),
            digest: composed.manifest_digest.clone(),
            bytes_uploaded,
            reused,
            base_digest: resolved.digest.clone(),
            elapsed: started.elapsed(),
        };

        if self
            .tag_digest(&repository, &composed.tag)
            .await?
            .as_deref()
            == Some(composed.manifest_digest.as_str())
        {
            return Ok(done(0, true));
        }

        let same_registry = base_reg.host() == self.host();
        let base_layers = resolved
            .manifest
            .layers
            .iter()
            .filter(|d| !d.is_foreign())
            .map(|d| {
                self.ensure_base_layer(
                    &repository,
                    &base_reg,
                    &base_ref.repository,
                    same_registry,
                    d,
                )
            });
        let new_layers = layers
            .iter()
            .map(|l| self.ensure_blob(&repository, l.digest(), l.bytes().clone()));
        let config_blob = self.ensure_blob(
            &repository,
            &composed.config_digest,
            bytes::Bytes::from(composed.config.clone()),
        );
        let (a, b, c) = try_join3(
            try_join_all(base_layers),
            try_join_all(new_layers),
            config_blob,
        )
        .await?;
        let blobs: u64 = a.iter().sum::<u64>() + b.iter().sum::<u64>() + c;

        self.push_manifest(
            &repository,
            &composed.tag,
            bytes::Bytes::from(composed.manifest_bytes.clone()),
            OCI_MANIFEST,
        )
        .await?;
        Ok(done(blobs + composed.manifest_bytes.len() as u64, false))
    }

    /// Points `tag` of `name` (under the registry's prefix) at the image `digest` that is there
    /// already, as `crane tag` does: the same manifest bytes pushed again under the tag, so the
    /// digest stays. Returns false when the tag named that digest already and nothing was sent.
    pub async fn tag(&self, name: &str, digest: &str, tag: &str) -> Result<bool, Error> {
        let repository = self.repository(name);
        let invalid = |reason: String| Error::InvalidReference {
            input: format!("{repository}:{tag}@{digest}"),
            reason,
        };
        crate::reference::check_repository(&repository).map_err(invalid)?;
        crate::reference::check_tag(tag).map_err(invalid)?;
        crate::reference::check_digest(digest).map_err(invalid)?;
        if self.tag_digest(&repository, tag).await?.as_deref() == Some(digest) {
            return Ok(false);
        }
        let (bytes, _) = self.manifest_raw(&repository, digest).await?;
        let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            Error::InvalidImage(format!("the manifest {repository}@{digest} is not JSON ({e})"))
        })?;
        let media_type = crate::manifest::media_type_of(&doc);
        self.push_manifest(&repository, tag, bytes, &media_type)
            .await?;
        Ok(true)
    }

    /// Uploads a blob unless the repository has it; returns the bytes sent.
    async fn ensure_blob(
        &self,
        repository: &str,
        digest: &str,
        data: bytes::Bytes,
    ) -> Result<u64, Error> {
        if self.blob_exists(repository, digest).await? {
            return Ok(0);
        }
        let n = data.len() as u64;
        self.push_blob(repository, data, digest).await?;
        Ok(n)
    }

    /// Makes a base layer present in `repository`: there already, mounted, or copied.
    async fn ensure_base_layer(
        &self,
        repository: &str,
        base_reg: &Registry,
        base_repository: &str,
        same_registry: bool,
        layer: &Descriptor,
    ) -> Result<u64, Error> {
        if self.blob_exists(repository, &layer.digest).await? {
            return Ok(0);
        }
        // A mount that "succeeds" with 202 has not linked anything (distribution 2.8 when the
        // source lacks the blob): check before trusting it.
        if same_registry
            && self
                .mount(repository, base_repository, &layer.digest)
                .await?
            && self.blob_exists(repository, &layer.digest).await?
        {
            return Ok(0);
        }
        let data = base_reg.blob(base_repository, layer).await?;
        let n = data.len() as u64;
        self.push_blob(repository, data.into(), &layer.digest)
            .await?;
        Ok(n)
    }
}

/// `repository:tag` or `repository@digest` as the user gave it, with `latest` made explicit.
fn base_ref_text(r: &crate::ImageRef) -> String {
    let mut s = r.repository.clone();
    if let Some(t) = r.tag_or_latest() {
        s.push(':');
        s.push_str(t);
    }
    if let Some(d) = &r.digest {
        s.push('@');
        s.push_str(d);
    }
    s
}
