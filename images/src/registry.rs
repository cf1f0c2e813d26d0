//! One registry: where it is, how to speak to it (HTTP or HTTPS), with which credentials, and
//! the few requests every operation is made of, each failure mapped to an [`Error`].

use std::fmt;
use std::sync::Once;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::auth::{self, CredentialSource};
use crate::error::{classify, Call};
use crate::manifest::{Descriptor, Index, Manifest, INDEX_TYPES};
use crate::reference::{self, ImageRef};
use crate::Error;

/// How long to wait for a connection: a registry that is down should fail fast (it is asked
/// while a notebook cell waits), and loopback or LAN registries connect in milliseconds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long to wait for an answer once connected (a large blob's upload is one request).
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// A registry: `host[:port]` and an optional path prefix under which images are pushed.
///
/// `Registry::new("127.0.0.1:5000")`, `Registry::new("registry.example.com/team")`. Loopback
/// hosts, `localhost` and `*.local` names are spoken to over plain HTTP, others over HTTPS;
/// `http://` or `https://` in front chooses explicitly. Credentials come from the Docker config
/// file ([`auth::docker_config_path`]) and are never shown, in `Debug` output either.
#[derive(Clone)]
pub struct Registry {
    host: String,
    prefix: Option<String>,
    plain_http: bool,
    credentials: CredentialSource,
    pub(crate) client: Client,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("host", &self.host)
            .field("prefix", &self.prefix)
            .field("plain_http", &self.plain_http)
            .field("config", &self.credentials.path)
            .field(
                "user",
                &self.credentials.credentials.as_ref().map(|c| &c.username),
            )
            .finish()
    }
}

impl Registry {
    /// A registry from `[http://|https://]host[:port][/prefix]`, with credentials from the
    /// user's Docker config file.
    pub fn new(spec: &str) -> Result<Registry, Error> {
        Registry::with_docker_config(spec, &auth::docker_config_path())
    }

    /// Like [`Registry::new`], reading credentials from the given config file instead.
    pub fn with_docker_config(spec: &str, config: &std::path::Path) -> Result<Registry, Error> {
        let (host, prefix, plain_http) = parse_spec(spec)?;
        let credentials = auth::credentials_for(config, &host);
        Ok(Registry::build(host, prefix, plain_http, credentials))
    }

    fn build(
        host: String,
        prefix: Option<String>,
        plain_http: bool,
        credentials: CredentialSource,
    ) -> Registry {
        install_crypto_provider();
        let protocol = if plain_http {
            ClientProtocol::HttpsExcept(vec![host.clone()])
        } else {
            ClientProtocol::Https
        };
        let client = Client::new(ClientConfig {
            protocol,
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            // One PUT per blob, as `docker push` does to a 2.x registry: fewer round trips
            // than oci-client's default of 4 MiB PATCH chunks.
            use_monolithic_push: true,
            ..ClientConfig::default()
        });
        Registry {
            host,
            prefix,
            plain_http,
            credentials,
            client,
        }
    }

    /// The same settings for another host (a base image kept elsewhere).
    pub(crate) fn for_host(&self, host: &str) -> Result<Registry, Error> {
        if host == self.host {
            return Ok(self.clone());
        }
        let (host, _, plain_http) = parse_spec(host)?;
        let credentials = auth::credentials_for(&self.credentials.path, &host);
        Ok(Registry::build(host, None, plain_http, credentials))
    }

    /// The `.dockerconfigjson` of an imagePullSecret that lets nodes pull from this registry,
    /// named `pull_host` from the nodes, as the user whose credentials pushed there. None when
    /// the user's Docker config has none for it (an open registry needs no secret).
    /// The pull secret for the nodes' name of the host; `who` tells this user from others who
    /// may share the registry's user name (see [`PullSecret::user_tag`]).
    pub fn pull_secret(&self, pull_host: &str, who: &str) -> Option<PullSecret> {
        let c = self.credentials.credentials.as_ref()?;
        Some(PullSecret { user_tag: c.user_tag(who), config: c.docker_config_json(pull_host).into_bytes() })
    }

    /// `host[:port]`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The path prefix images are pushed under, if any.
    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// True when the registry is spoken to over plain HTTP.
    pub fn is_plain_http(&self) -> bool {
        self.plain_http
    }

    /// The repository path on the registry for `name`: the prefix, then `name`.
    pub fn repository(&self, name: &str) -> String {
        match &self.prefix {
            Some(p) => format!("{p}/{name}"),
            None => name.to_string(),
        }
    }

    fn scheme(&self) -> &'static str {
        if self.plain_http {
            "http"
        } else {
            "https"
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme(), self.host)
    }

    pub(crate) fn auth(&self) -> RegistryAuth {
        match &self.credentials.credentials {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => RegistryAuth::Anonymous,
        }
    }

    pub(crate) fn reference(&self, repository: &str, key: &str) -> Reference {
        if key.starts_with("sha256:") {
            Reference::with_digest(self.host.clone(), repository.to_string(), key.to_string())
        } else {
            Reference::with_tag(self.host.clone(), repository.to_string(), key.to_string())
        }
    }

    /// Makes sure requests that take no credentials argument (blobs, mounts) carry them.
    pub(crate) async fn ready(&self) {
        if self.credentials.credentials.is_some() {
            self.client
                .store_auth_if_needed(&self.host, &self.auth())
                .await;
        }
    }

    pub(crate) fn call(&self, what: String, path: &str) -> CallInfo {
        CallInfo {
            what,
            url: self.url(path),
            credentials: self.credentials.describe(&self.host),
        }
    }

    pub(crate) fn classify(
        &self,
        e: OciDistributionError,
        info: &CallInfo,
        not_found: impl FnOnce() -> Error,
    ) -> Error {
        let call = Call {
            host: &self.host,
            what: info.what.clone(),
            url: info.url.clone(),
            credentials: &info.credentials,
            https: !self.plain_http,
        };
        classify(e, &call, not_found)
    }

    fn unexpected(&self, what: &str, body: String) -> Error {
        Error::Unexpected {
            host: self.host.clone(),
            what: what.to_string(),
            status: None,
            body,
        }
    }

    /// The raw manifest (or index) that `key` (tag or digest) names, with its digest.
    pub(crate) async fn manifest_raw(
        &self,
        repository: &str,
        key: &str,
    ) -> Result<(bytes::Bytes, String), Error> {
        let info = self.call(
            format!("the manifest of {repository}{}", key_suffix(key)),
            &format!("/v2/{repository}/manifests/{key}"),
        );
        let r = self.reference(repository, key);
        match self
            .client
            .pull_manifest_raw(&r, &self.auth(), crate::manifest::ACCEPT)
            .await
        {
            Ok(found) => Ok(found),
            Err(e) => {
                let missing = Error::ImageNotFound {
                    host: self.host.clone(),
                    repository: repository.to_string(),
                    reference: key.to_string(),
                    available: Vec::new(),
                };
                Err(self.classify(e, &info, || missing))
            }
        }
    }

    /// The digest a tag points at now, or `None` when the tag does not exist.
    pub(crate) async fn tag_digest(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<String>, Error> {
        match self.manifest_raw(repository, tag).await {
            Ok((_, digest)) => Ok(Some(digest)),
            Err(Error::ImageNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Resolves `key` to one linux/amd64 image manifest, following an index if it is one.
    /// Returns the digest `key` named (the index's, for an index) and the image manifest.
    pub(crate) async fn resolve(&self, repository: &str, key: &str) -> Result<Resolved, Error> {
        let (bytes, digest) = self.manifest_raw(repository, key).await?;
        let what = format!("the manifest of {repository}{}", key_suffix(key));
        let doc: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| self.unexpected(&what, format!("it is not JSON ({e})")))?;
        let media_type = crate::manifest::media_type_of(&doc);
        if INDEX_TYPES.contains(&media_type.as_str()) {
            let index: Index = serde_json::from_value(doc)
                .map_err(|e| self.unexpected(&what, format!("not an image index ({e})")))?;
            let Some(entry) = index.linux_amd64() else {
                return Err(Error::NoPlatform {
                    reference: format!("{}/{repository}{}", self.host, key_suffix(key)),
                    available: index.platforms().join(", "),
                });
            };
            let (mbytes, _) = self.manifest_raw(repository, &entry.digest).await?;
            let manifest = Manifest::parse(&mbytes)
                .map_err(|e| self.unexpected(&format!("the manifest {}", entry.digest), e))?;
            Ok(Resolved { digest, manifest })
        } else {
            let manifest = Manifest::parse(&bytes).map_err(|e| self.unexpected(&what, e))?;
            Ok(Resolved { digest, manifest })
        }
    }

    /// A blob's bytes (configs, and layers being copied between registries).
    pub(crate) async fn blob(&self, repository: &str, desc: &Descriptor) -> Result<Vec<u8>, Error> {
        let info = self.call(
            format!("the blob {} of {repository}", desc.digest),
            &format!("/v2/{repository}/blobs/{}", desc.digest),
        );
        self.ready().await;
        let r = self.reference(repository, &desc.digest);
        let oci_desc = OciDescriptor {
            media_type: desc.media_type.clone(),
            digest: desc.digest.clone(),
            size: desc.size as i64,
            ..OciDescriptor::default()
        };
        let mut out = Vec::with_capacity(desc.size as usize);
        self.client
            .pull_blob(&r, &oci_desc, &mut out)
            .await
            .map_err(|e| {
                self.classify(e, &info, || Error::Unexpected {
                    host: self.host.clone(),
                    what: info.what.clone(),
                    status: Some(404),
                    body: "the manifest names a blob the registry does not have".into(),
                })
            })?;
        Ok(out)
    }

    pub(crate) async fn blob_exists(&self, repository: &str, digest: &str) -> Result<bool, Error> {
        let info = self.call(
            format!("whether {repository} has the blob {digest}"),
            &format!("/v2/{repository}/blobs/{digest}"),
        );
        self.ready().await;
        let r = self.reference(repository, digest);
        self.client
            .blob_exists(&r, digest)
            .await
            .map_err(|e| self.classify(e, &info, || unreachable_404(self, &info)))
    }

    /// Asks the registry to link a blob from another repository. False when it did not (Docker
    /// distribution 2.8 answers 202 and opens an upload instead of failing).
    pub(crate) async fn mount(
        &self,
        repository: &str,
        from: &str,
        digest: &str,
    ) -> Result<bool, Error> {
        let info = self.call(
            format!("mounting {digest} from {from} into {repository}"),
            &format!("/v2/{repository}/blobs/uploads/?mount={digest}&from={from}"),
        );
        let target = self.reference(repository, "latest");
        let source = self.reference(from, "latest");
        match self.client.mount_blob(&target, &source, digest).await {
            Ok(()) => Ok(true),
            // Answers that are not "no": the caller copies the blob instead.
            Err(OciDistributionError::SpecViolationError(_)) => Ok(false),
            Err(OciDistributionError::ServerError { code: 404, .. }) => Ok(false),
            Err(e) => match self.classify(e, &info, || unreachable_404(self, &info)) {
                Error::Unexpected { .. } => Ok(false),
                other => Err(other),
            },
        }
    }

    pub(crate) async fn push_blob(
        &self,
        repository: &str,
        data: bytes::Bytes,
        digest: &str,
    ) -> Result<(), Error> {
        let info = self.call(
            format!("uploading {digest} ({} bytes) to {repository}", data.len()),
            &format!("/v2/{repository}/blobs/uploads/"),
        );
        let r = self.reference(repository, "latest");
        self.client
            .push_blob(&r, data, digest)
            .await
            .map(|_| ())
            .map_err(|e| self.classify(e, &info, || unreachable_404(self, &info)))
    }

    pub(crate) async fn push_manifest(
        &self,
        repository: &str,
        tag: &str,
        body: bytes::Bytes,
        media_type: &str,
    ) -> Result<(), Error> {
        let info = self.call(
            format!("pushing the manifest {repository}:{tag}"),
            &format!("/v2/{repository}/manifests/{tag}"),
        );
        let r = self.reference(repository, tag);
        let content_type = media_type
            .parse()
            .map_err(|_| Error::InvalidImage(format!("media type {media_type:?}")))?;
        self.client
            .push_manifest_raw(&r, body, content_type)
            .await
            .map(|_| ())
            .map_err(|e| self.classify(e, &info, || unreachable_404(self, &info)))
    }

    /// Every repository, through `/v2/_catalog` page by page.
    pub(crate) async fn catalog(&self) -> Result<Vec<String>, Error> {
        const PAGE: usize = 1000;
        let info = self.call("the list of repositories".into(), "/v2/_catalog");
        let r = self.reference("catalog", "latest");
        let mut all: Vec<String> = Vec::new();
        loop {
            let page = self
                .client
                .catalog(&r, &self.auth(), Some(PAGE), all.last().map(String::as_str))
                .await
                .map_err(|e| {
                    self.classify(e, &info, || Error::Unexpected {
                        host: self.host.clone(),
                        what: info.what.clone(),
                        status: Some(404),
                        body: "this registry does not serve /v2/_catalog".into(),
                    })
                })?;
            let n = page.repositories.len();
            all.extend(page.repositories);
            if n < PAGE {
                return Ok(all);
            }
        }
    }

    /// Every tag of `repository`, page by page; [`Error::RepositoryNotFound`] if there is none.
    pub(crate) async fn tags(&self, repository: &str) -> Result<Vec<String>, Error> {
        const PAGE: usize = 1000;
        let info = self.call(
            format!("the tags of {repository}"),
            &format!("/v2/{repository}/tags/list"),
        );
        let r = self.reference(repository, "latest");
        let mut all: Vec<String> = Vec::new();
        loop {
            let page = self
                .client
                .list_tags(&r, &self.auth(), Some(PAGE), all.last().map(String::as_str))
                .await
                .map_err(|e| {
                    self.classify(e, &info, || Error::RepositoryNotFound {
                        host: self.host.clone(),
                        repository: repository.to_string(),
                    })
                })?;
            let n = page.tags.len();
            all.extend(page.tags);
            if n < PAGE {
                return Ok(all);
            }
        }
    }

    /// Turns a bare "not found" for `repository:key` into one that says whether the repository
    /// exists and which tags it has.
    pub(crate) async fn explain_missing(&self, repository: &str, key: &str) -> Error {
        match self.tags(repository).await {
            Ok(mut tags) => {
                tags.sort();
                tags.truncate(10);
                Error::ImageNotFound {
                    host: self.host.clone(),
                    repository: repository.to_string(),
                    reference: key.to_string(),
                    available: tags,
                }
            }
            Err(e) => e,
        }
    }
}

/// What `resolve` found.
pub(crate) struct Resolved {
    /// The digest of what the reference named (an index's, when it is one).
    pub digest: String,
    pub manifest: Manifest,
}

pub(crate) struct CallInfo {
    what: String,
    url: String,
    credentials: String,
}

fn key_suffix(key: &str) -> String {
    if key.starts_with("sha256:") {
        format!("@{key}")
    } else {
        format!(":{key}")
    }
}

/// A 404 where the request itself should always exist (uploads, HEAD of a blob is handled by
/// oci-client): the repository path is wrong or the registry is not a registry.
fn unreachable_404(reg: &Registry, info: &CallInfo) -> Error {
    Error::Unexpected {
        host: reg.host.clone(),
        what: info.what.clone(),
        status: Some(404),
        body: "not found (is this a Docker/OCI registry, and is the path right?)".into(),
    }
}

/// `[scheme://]host[:port][/prefix]` → (host, prefix, plain HTTP?).
pub(crate) fn parse_spec(spec: &str) -> Result<(String, Option<String>, bool), Error> {
    let invalid = |reason: String| Error::InvalidReference {
        input: spec.to_string(),
        reason,
    };
    let s = spec.trim().trim_end_matches('/');
    let (forced, rest) = if let Some(r) = s.strip_prefix("http://") {
        (Some(true), r)
    } else if let Some(r) = s.strip_prefix("https://") {
        (Some(false), r)
    } else {
        (None, s)
    };
    let (host, prefix) = match rest.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    if host.is_empty() {
        return Err(invalid("it names no registry host".into()));
    }
    reference::check_host(host).map_err(invalid)?;
    if let Some(p) = prefix {
        reference::check_repository(p).map_err(|r| invalid(format!("path prefix: {r}")))?;
    }
    let automatic = reference::is_loopback(host) || reference::host_name(host).ends_with(".local");
    Ok((
        host.to_string(),
        prefix.map(str::to_string),
        forced.unwrap_or(automatic),
    ))
}

/// reqwest without a built-in provider needs a process-wide one before the first client.
/// ring's is the one kube already builds; if another was installed first, that one is used.
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}

/// Splits a user's `REF` into a registry (its host, or `default` when it has none) and the
/// reference within it.
pub(crate) fn locate(default: &Registry, input: &str) -> Result<(Registry, ImageRef), Error> {
    let r = ImageRef::parse(input)?;
    let reg = match &r.host {
        Some(h) => default.for_host(h)?,
        None => default.clone(),
    };
    Ok((reg, r))
}

/// What an imagePullSecret for one registry holds, and a tag of whose credentials they are.
pub struct PullSecret {
    /// Ten hex digits of SHA-256 of the registry's user name and of who runs kubernel where
    /// (never of the password): users who share a namespace each get their own Secret, and
    /// nobody's name shows in it.
    pub user_tag: String,
    /// The Docker config JSON (`.dockerconfigjson`).
    pub config: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_choose_http_for_this_machine_only() {
        let p = |s| parse_spec(s).unwrap();
        assert_eq!(p("127.0.0.1:5000"), ("127.0.0.1:5000".into(), None, true));
        assert_eq!(p("localhost:5000/"), ("localhost:5000".into(), None, true));
        assert_eq!(
            p("registry.lan.local:5000"),
            ("registry.lan.local:5000".into(), None, true)
        );
        assert_eq!(
            p("registry.example.com/team/ml"),
            ("registry.example.com".into(), Some("team/ml".into()), false)
        );
        assert_eq!(
            p("http://10.1.2.3:5000"),
            ("10.1.2.3:5000".into(), None, true)
        );
        assert_eq!(
            p("https://127.0.0.1:5000"),
            ("127.0.0.1:5000".into(), None, false)
        );
        assert!(parse_spec("").is_err());
        assert!(parse_spec("host/Team")
            .unwrap_err()
            .to_string()
            .contains("path prefix"));
    }

    #[test]
    fn debug_output_has_no_secret() {
        let dir = std::env::temp_dir().join(format!("images-reg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("config.json");
        // "alice:hunter2"
        std::fs::write(
            &cfg,
            r#"{"auths":{"reg.example.com":{"auth":"YWxpY2U6aHVudGVyMg=="}}}"#,
        )
        .unwrap();
        let reg = Registry::with_docker_config("reg.example.com/team", &cfg).unwrap();
        let shown = format!("{reg:?}");
        assert!(
            shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert_eq!(reg.repository("kubernel/job-x"), "team/kubernel/job-x");
        assert_eq!(reg.url("/v2/"), "https://reg.example.com/v2/");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
