//! Discovery: fetching the catalogue of kinds the server offers (aggregated discovery, with one
//! request per group for older servers), cached per connection and fetched again when a kind is
//! not found (a custom resource may have been added since).

use super::connection::Conn;
use super::error::ClusterError;
use super::kinds::{Catalog, Kind};
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Conn {
    /// The catalog of kinds, fetched once per connection.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, ClusterError> {
        let mut guard = self.catalog.lock().await;
        if let Some((c, _)) = guard.as_ref() {
            return Ok(c.clone());
        }
        let c = Arc::new(self.discover().await?);
        *guard = Some((c.clone(), Instant::now()));
        Ok(c)
    }

    /// Fetches the catalog again if it is older than a few seconds (a kind was not found: a
    /// custom resource may have been added since).
    async fn refreshed_catalog(&self) -> Result<Arc<Catalog>, ClusterError> {
        let mut guard = self.catalog.lock().await;
        if let Some((c, at)) = guard.as_ref() {
            if at.elapsed() < Duration::from_secs(3) {
                return Ok(c.clone());
            }
        }
        let c = Arc::new(self.discover().await?);
        *guard = Some((c.clone(), Instant::now()));
        Ok(c)
    }

    /// A kind as typed, looked up again in fresh discovery before it is called unknown.
    pub async fn kind(&self, typed: &str) -> Result<Kind, ClusterError> {
        match self.catalog().await?.resolve(typed) {
            Ok(k) => Ok(k.clone()),
            Err(_) => self.refreshed_catalog().await?.resolve(typed).cloned(),
        }
    }

    /// The kind of a manifest's apiVersion + kind, with the same second look.
    pub async fn kind_of(&self, api_version: &str, kind: &str) -> Result<Option<Kind>, ClusterError> {
        match self.catalog().await?.by_gvk(api_version, kind) {
            Some(k) => Ok(Some(k)),
            None => Ok(self.refreshed_catalog().await?.by_gvk(api_version, kind)),
        }
    }

    async fn discover(&self) -> Result<Catalog, ClusterError> {
        let client = &self.client;
        let fetched = self
            .call("discover the API", async {
                let core = client.list_core_api_versions_aggregated().await?;
                let groups = client.list_api_groups_aggregated().await?;
                Ok((core, groups))
            })
            .await;
        let (core, groups) = match fetched {
            Ok(v) => v,
            Err(e) if e.is_fatal() => return Err(e),
            Err(_) => return self.discover_legacy().await,
        };
        let mut catalog = Catalog::default();
        for g in core.items.into_iter().chain(groups.items) {
            let group = g.metadata.as_ref().and_then(|m| m.name.clone()).unwrap_or_default();
            let versions: Vec<String> = g.versions.iter().filter_map(|v| v.version.clone()).collect();
            if let Some(preferred) = g.versions.into_iter().next() {
                let version = preferred.version.clone().unwrap_or_default();
                for r in preferred.resources {
                    let Some(plural) = r.resource else { continue };
                    if plural.contains('/') {
                        continue;
                    }
                    let kind = r.response_kind.as_ref().and_then(|k| k.kind.clone()).unwrap_or_default();
                    catalog.kinds.push(Kind {
                        group: group.clone(),
                        version: version.clone(),
                        singular: r.singular_resource.unwrap_or_else(|| kind.to_ascii_lowercase()),
                        kind,
                        plural,
                        short_names: r.short_names,
                        categories: r.categories,
                        namespaced: r.scope.as_deref() == Some("Namespaced"),
                        verbs: r.verbs,
                    });
                }
            }
            catalog.groups.push((group, versions));
        }
        if catalog.kinds.is_empty() {
            return self.discover_legacy().await;
        }
        Ok(catalog)
    }

    /// Discovery for servers without the aggregated API: one request per group.
    async fn discover_legacy(&self) -> Result<Catalog, ClusterError> {
        let client = &self.client;
        let mut catalog = Catalog::default();
        let mut lists = Vec::new();
        let core = self.call("discover the API", client.list_core_api_resources("v1")).await?;
        lists.push((String::new(), "v1".to_string(), core));
        catalog.groups.push((String::new(), vec!["v1".to_string()]));
        let groups = self.call("discover the API", client.list_api_groups()).await?;
        for g in groups.groups {
            let preferred = g.preferred_version.as_ref().map(|v| v.version.clone()).or_else(|| g.versions.first().map(|v| v.version.clone()));
            let Some(version) = preferred else { continue };
            catalog.groups.push((g.name.clone(), std::iter::once(version.clone()).chain(g.versions.iter().map(|v| v.version.clone()).filter(|v| *v != version)).collect()));
            if let Ok(list) = self.call("discover the API", client.list_api_group_resources(&format!("{}/{version}", g.name))).await {
                lists.push((g.name.clone(), version, list));
            }
        }
        for (group, version, list) in lists {
            for r in list.resources {
                if r.name.contains('/') {
                    continue;
                }
                catalog.kinds.push(Kind {
                    group: group.clone(),
                    version: version.clone(),
                    singular: if r.singular_name.is_empty() { r.kind.to_ascii_lowercase() } else { r.singular_name.clone() },
                    kind: r.kind,
                    plural: r.name,
                    short_names: r.short_names.unwrap_or_default(),
                    categories: r.categories.unwrap_or_default(),
                    namespaced: r.namespaced,
                    verbs: r.verbs,
                });
            }
        }
        Ok(catalog)
    }
}
