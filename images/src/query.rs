//! Reading what a registry holds: the images table (`%k8s images`) and one image's details
//! (`%k8s image inspect`), through the registry HTTP API alone.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::Value;

use crate::manifest::{BASE_DIGEST, BASE_NAME};
use crate::registry::{locate, Registry};
use crate::Error;

/// Requests in flight at once while listing: enough to hide latency, few enough for a small
/// registry.
const PARALLEL: usize = 8;

/// One tag of one repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRow {
    pub repository: String,
    pub tag: String,
    /// The digest the tag names (an index's, for a multi-platform image).
    pub digest: String,
    /// Config plus layers, compressed, of the linux/amd64 image.
    pub size: u64,
    pub created: Option<DateTime<Utc>>,
}

/// What `image inspect` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// `host/repository@digest`.
    pub reference: String,
    pub digest: String,
    pub platform: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub created: Option<DateTime<Utc>>,
    pub layers: Vec<LayerInfo>,
    /// Config plus layers, compressed.
    pub size: u64,
    /// The image it was built on, from the OCI base annotations.
    pub base: Option<BaseImage>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    pub digest: String,
    pub size: u64,
    /// The history line of the layer (`kubernel: add /app/job`, a Dockerfile step, …).
    pub created_by: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseImage {
    pub name: Option<String>,
    pub digest: Option<String>,
}

impl Registry {
    /// Every tag of every repository (under the registry's prefix), or of those matching
    /// `repository`: that repository and the ones below it (`kubernel` takes `kubernel/job-a`).
    /// Sorted by repository, then tag.
    pub async fn list(&self, repository: Option<&str>) -> Result<Vec<ImageRow>, Error> {
        let filter = repository.map(|r| r.trim_matches('/'));
        let repos: Vec<String> = self
            .catalog()
            .await?
            .into_iter()
            .filter(|r| self.prefix().is_none_or(|p| under(r, p)))
            .filter(|r| {
                filter.is_none_or(|f| {
                    under(r, f) || self.prefix().is_some_and(|p| under(r, &format!("{p}/{f}")))
                })
            })
            .collect();
        if let (Some(f), true) = (filter, repos.is_empty()) {
            return Err(Error::RepositoryNotFound {
                host: self.host().to_string(),
                repository: self.repository(f),
            });
        }
        let tagged: Vec<(String, Vec<String>)> = stream::iter(repos)
            .map(|repo| async move {
                match self.tags(&repo).await {
                    Ok(tags) => Ok((repo, tags)),
                    // Listed by the catalog but deleted since, or never tagged.
                    Err(Error::RepositoryNotFound { .. }) => Ok((repo, Vec::new())),
                    Err(e) => Err(e),
                }
            })
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await?;
        let pairs = tagged
            .into_iter()
            .flat_map(|(repo, tags)| tags.into_iter().map(move |t| (repo.clone(), t)));
        let rows: Vec<Option<ImageRow>> = stream::iter(pairs)
            .map(|(repo, tag)| async move { self.row(repo, tag).await })
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await?;
        let mut rows: Vec<ImageRow> = rows.into_iter().flatten().collect();
        rows.sort_by(|a, b| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag)));
        Ok(rows)
    }

    /// The names of the repositories (under the registry's prefix), from the catalog alone:
    /// one request, quick enough for completion.
    pub async fn repositories(&self) -> Result<Vec<String>, Error> {
        let mut repos: Vec<String> = self
            .catalog()
            .await?
            .into_iter()
            .filter(|r| self.prefix().is_none_or(|p| under(r, p)))
            .collect();
        repos.sort();
        Ok(repos)
    }

    /// The tags of one repository (its full path on the registry), sorted.
    pub async fn tag_names(&self, repository: &str) -> Result<Vec<String>, Error> {
        let mut tags = self.tags(repository).await?;
        tags.sort();
        Ok(tags)
    }

    /// One row; `None` for a tag deleted while listing or one that names no linux/amd64 image.
    async fn row(&self, repository: String, tag: String) -> Result<Option<ImageRow>, Error> {
        let resolved = match self.resolve(&repository, &tag).await {
            Ok(r) => r,
            Err(Error::ImageNotFound { .. } | Error::NoPlatform { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let created = match self.blob(&repository, &resolved.manifest.config).await {
            Ok(bytes) => created_of(&serde_json::from_slice(&bytes).unwrap_or(Value::Null)),
            Err(Error::Unexpected { .. }) => None,
            Err(e) => return Err(e),
        };
        Ok(Some(ImageRow {
            size: resolved.manifest.size(),
            repository,
            tag,
            digest: resolved.digest,
            created,
        }))
    }

    /// The details of `reference`: `repository[:tag|@digest]` on this registry (as
    /// [`Registry::list`] shows it), or a full reference with its host.
    pub async fn inspect(&self, reference: &str) -> Result<ImageInfo, Error> {
        let (reg, r) = locate(self, reference)?;
        let key = r.manifest_key().to_string();
        let resolved = match reg.resolve(&r.repository, &key).await {
            Ok(found) => found,
            Err(Error::ImageNotFound { .. }) if r.digest.is_none() => {
                return Err(reg.explain_missing(&r.repository, &key).await)
            }
            Err(e) => return Err(e),
        };
        let config_bytes = reg.blob(&r.repository, &resolved.manifest.config).await?;
        let config: Value = serde_json::from_slice(&config_bytes).map_err(|e| {
            Error::InvalidImage(format!("the config of {reference} is not JSON ({e})"))
        })?;
        let run = &config["config"];
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
        // History entries marked empty_layer (ENV, CMD, …) have no layer.
        let history: Vec<Option<String>> = config["history"]
            .as_array()
            .map(|h| {
                h.iter()
                    .filter(|e| !e["empty_layer"].as_bool().unwrap_or(false))
                    .map(|e| text(&e["created_by"]))
                    .collect()
            })
            .unwrap_or_default();
        let layers = resolved
            .manifest
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| LayerInfo {
                digest: l.digest.clone(),
                size: l.size,
                created_by: history.get(i).cloned().flatten(),
            })
            .collect();
        let ann = &resolved.manifest.annotations;
        let base =
            (ann.contains_key(BASE_NAME) || ann.contains_key(BASE_DIGEST)).then(|| BaseImage {
                name: ann.get(BASE_NAME).cloned(),
                digest: ann.get(BASE_DIGEST).cloned(),
            });
        Ok(ImageInfo {
            reference: format!("{}/{}@{}", reg.host(), r.repository, resolved.digest),
            digest: resolved.digest.clone(),
            platform: format!(
                "{}/{}",
                config["os"].as_str().unwrap_or("?"),
                config["architecture"].as_str().unwrap_or("?")
            ),
            entrypoint: strings(&run["Entrypoint"]),
            cmd: strings(&run["Cmd"]),
            env: strings(&run["Env"]),
            user: text(&run["User"]),
            working_dir: text(&run["WorkingDir"]),
            labels: run["Labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
            created: created_of(&config),
            size: resolved.manifest.size(),
            layers,
            base,
        })
    }
}

/// Inspects a full reference (`host/repository:tag`), with credentials from the Docker config.
pub async fn inspect(reference: &str) -> Result<ImageInfo, Error> {
    let parsed = crate::ImageRef::parse(reference)?;
    let Some(host) = parsed.host else {
        return Err(Error::InvalidReference {
            input: reference.to_string(),
            reason: "it names no registry host (give host[:port]/repository)".into(),
        });
    };
    Registry::new(&host)?.inspect(reference).await
}

fn under(repository: &str, prefix: &str) -> bool {
    repository == prefix
        || repository
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn created_of(config: &Value) -> Option<DateTime<Utc>> {
    config["created"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_take_a_repository_and_those_below_it() {
        assert!(under("kubernel", "kubernel"));
        assert!(under("kubernel/job-a", "kubernel"));
        assert!(!under("kubernel-test/job-a", "kubernel"));
        assert!(!under("library/debian", "kubernel"));
    }

    #[test]
    fn created_times_parse_with_fractions_and_offsets() {
        let c = serde_json::json!({"created": "2026-11-30T10:00:00.123456789+01:00"});
        assert_eq!(
            created_of(&c).unwrap().to_rfc3339(),
            "2026-11-30T09:00:00.123456789+00:00"
        );
        assert_eq!(created_of(&serde_json::json!({})), None);
    }
}
