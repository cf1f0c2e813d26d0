//! `images [REPOSITORY]`: what the cluster's registry holds, as `docker images` lists a local
//! store: a row for each tag with its digest, size and age, newest first, through the registry
//! HTTP API (the images crate). The registry is the cluster's own (see
//! [`find_registry`]) unless `--registry` names another.

use super::flags::{Parsed, UsageError};
use super::{plan, result, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::build::{human_bytes, image_error};
use crate::k8s::cluster::registry::{find_registry, RegistryChoice, REGISTRY_ENV};
use crate::k8s::cluster::{Scope, Session};
use crate::k8s::view::live::with_note;
use crate::k8s::view::{human_duration, Table};
use chrono::{DateTime, Utc};
use images::{ImageRef, ImageRow};
use output::MimeBundle;
use std::time::Duration;

pub struct Images;

const ABOUT: About = About {
    name: "images",
    flags: &["--registry", "--context", "--kubeconfig"],
    help: "  %k8s images [REPOSITORY] [--registry HOST[:PORT][/PATH]]   the registry's images: repository, tag,
        digest, size and age, newest first (the cluster's registry unless --registry names another)",
    body: None,
    takes_command: false,
};

struct Options {
    repository: Option<String>,
    registry: Option<String>,
    scope: Scope,
}

impl Verb for Images {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        if let Some(extra) = p.positional.get(1) {
            return Err(p.usage(format!("unexpected argument '{extra}'; write images [REPOSITORY]")));
        }
        let mut registry = p.text("--registry");
        let repository = match p.positional.first() {
            None => None,
            Some(given) => {
                let r = ImageRef::parse(given).map_err(|e| p.usage(e))?;
                if r.tag.is_some() || r.digest.is_some() {
                    return Err(p.usage(format!(
                        "'{given}' names one image; images takes a repository (image inspect {given} shows that one)"
                    )));
                }
                // host/repository: that registry's repository.
                if let Some(host) = r.host {
                    if registry.as_deref().is_some_and(|reg| host_of(reg) != host) {
                        return Err(p.usage(format!("'{given}' is on {host}, not on --registry {}", registry.unwrap_or_default())));
                    }
                    registry.get_or_insert(host);
                }
                Some(r.repository)
            }
        };
        plan(Options { repository, registry, scope: p.scope() })
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(async move {
            if !cx.positional.is_empty() {
                return Vec::new();
            }
            repository_names(cx.session).await
        })
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let choice = registry_of(cx.session, &self.scope, self.registry.as_deref()).await?;
        let client = images::Registry::new(&choice.push).map_err(image_error)?;
        let rows = client.list(self.repository.as_deref()).await.map_err(image_error)?;
        if rows.is_empty() {
            return result(MimeBundle::plain(format!("No images found on {}.", choice.push)));
        }
        let table = images_table(rows, Utc::now());
        result(with_note(&table.bundle(), &format!("registry {}, {}", choice.push, source_text(&choice))))
    }
}

/// Where the registry came from, for the note under a table.
pub(super) fn source_text(choice: &RegistryChoice) -> String {
    match choice.source {
        "--registry" => "given by --registry".to_string(),
        "KUBERNEL_REGISTRY" => "from KUBERNEL_REGISTRY".to_string(),
        other => format!("named by {other}"),
    }
}

/// The registry a command works with: `--registry`, `KUBERNEL_REGISTRY`, or the cluster's own.
/// The first two need no cluster, so a registry can be listed without one.
pub(super) async fn registry_of(session: &Session, scope: &Scope, flag: Option<&str>) -> Result<RegistryChoice, MagicError> {
    let given = |spec: &str, source| RegistryChoice { push: spec.to_string(), pull: spec.to_string(), source };
    if let Some(spec) = flag.map(str::trim).filter(|s| !s.is_empty()) {
        return Ok(given(spec, "--registry"));
    }
    if let Some(spec) = std::env::var(REGISTRY_ENV).ok().filter(|s| !s.trim().is_empty()) {
        return Ok(given(spec.trim(), "KUBERNEL_REGISTRY"));
    }
    let (conn, _) = session.for_call(scope).await?;
    Ok(find_registry(&conn, None).await?)
}

/// The repositories of the session's registry, for completion: within 3 s, or none.
pub(super) async fn repository_names(session: &Session) -> Vec<String> {
    let names = async {
        let choice = registry_of(session, &Scope::default(), None).await.ok()?;
        images::Registry::new(&choice.push).ok()?.repositories().await.ok()
    };
    tokio::time::timeout(Duration::from_secs(3), names).await.ok().flatten().unwrap_or_default()
}

/// The host of a `[http[s]://]HOST[:PORT][/PATH]` registry.
pub(super) fn host_of(registry: &str) -> &str {
    let rest = registry.trim().trim_start_matches("http://").trim_start_matches("https://");
    rest.split('/').next().unwrap_or(rest)
}

/// `sha256:` and the first 12 hex digits, as `docker images --digests` shortens an id.
pub(super) fn short_digest(digest: &str) -> String {
    match digest.strip_prefix("sha256:") {
        Some(hex) => format!("sha256:{}", hex.chars().take(12).collect::<String>()),
        None => digest.to_string(),
    }
}

/// How long ago, as kubectl says it; `<unknown>` for an image without a creation time.
pub(super) fn age_of(created: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    // Reproducible images carry a fixed time (the epoch, or their base's): no age to tell.
    match created {
        Some(t) if t.timestamp() > 0 => human_duration((now - t).num_seconds()),
        Some(_) => "-".into(),
        None => "<unknown>".into(),
    }
}

/// The rows newest first (those without a time last), then by repository and tag.
fn images_table(mut rows: Vec<ImageRow>, now: DateTime<Utc>) -> Table {
    rows.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag))));
    let mut t = Table::new(&["REPOSITORY", "TAG", "DIGEST", "SIZE", "AGE"]);
    for r in rows {
        t.rows.push(vec![r.repository, r.tag, short_digest(&r.digest), human_bytes(r.size), age_of(r.created, now)]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    fn row(repo: &str, tag: &str, created: Option<&str>) -> ImageRow {
        ImageRow {
            repository: repo.into(),
            tag: tag.into(),
            digest: format!("sha256:{}", "ab12".repeat(16)),
            size: 31_500_000,
            created: created.map(|c| DateTime::parse_from_rfc3339(c).unwrap().with_timezone(&Utc)),
        }
    }

    #[test]
    fn newest_first_with_short_digests_and_human_sizes() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z").unwrap().with_timezone(&Utc);
        let rows = vec![
            row("library/debian", "bookworm-slim", Some("2026-11-01T12:00:00Z")),
            row("kubernel/hello", "v1", Some("2026-12-02T11:00:00Z")),
            row("pause", "3.10", None),
            row("kubernel/hello", "0123456789abcdef", Some("2026-12-02T11:00:00Z")),
        ];
        let t = images_table(rows, now);
        let firsts: Vec<(&str, &str)> = t.rows.iter().map(|r| (r[0].as_str(), r[1].as_str())).collect();
        assert_eq!(
            firsts,
            [("kubernel/hello", "0123456789abcdef"), ("kubernel/hello", "v1"), ("library/debian", "bookworm-slim"), ("pause", "3.10")]
        );
        assert_eq!(t.rows[0][2], "sha256:ab12ab12ab12");
        assert_eq!(t.rows[0][3], "30.0 MB");
        assert_eq!((t.rows[0][4].as_str(), t.rows[2][4].as_str(), t.rows[3][4].as_str()), ("60m", "31d", "<unknown>"));
        assert!(t.to_text().starts_with("REPOSITORY       TAG"), "{}", t.to_text());
    }

    #[test]
    fn a_repository_not_an_image() {
        assert_eq!(refused(&Images, "", false), "");
        assert_eq!(refused(&Images, "kubernel/hello --registry 127.0.0.1:5000", false), "");
        assert_eq!(refused(&Images, "127.0.0.1:5000/kubernel/hello", false), "");
        assert!(refused(&Images, "kubernel/hello:v1", false).contains("image inspect kubernel/hello:v1"));
        assert!(refused(&Images, "Kubernel", false).contains("lowercase"));
        assert!(refused(&Images, "a b", false).contains("unexpected argument 'b'"));
        assert!(refused(&Images, "127.0.0.1:5000/x --registry 127.0.0.1:6000", false).contains("not on --registry"));
        assert_eq!(refused(&Images, "127.0.0.1:5000/x --registry http://127.0.0.1:5000/", false), "");
        assert_eq!(refused(&Images, "--registry", false), "%k8s images: --registry needs a registry (HOST[:PORT][/PATH])");
    }
}
