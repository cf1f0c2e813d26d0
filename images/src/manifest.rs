//! The documents of an image, without I/O: manifests and indexes as registries serve them, and
//! the composition of a new image (config and manifest) from a base and added layers.
//!
//! Composition is a pure function so that its determinism can be tested: the same base, layers
//! and settings give the same bytes, hence the same digest and the same tag.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::layer::{sha256, Layer};
use crate::Error;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
const OCI_NONDISTRIBUTABLE_LAYER: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";

/// The OCI annotations that name the image an image was built on.
pub const BASE_NAME: &str = "org.opencontainers.image.base.name";
pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

pub(crate) const ACCEPT: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];
pub(crate) const INDEX_TYPES: &[&str] = &[OCI_INDEX, DOCKER_LIST];

/// A content descriptor: what a manifest says about a blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Descriptor {
    /// Layers that registries do not hold (Windows base layers): fetched from their URLs.
    pub(crate) fn is_foreign(&self) -> bool {
        self.media_type == DOCKER_FOREIGN_LAYER || self.media_type.contains("nondistributable")
    }
}

/// An image manifest (OCI or Docker schema 2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    pub(crate) fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let m: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| format!("it is not an image manifest ({e})"))?;
        if m.schema_version != 2 {
            return Err(format!(
                "schema version {} is not supported (only 2)",
                m.schema_version
            ));
        }
        match m.media_type.as_deref() {
            None | Some(OCI_MANIFEST) | Some(DOCKER_MANIFEST) => Ok(m),
            Some(other) => Err(format!("media type {other} is not an image manifest")),
        }
    }

    /// Config and layers: what the image occupies in the registry.
    pub fn size(&self) -> u64 {
        self.config.size + self.layers.iter().map(|l| l.size).sum::<u64>()
    }
}

/// An OCI image index or Docker manifest list.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Index {
    pub manifests: Vec<IndexEntry>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IndexEntry {
    pub digest: String,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl Index {
    /// The entry for linux/amd64: the nodes this project targets, and what the cell's static
    /// x86_64 binary runs on.
    pub fn linux_amd64(&self) -> Option<&IndexEntry> {
        self.manifests.iter().find(|e| {
            e.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
        })
    }

    pub fn platforms(&self) -> Vec<String> {
        self.manifests
            .iter()
            .map(|e| match &e.platform {
                Some(p) => match &p.variant {
                    Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                    None => format!("{}/{}", p.os, p.architecture),
                },
                None => "unknown".to_string(),
            })
            .collect()
    }
}

/// A manifest's media type: its `mediaType`, or for documents without one, what its fields say.
pub(crate) fn media_type_of(doc: &Value) -> String {
    if let Some(t) = doc.get("mediaType").and_then(Value::as_str) {
        return t.to_string();
    }
    if doc.get("manifests").is_some() {
        OCI_INDEX.to_string()
    } else {
        OCI_MANIFEST.to_string()
    }
}

/// What the new image runs, and with what. `None` keeps the base image's value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// Setting the entrypoint without `cmd` clears the base's `Cmd`, as a Dockerfile's
    /// ENTRYPOINT does: otherwise debian's `["bash"]` would become the program's argument.
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// `KEY=value` entries; a key the base sets already is replaced, the others appended.
    pub env: Vec<String>,
    /// `uid:gid` or a name, such as `65532:65532`.
    pub user: Option<String>,
    pub working_dir: Option<String>,
    /// Merged into the base's labels.
    pub labels: BTreeMap<String, String>,
    /// The image's creation time. `None` keeps the base's, so that the same input gives the
    /// same digest (a build clock would make every build a new image).
    pub created: Option<chrono::DateTime<chrono::Utc>>,
}

/// A composed image, ready to push.
#[derive(Clone, Debug)]
pub(crate) struct Composed {
    pub config: Vec<u8>,
    pub config_digest: String,
    pub manifest_bytes: Vec<u8>,
    pub manifest_digest: String,
    pub tag: String,
}

/// The tag of an image: the first 16 hex digits of its manifest digest, so that a tag names
/// one content and an unchanged input finds its tag already there.
pub fn content_tag(manifest_digest: &str) -> String {
    let hex = manifest_digest
        .strip_prefix("sha256:")
        .unwrap_or(manifest_digest);
    hex.chars().take(16).collect()
}

/// The base's media types in OCI terms: an OCI manifest may not name Docker media types.
fn oci_layer(mut d: Descriptor) -> Descriptor {
    d.media_type = match d.media_type.as_str() {
        DOCKER_LAYER => crate::layer::LAYER_MEDIA_TYPE.to_string(),
        DOCKER_FOREIGN_LAYER => OCI_NONDISTRIBUTABLE_LAYER.to_string(),
        _ => d.media_type,
    };
    d
}

/// Builds the config and manifest of `base` plus `layers` with `settings`.
///
/// `base_name` and `base_digest` go into the manifest's annotations; `base_config` is the base's
/// config blob, kept as JSON so that fields this crate does not know survive.
pub(crate) fn compose(
    base_name: &str,
    base_digest: &str,
    base: &Manifest,
    base_config: &[u8],
    layers: &[Layer],
    settings: &ImageConfig,
) -> Result<Composed, Error> {
    let bad = |why: String| Error::InvalidImage(format!("the base image {base_name}: {why}"));
    let mut config: Value = serde_json::from_slice(base_config)
        .map_err(|e| bad(format!("its config is not JSON ({e})")))?;
    let root = config
        .as_object_mut()
        .ok_or_else(|| bad("its config is not a JSON object".into()))?;

    // rootfs: one diff_id per layer, the base's first.
    let rootfs = root
        .entry("rootfs")
        .or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
    let diff_ids = rootfs
        .get_mut("diff_ids")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| bad("its config has no rootfs.diff_ids".into()))?;
    if diff_ids.len() != base.layers.len() {
        return Err(bad(format!(
            "its config lists {} layers and its manifest {}",
            diff_ids.len(),
            base.layers.len()
        )));
    }
    diff_ids.extend(layers.iter().map(|l| json!(l.diff_id())));

    let created = match settings.created {
        Some(t) => {
            let t = json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            root.insert("created".into(), t.clone());
            Some(t)
        }
        None => root.get("created").cloned(),
    };

    let history = root
        .entry("history")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .ok_or_else(|| bad("its config's history is not a list".into()))?;
    for layer in layers {
        let mut h = json!({"created_by": layer.created_by()});
        if let Some(t) = &created {
            h["created"] = t.clone();
        }
        history.push(h);
    }

    let run = root
        .entry("config")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| bad("its config's config is not an object".into()))?;
    if let Some(ep) = &settings.entrypoint {
        run.insert("Entrypoint".into(), json!(ep));
        if settings.cmd.is_none() {
            run.remove("Cmd");
        }
    }
    if let Some(cmd) = &settings.cmd {
        run.insert("Cmd".into(), json!(cmd));
    }
    if !settings.env.is_empty() {
        let mut env: Vec<String> = run
            .get("Env")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for entry in &settings.env {
            let Some((key, _)) = entry.split_once('=') else {
                return Err(Error::InvalidImage(format!(
                    "environment entry {entry:?} is not KEY=value"
                )));
            };
            let prefix = format!("{key}=");
            match env.iter_mut().find(|e| e.starts_with(&prefix)) {
                Some(slot) => *slot = entry.clone(),
                None => env.push(entry.clone()),
            }
        }
        run.insert("Env".into(), json!(env));
    }
    if let Some(user) = &settings.user {
        run.insert("User".into(), json!(user));
    }
    if let Some(dir) = &settings.working_dir {
        run.insert("WorkingDir".into(), json!(dir));
    }
    if !settings.labels.is_empty() {
        let labels = run.entry("Labels").or_insert_with(|| json!({}));
        if !labels.is_object() {
            *labels = json!({});
        }
        let labels = labels.as_object_mut().expect("made an object above");
        for (k, v) in &settings.labels {
            labels.insert(k.clone(), json!(v));
        }
    }

    let config_bytes = serde_json::to_vec(&config).expect("a JSON value serializes");
    let config_digest = sha256(&config_bytes);
    let mut manifest = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_string()),
        config: Descriptor {
            media_type: OCI_CONFIG.to_string(),
            digest: config_digest.clone(),
            size: config_bytes.len() as u64,
            urls: None,
            annotations: None,
        },
        layers: base.layers.iter().cloned().map(oci_layer).collect(),
        annotations: BTreeMap::new(),
    };
    manifest.layers.extend(layers.iter().map(|l| Descriptor {
        media_type: crate::layer::LAYER_MEDIA_TYPE.to_string(),
        digest: l.digest().to_string(),
        size: l.size(),
        urls: None,
        annotations: None,
    }));
    manifest
        .annotations
        .insert(BASE_NAME.into(), base_name.to_string());
    manifest
        .annotations
        .insert(BASE_DIGEST.into(), base_digest.to_string());
    let manifest_bytes = serde_json::to_vec(&manifest).expect("a manifest serializes");
    let manifest_digest = sha256(&manifest_bytes);
    Ok(Composed {
        config: config_bytes,
        config_digest,
        tag: content_tag(&manifest_digest),
        manifest_bytes,
        manifest_digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::File;

    const BASE_DIGEST_VALUE: &str =
        "sha256:d03cade39a859f34e2116d75489cdb7bc136c44a1c80aa270347a832407550b3";

    fn base() -> (Manifest, Vec<u8>) {
        let manifest = Manifest::parse(
            br#"{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                           "digest": "sha256:4d3e69247937c9cbc526fcd3aa6f8a5827bbef9845de3c3f8c3e9788f72fc634", "size": 393},
                "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                            "digest": "sha256:72d3f4c7a0cce9f6377cde4881d1be96cf5289d3ea95a10cc33db2369d1cbc16", "size": 42653706}]}"#,
        )
        .unwrap();
        let config = br#"{"architecture": "amd64", "os": "linux", "created": "2026-11-30T10:00:00Z",
            "config": {"Cmd": ["bash"], "Env": ["PATH=/usr/bin:/bin", "LANG=C"], "Labels": {"from": "base"}},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:1111111111111111111111111111111111111111111111111111111111111111"]},
            "history": [{"created": "2026-11-30T10:00:00Z", "created_by": "debootstrap"}],
            "unknown_field": {"kept": true}}"#
            .to_vec();
        (manifest, config)
    }

    fn job_layer(bytes: &[u8]) -> Layer {
        Layer::from_files(&[File::new("/app/job", bytes.to_vec(), 0o755)]).unwrap()
    }

    fn settings() -> ImageConfig {
        ImageConfig {
            entrypoint: Some(vec!["/app/job".into()]),
            env: vec!["LANG=C.UTF-8".into(), "RUST_BACKTRACE=1".into()],
            user: Some("65532:65532".into()),
            working_dir: Some("/tmp".into()),
            labels: [("kubernel.cell".to_string(), "abc".to_string())].into(),
            ..ImageConfig::default()
        }
    }

    fn compose_job(bytes: &[u8]) -> Composed {
        let (m, c) = base();
        compose(
            "127.0.0.1:5000/library/debian:bookworm-slim",
            BASE_DIGEST_VALUE,
            &m,
            &c,
            &[job_layer(bytes)],
            &settings(),
        )
        .unwrap()
    }

    #[test]
    fn the_config_runs_the_program_as_asked() {
        let composed = compose_job(b"program");
        let config: Value = serde_json::from_slice(&composed.config).unwrap();
        let run = &config["config"];
        assert_eq!(run["Entrypoint"], json!(["/app/job"]));
        assert_eq!(
            run.get("Cmd"),
            None,
            "the base's Cmd would become the program's argument"
        );
        assert_eq!(
            run["Env"],
            json!(["PATH=/usr/bin:/bin", "LANG=C.UTF-8", "RUST_BACKTRACE=1"])
        );
        assert_eq!(run["User"], json!("65532:65532"));
        assert_eq!(run["WorkingDir"], json!("/tmp"));
        assert_eq!(
            run["Labels"],
            json!({"from": "base", "kubernel.cell": "abc"})
        );
        assert_eq!(config["unknown_field"], json!({"kept": true}));
        assert_eq!(
            config["created"],
            json!("2026-11-30T10:00:00Z"),
            "the base's time is kept"
        );
        let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
        assert_eq!(diff_ids.len(), 2);
        assert_eq!(diff_ids[1], json!(job_layer(b"program").diff_id()));
        let history = config["history"].as_array().unwrap();
        assert_eq!(history[1]["created_by"], json!("kubernel: add /app/job"));
    }

    #[test]
    fn the_manifest_appends_the_layer_and_names_the_base() {
        let composed = compose_job(b"program");
        let m = &Manifest::parse(&composed.manifest_bytes).unwrap();
        assert_eq!(m.media_type.as_deref(), Some(OCI_MANIFEST));
        assert_eq!(m.config.digest, composed.config_digest);
        assert_eq!(m.config.size, composed.config.len() as u64);
        assert_eq!(m.layers.len(), 2);
        assert_eq!(
            m.layers[0].media_type,
            crate::layer::LAYER_MEDIA_TYPE,
            "Docker type mapped to OCI"
        );
        assert_eq!(
            m.layers[0].digest,
            "sha256:72d3f4c7a0cce9f6377cde4881d1be96cf5289d3ea95a10cc33db2369d1cbc16"
        );
        assert_eq!(m.layers[1].digest, job_layer(b"program").digest());
        assert_eq!(
            m.annotations[BASE_NAME],
            "127.0.0.1:5000/library/debian:bookworm-slim"
        );
        assert_eq!(m.annotations[BASE_DIGEST], BASE_DIGEST_VALUE);
        assert_eq!(composed.manifest_digest, sha256(&composed.manifest_bytes));
    }

    #[test]
    fn same_input_same_digest_and_tag() {
        let a = compose_job(b"program");
        let b = compose_job(b"program");
        assert_eq!(a.manifest_bytes, b.manifest_bytes);
        assert_eq!(a.tag, b.tag);
        assert_eq!(a.tag.len(), 16);
        assert!(a.manifest_digest.starts_with(&format!("sha256:{}", a.tag)));
        let c = compose_job(b"program, edited");
        assert_ne!(a.tag, c.tag);
        assert_ne!(a.manifest_digest, c.manifest_digest);
    }

    #[test]
    fn a_given_time_is_used_everywhere() {
        let (m, c) = base();
        let mut s = settings();
        s.created = Some(chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap());
        let composed = compose("b", BASE_DIGEST_VALUE, &m, &c, &[job_layer(b"x")], &s).unwrap();
        let config: Value = serde_json::from_slice(&composed.config).unwrap();
        assert_eq!(config["created"], json!("2027-01-15T08:00:00Z"));
        assert_eq!(
            config["history"][1]["created"],
            json!("2027-01-15T08:00:00Z")
        );
    }

    #[test]
    fn bad_bases_and_settings_say_why() {
        let (m, _) = base();
        let layer = [job_layer(b"x")];
        let err = compose("b", BASE_DIGEST_VALUE, &m, b"[]", &layer, &settings()).unwrap_err();
        assert!(err.to_string().contains("not a JSON object"), "{err}");
        let two = br#"{"rootfs": {"type": "layers", "diff_ids": ["a", "b"]}}"#;
        let err = compose("b", BASE_DIGEST_VALUE, &m, two, &layer, &settings()).unwrap_err();
        assert!(
            err.to_string()
                .contains("lists 2 layers and its manifest 1"),
            "{err}"
        );
        let mut s = settings();
        s.env = vec!["NOEQUALS".into()];
        let (_, c) = base();
        let err = compose("b", BASE_DIGEST_VALUE, &m, &c, &layer, &s).unwrap_err();
        assert!(err.to_string().contains("NOEQUALS"), "{err}");
    }

    #[test]
    fn indexes_choose_linux_amd64() {
        let index: Index = serde_json::from_str(
            r#"{"schemaVersion": 2, "manifests": [
                {"digest": "sha256:aa", "size": 1, "mediaType": "m", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
                {"digest": "sha256:bb", "size": 1, "mediaType": "m", "platform": {"os": "linux", "architecture": "amd64"}},
                {"digest": "sha256:cc", "size": 1, "mediaType": "m", "platform": {"os": "unknown", "architecture": "unknown"}}]}"#,
        )
        .unwrap();
        assert_eq!(index.linux_amd64().unwrap().digest, "sha256:bb");
        assert_eq!(
            index.platforms(),
            ["linux/arm64/v8", "linux/amd64", "unknown/unknown"]
        );
        assert_eq!(media_type_of(&json!({"manifests": []})), OCI_INDEX);
    }

    #[test]
    fn manifests_that_are_not_images_are_refused() {
        assert!(Manifest::parse(br#"{"schemaVersion": 1}"#).is_err());
        let err = Manifest::parse(
            br#"{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                "config": {"mediaType": "x", "digest": "d", "size": 1}, "layers": []}"#,
        )
        .unwrap_err();
        assert!(err.contains("not an image manifest"), "{err}");
    }
}
