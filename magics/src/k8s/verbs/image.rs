//! `image inspect REF`: what an image runs and what it is made of (entrypoint, environment,
//! user, labels, its base and its layers), as `kubectl describe` tells an object; and
//! `%%k8s image build NAME[:TAG]`: the cell's body made into a program's `main` with the
//! notebook's items and `:dep`s, pushed as `kubernel/NAME` without running it (the same build
//! as job and deploy, see [`crate::k8s::build`]).

use super::flags::{Parsed, UsageError};
use super::images::{age_of, registry_of, repository_names, short_digest};
use super::{plan, result, About, Body, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::build::{base_reference, build_image, cell_of, human_bytes, image_error, DEFAULT_BASE};
use crate::k8s::cluster::Scope;
use crate::k8s::view::Table;
use chrono::{SecondsFormat, Utc};
use images::{Error as ImageError, ImageInfo, ImageRef};
use output::{escape_html, MimeBundle};
use programs::Shape;
use std::time::Duration;

pub struct Image;

const ABOUT: About = About {
    name: "image",
    flags: &["--registry", "--image", "--context", "--kubeconfig"],
    help: "  %k8s image inspect REF [--registry R]   entrypoint, cmd, env, user, labels, base and layers of an image
        (REF: kubernel/NAME, NAME:TAG, REPO@sha256:..., HOST/REPO:TAG; without a host, on the cluster's registry)
  %%k8s image build NAME[:TAG] [--image BASE] [--registry R]   the cell is the body of a program's main, with
        the notebook's items and :deps; built for the cluster, pushed as kubernel/NAME:TAG (latest unless given) on
        a base (debian:bookworm-slim unless --image), not run; prints the image's reference by digest",
    body: Some(Body::Rust),
    takes_command: false,
};

enum Options {
    Inspect { reference: String, registry: Option<String>, scope: Scope },
    Build { name: String, tag: Option<String>, base: Option<String>, registry: Option<String>, scope: Scope },
}

impl Verb for Image {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, body: bool) -> Result<Box<dyn Planned>, UsageError> {
        let registry = p.text("--registry");
        let scope = p.scope();
        match p.positional.first().map(String::as_str) {
            Some("inspect") => {
                if body {
                    return Err(p.usage("image inspect takes no cell body (%%k8s image build does)"));
                }
                if p.has("--image") {
                    return Err(p.usage("--image is the base of image build; image inspect takes the image as REF"));
                }
                let [_, reference] = p.positional.as_slice() else {
                    return Err(p.usage("write image inspect REF (e.g. kubernel/NAME, debian:bookworm-slim)"));
                };
                let parsed = ImageRef::parse(reference).map_err(|e| p.usage(e))?;
                if let (Some(host), Some(reg)) = (&parsed.host, &registry) {
                    if super::images::host_of(reg) != host {
                        return Err(p.usage(format!("'{reference}' is on {host}, not on --registry {reg}")));
                    }
                }
                plan(Options::Inspect { reference: reference.clone(), registry, scope })
            }
            Some("build") => {
                let [_, given] = p.positional.as_slice() else {
                    return Err(p.usage("write %%k8s image build NAME[:TAG] with the program's main body in the cell"));
                };
                let (name, tag) = name_and_tag(given).map_err(|e| p.usage(e))?;
                if !body {
                    return Err(p.usage(format!(
                        "image build makes an image of the cell's program: write %%k8s image build {given} with the body of main below it"
                    )));
                }
                if let Some(base) = p.text("--image") {
                    ImageRef::parse(&base).map_err(|e| p.usage(format!("--image: {e}")))?;
                }
                plan(Options::Build { name, tag, base: p.text("--image"), registry, scope })
            }
            Some(other) => Err(p.usage(format!("unknown image command '{other}'; write image inspect REF or %%k8s image build NAME"))),
            None => Err(p.usage("write image inspect REF or %%k8s image build NAME[:TAG]")),
        }
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(async move {
            match cx.positional.as_slice() {
                [] => vec!["inspect".into(), "build".into()],
                // REPO: gives REPO:TAG for each of its tags (a colon before a slash is a port).
                ["inspect"] => match cx.current.rsplit_once(':') {
                    Some((repo, tail)) if !tail.contains('/') && ImageRef::parse(repo).is_ok_and(|r| r.host.is_none()) => {
                        tags_of(cx, repo).await
                    }
                    _ => repository_names(cx.session).await,
                },
                _ => Vec::new(),
            }
        })
    }
}

/// `REPO:TAG` for each tag of the repository, for completion: within 3 s, or none.
async fn tags_of(cx: &Completing<'_>, repository: &str) -> Vec<String> {
    let tags = async {
        let choice = registry_of(cx.session, &Scope::default(), None).await.ok()?;
        images::Registry::new(&choice.push).ok()?.tag_names(repository).await.ok()
    };
    let tags = tokio::time::timeout(Duration::from_secs(3), tags).await.ok().flatten().unwrap_or_default();
    tags.into_iter().map(|t| format!("{repository}:{t}")).collect()
}

/// `NAME[:TAG]`: NAME a lowercase name for `kubernel/NAME` (and the objects named after it).
fn name_and_tag(given: &str) -> Result<(String, Option<String>), String> {
    let (name, tag) = match given.split_once(':') {
        Some((n, t)) => (n, Some(t)),
        None => (given, None),
    };
    let good = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !good {
        return Err(format!("'{name}' is not an image name: lowercase letters, digits and '-' (it becomes kubernel/{name})"));
    }
    let r = ImageRef::parse(&format!("kubernel/{given}")).map_err(|e| e.to_string())?;
    if r.digest.is_some() {
        return Err(format!("'{given}': a digest is what a build makes, not what it is given"));
    }
    Ok((name.to_string(), tag.map(str::to_string)))
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        match self {
            Options::Inspect { reference, registry, scope } => {
                let info = inspect(cx, reference, registry.as_deref(), scope).await?;
                result(MimeBundle::plain(describe_text(&info, Utc::now())).with("text/html", describe_html(&info)))
            }
            Options::Build { name, tag, base, registry, scope } => {
                build(cx, name, tag.as_deref(), base.as_deref(), registry.as_deref(), scope).await
            }
        }
    }
}

/// A REF with a host is asked of that registry; one without, of the session's (the cluster's).
/// A bare `NAME` is looked for as `kubernel/NAME` (what image build makes), then as Docker
/// would (`library/NAME`), then as it is.
async fn inspect(cx: &Cx<'_>, reference: &str, registry: Option<&str>, scope: &Scope) -> Result<ImageInfo, MagicError> {
    let parsed = ImageRef::parse(reference).map_err(image_error)?;
    if parsed.host.is_some() {
        return images::inspect(reference).await.map_err(image_error);
    }
    let choice = registry_of(cx.session, scope, registry).await?;
    let client = images::Registry::new(&choice.push).map_err(image_error)?;
    let candidates = candidates(&parsed);
    for candidate in &candidates {
        match client.inspect(candidate).await {
            Err(ImageError::RepositoryNotFound { .. }) => continue,
            other => return other.map_err(image_error),
        }
    }
    let repos: Vec<String> = candidates.iter().filter_map(|c| ImageRef::parse(c).ok()).map(|r| client.repository(&r.repository)).collect();
    Err(MagicError::new("ImageError", format!("the registry {} has no repository {}", client.host(), or_list(&repos))))
}

/// What a host-less REF may mean, in the order looked for.
fn candidates(r: &ImageRef) -> Vec<String> {
    if r.repository.contains('/') {
        return vec![r.to_string()];
    }
    let with = |repository: String| ImageRef { host: None, repository, tag: r.tag.clone(), digest: r.digest.clone() }.to_string();
    vec![with(format!("kubernel/{}", r.repository)), with(format!("library/{}", r.repository)), r.to_string()]
}

fn or_list(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// `["/app/program"]`, as `docker inspect` shows a command: each argument whole.
fn command_text(args: &[String]) -> String {
    if args.is_empty() {
        return "<none>".into();
    }
    serde_json::to_string(args).unwrap_or_default()
}

fn or_none(v: Option<&str>) -> String {
    v.filter(|s| !s.is_empty()).unwrap_or("<none>").to_string()
}

/// The base as `name@digest`, or what of it the image says.
fn base_text(info: &ImageInfo) -> String {
    match &info.base {
        None => "<none> (the image does not name its base)".into(),
        Some(b) => match (&b.name, &b.digest) {
            (Some(n), Some(d)) => format!("{n}@{d}"),
            (Some(n), None) => n.clone(),
            (None, Some(d)) => d.clone(),
            (None, None) => "<none>".into(),
        },
    }
}

/// The fields `describe` shows, in order: (label, value) with multi-line values as lists.
fn fields(info: &ImageInfo, now: chrono::DateTime<Utc>) -> Vec<(&'static str, Vec<String>)> {
    let created = match info.created {
        Some(t) => format!("{} ({} ago)", t.to_rfc3339_opts(SecondsFormat::Secs, true), age_of(Some(t), now)),
        None => "<unknown>".into(),
    };
    let list = |v: Vec<String>| if v.is_empty() { vec!["<none>".to_string()] } else { v };
    vec![
        ("Reference", vec![info.reference.clone()]),
        ("Digest", vec![info.digest.clone()]),
        ("Platform", vec![info.platform.clone()]),
        ("Created", vec![created]),
        ("Size", vec![format!("{} (compressed)", human_bytes(info.size))]),
        ("Base", vec![base_text(info)]),
        ("Entrypoint", vec![command_text(&info.entrypoint)]),
        ("Cmd", vec![command_text(&info.cmd)]),
        ("User", vec![or_none(info.user.as_deref())]),
        ("Working dir", vec![or_none(info.working_dir.as_deref())]),
        ("Env", list(info.env.clone())),
        ("Labels", list(info.labels.iter().map(|(k, v)| format!("{k}={v}")).collect())),
    ]
}

fn layers_table(info: &ImageInfo) -> Table {
    let mut t = Table::new(&["DIGEST", "SIZE", "CREATED BY"]);
    for l in &info.layers {
        let by = l.created_by.as_deref().map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "));
        t.rows.push(vec![short_digest(&l.digest), human_bytes(l.size), or_none(by.as_deref())]);
    }
    t
}

/// kubectl describe's layout: `Label:  value`, lists indented under their label.
fn describe_text(info: &ImageInfo, now: chrono::DateTime<Utc>) -> String {
    let fields = fields(info, now);
    // The longest label, its colon and two spaces.
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 3;
    let mut out = String::new();
    for (label, values) in &fields {
        let head = format!("{label}:");
        match values.as_slice() {
            [one] if *label != "Env" && *label != "Labels" || one == "<none>" => {
                out.push_str(&format!("{head:<width$}{one}\n"));
            }
            many => {
                out.push_str(&format!("{head}\n"));
                for v in many {
                    out.push_str(&format!("  {v}\n"));
                }
            }
        }
    }
    out.push_str(&format!("Layers ({}):\n", info.layers.len()));
    for line in layers_table(info).to_text().lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out.trim_end().to_string()
}

fn describe_html(info: &ImageInfo) -> String {
    let mut html = String::from("<table class=\"kubernel-k8s\"><tbody>");
    for (label, values) in fields(info, Utc::now()) {
        let cell: Vec<String> = values.iter().map(|v| format!("<code>{}</code>", escape_html(v))).collect();
        html.push_str(&format!(
            "<tr><th style=\"text-align:left;vertical-align:top\">{}</th><td style=\"text-align:left\">{}</td></tr>",
            escape_html(label),
            cell.join("<br>")
        ));
    }
    html.push_str("</tbody></table>");
    html.push_str(&format!("<div><b>Layers ({})</b></div>", info.layers.len()));
    html.push_str(&layers_table(info).to_html());
    html
}

/// Builds and pushes the cell's program; with a TAG, that tag names the same digest too.
async fn build(
    cx: &Cx<'_>,
    name: &str,
    tag: Option<&str>,
    base: Option<&str>,
    registry: Option<&str>,
    scope: &Scope,
) -> Result<MagicOutput, MagicError> {
    let Some(body) = cx.body else {
        return Err(MagicError::usage("%k8s image: image build needs the program's main body in the cell"));
    };
    let (conn, _) = cx.session.for_call(scope).await?;
    let cell = cell_of(&cx.notebook.snapshot(), body, cx.body_line);
    let built = build_image(&conn, cx.sink, name, &cell, Shape::Main, base, registry).await?;
    let repository = format!("kubernel/{name}");
    let client = images::Registry::new(&built.registry.push).map_err(image_error)?;
    let host = client.host().to_string();
    // As `docker build -t NAME` does, no TAG means latest: `kubernel/NAME` then names the image.
    let tag = tag.unwrap_or("latest");
    client.tag(&repository, &built.pushed.digest, tag).await.map_err(image_error)?;
    let tags = [built.pushed.tag.as_str(), tag].map(|t| format!("{host}/{}:{t}", client.repository(&repository)));
    let base = base_reference(base.unwrap_or(DEFAULT_BASE));
    let base = if ImageRef::parse(&base).is_ok_and(|r| r.host.is_some()) { base } else { format!("{host}/{base}") };
    let rows = [
        ("Image", built.image.clone()),
        ("Digest", built.pushed.digest.clone()),
        ("Tags", tags.join(", ")),
        ("Base", format!("{base}@{}", built.pushed.base_digest)),
    ];
    let text: Vec<String> = rows.iter().map(|(k, v)| format!("{:<8}{v}", format!("{k}:"))).collect();
    let html: Vec<String> = rows
        .iter()
        .map(|(k, v)| format!("<tr><th style=\"text-align:left\">{k}</th><td style=\"text-align:left\"><code>{}</code></td></tr>", escape_html(v)))
        .collect();
    result(
        MimeBundle::plain(text.join("\n"))
            .with("text/html", format!("<table class=\"kubernel-k8s\"><tbody>{}</tbody></table>", html.join(""))),
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;
    use images::{BaseImage, LayerInfo};
    use std::collections::BTreeMap;

    #[test]
    fn sub_verbs_and_their_arguments() {
        assert_eq!(refused(&Image, "inspect kubernel/hello", false), "");
        assert_eq!(refused(&Image, "inspect hello:v1 --registry 127.0.0.1:5000", false), "");
        assert!(refused(&Image, "inspect", false).contains("write image inspect REF"));
        assert!(refused(&Image, "inspect 127.0.0.1:5000/a --registry 127.0.0.1:1", false).contains("not on --registry 127.0.0.1:1"));
        assert!(refused(&Image, "inspect Hello", false).contains("lowercase"));
        assert!(refused(&Image, "inspect hello", true).contains("takes no cell body"));
        assert!(refused(&Image, "inspect hello --image x", false).contains("--image is the base of image build"));
        assert_eq!(refused(&Image, "build hello:v1 --image debian:bookworm-slim", true), "");
        assert!(refused(&Image, "build hello", false).contains("with the body of main below it"));
        assert!(refused(&Image, "build Hello", true).contains("'Hello' is not an image name"));
        assert!(refused(&Image, "build hello:-x", true).contains("not a valid tag"));
        assert!(refused(&Image, "push hello", false).contains("unknown image command 'push'"));
        assert!(refused(&Image, "", false).contains("write image inspect REF or %%k8s image build"));
    }

    #[test]
    fn a_bare_name_is_looked_for_as_kubernel_then_library_then_itself() {
        let c = |s: &str| candidates(&ImageRef::parse(s).unwrap());
        assert_eq!(c("hello:v1"), ["kubernel/hello:v1", "library/hello:v1", "hello:v1"]);
        assert_eq!(c("kubernel/hello"), ["kubernel/hello"]);
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(c(&format!("pause@{d}"))[0], format!("kubernel/pause@{d}"));
    }

    fn info() -> ImageInfo {
        ImageInfo {
            reference: "127.0.0.1:5000/kubernel/hello@sha256:1111".into(),
            digest: "sha256:1111".into(),
            platform: "linux/amd64".into(),
            entrypoint: vec!["/app/program".into()],
            cmd: vec![],
            env: vec!["PATH=/usr/bin:/bin".into()],
            user: Some("65532:65532".into()),
            working_dir: None,
            labels: BTreeMap::from([("kubernel.io/cell-hash".to_string(), "abc".to_string())]),
            created: Some(chrono::DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z").unwrap().with_timezone(&Utc)),
            layers: vec![
                LayerInfo { digest: format!("sha256:{}", "b".repeat(64)), size: 29_000_000, created_by: Some("# debian.sh\n  --arch amd64".into()) },
                LayerInfo { digest: format!("sha256:{}", "c".repeat(64)), size: 400_000, created_by: Some("kubernel: add /app/program".into()) },
            ],
            size: 29_400_000,
            base: Some(BaseImage { name: Some("127.0.0.1:5000/library/debian:bookworm-slim".into()), digest: Some("sha256:2222".into()) }),
        }
    }

    #[test]
    fn described_as_kubectl_describe_does() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z").unwrap().with_timezone(&Utc);
        let text = describe_text(&info(), now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Reference:    127.0.0.1:5000/kubernel/hello@sha256:1111");
        assert!(lines.contains(&"Created:      2026-12-01T12:00:00Z (24h ago)"), "{text}");
        assert!(lines.contains(&"Base:         127.0.0.1:5000/library/debian:bookworm-slim@sha256:2222"), "{text}");
        assert!(lines.contains(&"Entrypoint:   [\"/app/program\"]"), "{text}");
        assert!(lines.contains(&"Cmd:          <none>") && lines.contains(&"Working dir:  <none>"), "{text}");
        assert!(lines.contains(&"User:         65532:65532"), "{text}");
        assert!(text.contains("Env:\n  PATH=/usr/bin:/bin\nLabels:\n  kubernel.io/cell-hash=abc\n"), "{text}");
        assert!(text.contains("Layers (2):\n  DIGEST                SIZE      CREATED BY\n"), "{text}");
        assert!(text.contains("  sha256:cccccccccccc   391 KB    kubernel: add /app/program"), "{text}");
        assert!(text.contains("# debian.sh --arch amd64"), "a history line is kept on one line: {text}");
        let html = describe_html(&info());
        assert!(html.contains("<th style=\"text-align:left;vertical-align:top\">Entrypoint</th>"), "{html}");
        assert!(html.contains("<code>[&quot;/app/program&quot;]</code>") || html.contains("<code>[\"/app/program\"]</code>"), "{html}");
    }
}
