//! Against the real local registry at 127.0.0.1:5000 (brought up by `install/cluster up`, with
//! library/debian:bookworm-slim and library/busybox:latest in it): build images of a small
//! static program, push them, and check with curl, as a user would, what the registry serves.
//!
//! Every test pushes to its own repository under `kubernel-test/`, named with the time and the
//! process id, so runs never see each other's images.
//!
//!     eval "$(install/cluster env)"; cargo test --release -p images --test registry
//!
//! tests/run runs them after the cluster is up (one of them runs a pushed image as a pod).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use images::{Error, File, ImageConfig, Layer, Registry};
use sha2::{Digest as _, Sha256};

const REGISTRY: &str = "127.0.0.1:5000";
const BASE: &str = "library/debian:bookworm-slim";
const OCI_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json";

fn unique(name: &str) -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    format!("kubernel-test/{name}-{ms}-{}", std::process::id())
}

/// Scratch files (programs, configs) in Cargo's temporary folder for tests, reused by each run.
fn work_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("images-registry");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A static x86_64 program that prints `message` and its uid: what a compiled cell is.
fn program(message: &str) -> Vec<u8> {
    static BUILT: Mutex<Option<HashMap<String, Vec<u8>>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap();
    let built = built.get_or_insert_with(HashMap::new);
    if let Some(b) = built.get(message) {
        return b.clone();
    }
    let dir = work_dir();
    // Named by the message: the same program in each run (and in runs side by side).
    let name = hex::encode(&Sha256::digest(message.as_bytes())[..8]);
    let src = dir.join(format!("prog-{name}.c"));
    let out = dir.join(format!("prog-{name}"));
    std::fs::write(
        &src,
        format!(
            "#include <stdio.h>\n#include <unistd.h>\n\
             int main(void) {{ printf(\"{message} uid=%d\\n\", (int)getuid()); return 0; }}\n"
        ),
    )
    .unwrap();
    let status = Command::new("gcc")
        .args(["-static", "-O2", "-s", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("gcc runs (Debian's gcc and libc6-dev)");
    assert!(status.success(), "gcc -static failed");
    let bytes = std::fs::read(&out).unwrap();
    built.insert(message.to_string(), bytes.clone());
    bytes
}

fn job_layer(message: &str) -> Layer {
    Layer::from_files(&[File::new("/app/job", program(message), 0o755)]).unwrap()
}

fn job_config() -> ImageConfig {
    ImageConfig {
        entrypoint: Some(vec!["/app/job".into()]),
        env: vec!["KUBERNEL_TEST=1".into()],
        user: Some("65532:65532".into()),
        working_dir: Some("/tmp".into()),
        labels: [("kubernel.test".to_string(), "registry".to_string())].into(),
        ..ImageConfig::default()
    }
}

fn registry() -> Registry {
    // An empty Docker config: the local registry needs no credentials, and the developer's own
    // file must not change what the tests see.
    Registry::with_docker_config(REGISTRY, &work_dir().join("no-config.json")).unwrap()
}

struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// One request with curl, outside the crate under test.
fn curl(method: &str, path: &str, accept: Option<&str>, extra: &[&str]) -> Answer {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-D", "-", "-X", method, "--max-time", "60"]);
    if method == "HEAD" {
        cmd.arg("-I");
    }
    if let Some(a) = accept {
        cmd.args(["-H", &format!("Accept: {a}")]);
    }
    cmd.args(extra);
    cmd.arg(format!("http://{REGISTRY}{path}"));
    let out = cmd.output().expect("curl runs");
    let raw = out.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no HTTP answer from curl for {path}: {:?}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// The base's manifest as the registry serves it.
fn base_manifest() -> serde_json::Value {
    let a = curl(
        "GET",
        "/v2/library/debian/manifests/bookworm-slim",
        Some(OCI_ACCEPT),
        &[],
    );
    assert_eq!(
        a.status, 200,
        "the local registry holds {BASE}: is the cluster up?"
    );
    json(&a.body)
}

#[tokio::test]
async fn first_push_is_served_by_the_registry() {
    let reg = registry();
    let repo = unique("first");
    let layer = job_layer("hello from the first push");
    let pushed = reg
        .build_and_push(BASE, &repo, std::slice::from_ref(&layer), &job_config())
        .await
        .unwrap();
    println!(
        "first push: {:?}, {} bytes uploaded (layer {} bytes)",
        pushed.elapsed,
        pushed.bytes_uploaded,
        layer.size()
    );

    assert!(!pushed.reused);
    assert_eq!(
        pushed.reference,
        format!("{REGISTRY}/{repo}@{}", pushed.digest)
    );
    assert_eq!(
        pushed.tag,
        pushed.digest["sha256:".len().."sha256:".len() + 16]
    );

    // The tag and the digest both serve the manifest, whose bytes hash to the digest.
    let by_tag = curl(
        "GET",
        &format!("/v2/{repo}/manifests/{}", pushed.tag),
        Some(OCI_ACCEPT),
        &[],
    );
    assert_eq!(by_tag.status, 200);
    assert_eq!(by_tag.headers["docker-content-digest"], pushed.digest);
    assert_eq!(by_tag.headers["content-type"], OCI_ACCEPT);
    assert_eq!(sha256(&by_tag.body), pushed.digest);
    let by_digest = curl(
        "GET",
        &format!("/v2/{repo}/manifests/{}", pushed.digest),
        Some(OCI_ACCEPT),
        &[],
    );
    assert_eq!(by_digest.status, 200);
    assert_eq!(by_digest.body, by_tag.body);

    // Base layers first, then ours; every blob is there.
    let manifest = json(&by_tag.body);
    let base = base_manifest();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), base["layers"].as_array().unwrap().len() + 1);
    assert_eq!(layers[0]["digest"], base["layers"][0]["digest"]);
    assert_eq!(layers.last().unwrap()["digest"], layer.digest());
    assert_eq!(layers.last().unwrap()["size"], layer.size());
    for blob in layers.iter().chain([&manifest["config"]]) {
        let d = blob["digest"].as_str().unwrap();
        assert_eq!(
            curl("HEAD", &format!("/v2/{repo}/blobs/{d}"), None, &[]).status,
            200,
            "{d}"
        );
    }
    // Our layer's blob is the gzip we made.
    let blob = curl(
        "GET",
        &format!("/v2/{repo}/blobs/{}", layer.digest()),
        None,
        &["-L"],
    );
    assert_eq!(sha256(&blob.body), layer.digest());

    // The base's 42 MB layer was mounted, not sent: what was sent is about our layer.
    assert!(pushed.bytes_uploaded > layer.size(), "{pushed:?}");
    assert!(
        pushed.bytes_uploaded < layer.size() + 16 * 1024,
        "{pushed:?}"
    );

    // The config runs the program as asked, on the base's diff_ids plus ours.
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config = json(
        &curl(
            "GET",
            &format!("/v2/{repo}/blobs/{config_digest}"),
            None,
            &["-L"],
        )
        .body,
    );
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/app/job"])
    );
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(
        config["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        layer.diff_id()
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.base.name"],
        format!("{REGISTRY}/{BASE}")
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.base.digest"],
        curl(
            "HEAD",
            "/v2/library/debian/manifests/bookworm-slim",
            Some(OCI_ACCEPT),
            &[]
        )
        .headers["docker-content-digest"]
    );
}

#[tokio::test]
async fn unchanged_input_uploads_nothing() {
    let reg = registry();
    let repo = unique("unchanged");
    let first = reg
        .build_and_push(BASE, &repo, &[job_layer("unchanged")], &job_config())
        .await
        .unwrap();
    // A new layer from the same files, as a rerun of the same cell makes.
    let again = reg
        .build_and_push(BASE, &repo, &[job_layer("unchanged")], &job_config())
        .await
        .unwrap();
    println!(
        "unchanged push: {:?}, {} bytes uploaded",
        again.elapsed, again.bytes_uploaded
    );
    assert!(again.reused, "{again:?}");
    assert_eq!(again.bytes_uploaded, 0);
    assert_eq!(
        (&again.digest, &again.tag, &again.reference),
        (&first.digest, &first.tag, &first.reference)
    );
    assert!(!first.reused);
}

#[tokio::test]
async fn changed_program_uploads_about_its_layer() {
    let reg = registry();
    let repo = unique("changed");
    let first = reg
        .build_and_push(BASE, &repo, &[job_layer("before the edit")], &job_config())
        .await
        .unwrap();
    let edited = job_layer("after the edit, a longer message");
    let second = reg
        .build_and_push(BASE, &repo, std::slice::from_ref(&edited), &job_config())
        .await
        .unwrap();
    println!(
        "changed push: {:?}, {} bytes uploaded (new layer {} bytes)",
        second.elapsed,
        second.bytes_uploaded,
        edited.size()
    );
    assert!(!second.reused);
    assert_ne!(second.digest, first.digest);
    assert_ne!(second.tag, first.tag);
    assert!(second.bytes_uploaded >= edited.size(), "{second:?}");
    assert!(
        second.bytes_uploaded < edited.size() + 16 * 1024,
        "{second:?}"
    );
    // Both tags stay, each naming its own image.
    for p in [&first, &second] {
        let a = curl(
            "HEAD",
            &format!("/v2/{repo}/manifests/{}", p.tag),
            Some(OCI_ACCEPT),
            &[],
        );
        assert_eq!(a.headers["docker-content-digest"], p.digest);
    }
}

#[tokio::test]
async fn list_shows_the_image_with_its_digest_and_size() {
    let reg = registry();
    let repo = unique("list");
    let pushed = reg
        .build_and_push(BASE, &repo, &[job_layer("listed")], &job_config())
        .await
        .unwrap();

    let rows = reg.list(Some(&repo)).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(
        (row.repository.as_str(), row.tag.as_str()),
        (repo.as_str(), pushed.tag.as_str())
    );
    assert_eq!(row.digest, pushed.digest);
    // Size: config and layers, as the manifest lists them.
    let m = json(
        &curl(
            "GET",
            &format!("/v2/{repo}/manifests/{}", pushed.tag),
            Some(OCI_ACCEPT),
            &[],
        )
        .body,
    );
    let size: u64 = m["config"]["size"].as_u64().unwrap()
        + m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["size"].as_u64().unwrap())
            .sum::<u64>();
    assert_eq!(row.size, size);
    assert!(
        row.size > 40_000_000,
        "the base's layer counts: {}",
        row.size
    );
    // Created: the base's time (kept so that the same input gives the same digest).
    let base_config_digest = base_manifest()["config"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let base_config = json(
        &curl(
            "GET",
            &format!("/v2/library/debian/blobs/{base_config_digest}"),
            None,
            &["-L"],
        )
        .body,
    );
    assert_eq!(
        row.created.unwrap(),
        chrono::DateTime::parse_from_rfc3339(base_config["created"].as_str().unwrap()).unwrap()
    );

    // Without a filter: everything, the cluster's own images too, sorted.
    let all = reg.list(None).await.unwrap();
    assert!(all
        .iter()
        .any(|r| r.repository == repo && r.digest == pushed.digest));
    let debian = all
        .iter()
        .find(|r| r.repository == "library/debian" && r.tag == "bookworm-slim")
        .expect("library/debian:bookworm-slim is listed");
    assert_eq!(
        debian.digest,
        curl(
            "HEAD",
            "/v2/library/debian/manifests/bookworm-slim",
            Some(OCI_ACCEPT),
            &[]
        )
        .headers["docker-content-digest"]
    );
    let keys: Vec<(&str, &str)> = all
        .iter()
        .map(|r| (r.repository.as_str(), r.tag.as_str()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);

    // A filter that names nothing says so.
    let err = reg
        .list(Some("kubernel-test/no-such-repo"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RepositoryNotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn inspect_shows_what_runs_and_what_it_is_made_of() {
    let reg = registry();
    let repo = unique("inspect");
    let layer = job_layer("inspected");
    let pushed = reg
        .build_and_push(BASE, &repo, std::slice::from_ref(&layer), &job_config())
        .await
        .unwrap();

    let by_tag = reg
        .inspect(&format!("{repo}:{}", pushed.tag))
        .await
        .unwrap();
    assert_eq!(by_tag.reference, pushed.reference);
    assert_eq!(by_tag.digest, pushed.digest);
    assert_eq!(by_tag.platform, "linux/amd64");
    assert_eq!(by_tag.entrypoint, ["/app/job"]);
    assert!(
        by_tag.cmd.is_empty(),
        "debian's bash is not the program's argument: {:?}",
        by_tag.cmd
    );
    assert!(
        by_tag.env.contains(&"KUBERNEL_TEST=1".to_string()),
        "{:?}",
        by_tag.env
    );
    assert!(
        by_tag.env.iter().any(|e| e.starts_with("PATH=")),
        "the base's PATH is kept: {:?}",
        by_tag.env
    );
    assert_eq!(by_tag.user.as_deref(), Some("65532:65532"));
    assert_eq!(by_tag.working_dir.as_deref(), Some("/tmp"));
    assert_eq!(by_tag.labels["kubernel.test"], "registry");
    let last = by_tag.layers.last().unwrap();
    assert_eq!(
        (last.digest.as_str(), last.size),
        (layer.digest(), layer.size())
    );
    assert_eq!(last.created_by.as_deref(), Some("kubernel: add /app/job"));
    assert_eq!(
        by_tag.layers[0].digest,
        base_manifest()["layers"][0]["digest"].as_str().unwrap()
    );
    let base = by_tag.base.clone().expect("the base is named");
    assert_eq!(
        base.name.as_deref(),
        Some(format!("{REGISTRY}/{BASE}").as_str())
    );
    assert_eq!(base.digest.as_deref(), Some(pushed.base_digest.as_str()));

    // The digest reference gives the same; so does the free function with the host in it.
    assert_eq!(
        reg.inspect(&format!("{repo}@{}", pushed.digest))
            .await
            .unwrap(),
        by_tag
    );
    assert_eq!(images::inspect(&pushed.reference).await.unwrap(), by_tag);

    // An image this crate did not build: no base annotation, its own history.
    let debian = reg.inspect(BASE).await.unwrap();
    assert!(debian.base.is_none());
    assert_eq!(debian.layers.len(), 1);
}

#[tokio::test]
async fn missing_base_and_missing_image_name_what_exists() {
    let reg = registry();
    let err = reg
        .build_and_push(
            "library/debian:bookwrom",
            &unique("nobase"),
            &[job_layer("x")],
            &job_config(),
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::BaseNotFound { .. }), "{err:?}");
    assert!(
        text.contains("library/debian:bookwrom") && text.contains("bookworm-slim"),
        "{text}"
    );

    let err = reg
        .build_and_push(
            "library/no-such-base",
            &unique("nobase"),
            &[job_layer("x")],
            &job_config(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no repository library/no-such-base"),
        "{err}"
    );

    let err = reg.inspect("library/busybox:nope").await.unwrap_err();
    assert!(
        matches!(&err, Error::ImageNotFound { available, .. } if available.contains(&"latest".to_string())),
        "{err:?}"
    );
    let err = reg.inspect("kubernel-test/never-pushed").await.unwrap_err();
    assert!(matches!(err, Error::RepositoryNotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn unreachable_registry_fails_within_seconds() {
    // A port nobody listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let reg =
        Registry::with_docker_config(&format!("127.0.0.1:{port}"), &work_dir().join("none.json"))
            .unwrap();
    let started = Instant::now();
    let err = reg
        .build_and_push(BASE, &unique("down"), &[job_layer("x")], &job_config())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    let text = err.to_string();
    println!("unreachable: {text}");
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(
        text.contains("http://127.0.0.1:"),
        "says what was tried: {text}"
    );
    assert!(text.to_lowercase().contains("refused"), "{text}");

    let started = Instant::now();
    assert!(matches!(
        reg.list(None).await,
        Err(Error::Unreachable { .. })
    ));
    assert!(matches!(
        reg.inspect("a/b:c").await,
        Err(Error::Unreachable { .. })
    ));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn https_to_a_plain_http_registry_says_so() {
    let reg = Registry::with_docker_config(
        &format!("https://{REGISTRY}"),
        &work_dir().join("none.json"),
    )
    .unwrap();
    assert!(!reg.is_plain_http());
    let err = reg.inspect(BASE).await.unwrap_err();
    let text = err.to_string();
    println!("https to http: {text}");
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert!(text.contains("https://127.0.0.1:5000/v2/"), "{text}");
    assert!(
        text.contains("plain HTTP") && text.contains("http://HOST"),
        "{text}"
    );
}

/// Puts `from`'s manifest for `tag` into `repo` by digest (blobs mounted), for building an index.
fn copy_manifest(from: &str, tag: &str, repo: &str) -> (String, u64) {
    let m = curl(
        "GET",
        &format!("/v2/{from}/manifests/{tag}"),
        Some(OCI_ACCEPT),
        &[],
    );
    assert_eq!(m.status, 200);
    let doc = json(&m.body);
    let blobs = doc["layers"]
        .as_array()
        .unwrap()
        .iter()
        .chain([&doc["config"]]);
    for b in blobs {
        let d = b["digest"].as_str().unwrap();
        let a = curl(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/?mount={d}&from={from}"),
            None,
            &[],
        );
        assert_eq!(a.status, 201, "mount {d} from {from}");
    }
    let digest = sha256(&m.body);
    let body = m.body.clone();
    let path = work_dir().join(format!("{}.json", &digest[7..]));
    std::fs::write(&path, &body).unwrap();
    let put = curl(
        "PUT",
        &format!("/v2/{repo}/manifests/{digest}"),
        None,
        &[
            "-H",
            &format!("Content-Type: {OCI_ACCEPT}"),
            "--data-binary",
            &format!("@{}", path.display()),
        ],
    );
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
    (digest, body.len() as u64)
}

fn put_index(repo: &str, tag: &str, entries: &[(&str, u64, &str)]) -> String {
    let manifests: Vec<serde_json::Value> = entries
        .iter()
        .map(|(digest, size, arch)| {
            serde_json::json!({"mediaType": OCI_ACCEPT, "digest": digest, "size": size,
                               "platform": {"os": "linux", "architecture": arch}})
        })
        .collect();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests
    }))
    .unwrap();
    let path = work_dir().join(format!("index-{tag}.json"));
    std::fs::write(&path, &index).unwrap();
    let put = curl(
        "PUT",
        &format!("/v2/{repo}/manifests/{tag}"),
        None,
        &[
            "-H",
            "Content-Type: application/vnd.oci.image.index.v1+json",
            "--data-binary",
            &format!("@{}", path.display()),
        ],
    );
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
    sha256(&index)
}

#[tokio::test]
async fn an_index_base_resolves_to_linux_amd64() {
    // A multi-platform base: busybox posing as arm64, debian as amd64.
    let base_repo = unique("index-base");
    let (busybox, busybox_size) = copy_manifest("library/busybox", "latest", &base_repo);
    let (debian, debian_size) = copy_manifest("library/debian", "bookworm-slim", &base_repo);
    let index_digest = put_index(
        &base_repo,
        "multi",
        &[
            (&busybox, busybox_size, "arm64"),
            (&debian, debian_size, "amd64"),
        ],
    );
    put_index(&base_repo, "arm-only", &[(&busybox, busybox_size, "arm64")]);

    let reg = registry();
    let repo = unique("on-index");
    let pushed = reg
        .build_and_push(
            &format!("{base_repo}:multi"),
            &repo,
            &[job_layer("on an index")],
            &job_config(),
        )
        .await
        .unwrap();
    assert_eq!(pushed.base_digest, index_digest);
    let info = reg.inspect(&pushed.reference).await.unwrap();
    assert_eq!(
        info.layers[0].digest,
        base_manifest()["layers"][0]["digest"].as_str().unwrap(),
        "debian's layer, not busybox's"
    );
    assert_eq!(
        info.base.unwrap().digest.as_deref(),
        Some(index_digest.as_str())
    );

    // list and inspect of the index itself show the amd64 image.
    let rows = reg.list(Some(&base_repo)).await.unwrap();
    let multi = rows.iter().find(|r| r.tag == "multi").unwrap();
    assert_eq!(multi.digest, index_digest);
    assert!(multi.size > 40_000_000, "debian's size: {}", multi.size);

    let err = reg
        .build_and_push(
            &format!("{base_repo}:arm-only"),
            &repo,
            &[job_layer("x")],
            &job_config(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NoPlatform { available, .. } if available == "linux/arm64"),
        "{err:?}"
    );
}

/// A second registry on a free loopback port that wants a password (Debian's docker-registry
/// with htpasswd), stopped when dropped.
struct AuthRegistry {
    child: std::process::Child,
    host: String,
    dir: PathBuf,
}

impl Drop for AuthRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const TEST_USER: &str = "tester";
const TEST_PASSWORD: &str = "kubernel-test-password";
// bcrypt of TEST_PASSWORD: docker-registry's htpasswd takes bcrypt only.
const TEST_HTPASSWD: &str = "tester:$2b$12$UvVi8o8zwlBu2g2KkC6vv.MizszKFg8zFQSOxo6y7.W9q8VEZDIpi";

fn auth_registry() -> AuthRegistry {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = work_dir().join(format!("auth-registry-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("htpasswd"), format!("{TEST_HTPASSWD}\n")).unwrap();
    std::fs::write(
        dir.join("config.yml"),
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {d}/data\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: kubernel-test\n\
             auth:\n  htpasswd:\n    realm: kubernel-test\n    path: {d}/htpasswd\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(dir.join("config.yml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("Debian's docker-registry is installed (install/cluster installs it)");
    let host = format!("127.0.0.1:{port}");
    let r = AuthRegistry { child, host, dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&r.host).is_err() {
        assert!(Instant::now() < deadline, "the test registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    r
}

fn docker_config(dir: &std::path::Path, host: &str, user: &str, password: &str) -> PathBuf {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let path = dir.join(format!("config-{user}-{}.json", password.len()));
    std::fs::write(
        &path,
        format!(r#"{{"auths": {{"{host}": {{"auth": "{auth}"}}}}}}"#),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn credentials_come_from_the_docker_config() {
    let auth = auth_registry();
    let base = format!("{REGISTRY}/library/busybox:latest");

    // No entry for the host: refused, naming the host and the file, never a secret.
    let empty = auth.dir.join("empty.json");
    std::fs::write(&empty, r#"{"auths": {}}"#).unwrap();
    let reg = Registry::with_docker_config(&auth.host, &empty).unwrap();
    let err = reg.list(None).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, Error::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert!(
        text.contains(&auth.host) && text.contains(&empty.display().to_string()),
        "{text}"
    );
    assert!(text.contains("has no entry"), "{text}");
    println!("unauthorized: {text}");

    // A wrong password: refused, the user named, the password not.
    let wrong = docker_config(&auth.dir, &auth.host, TEST_USER, "not-the-password");
    let reg = Registry::with_docker_config(&auth.host, &wrong).unwrap();
    let err = reg
        .build_and_push(&base, &unique("auth"), &[job_layer("x")], &job_config())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert!(
        text.contains(TEST_USER) && !text.contains("not-the-password"),
        "{text}"
    );
    assert!(!format!("{reg:?}").contains("not-the-password"));

    // The right one: the push works, and the base (on another registry) is copied across.
    let right = docker_config(&auth.dir, &auth.host, TEST_USER, TEST_PASSWORD);
    let reg = Registry::with_docker_config(&auth.host, &right).unwrap();
    let layer = job_layer("behind a password");
    let repo = unique("auth");
    let pushed = reg
        .build_and_push(&base, &repo, std::slice::from_ref(&layer), &job_config())
        .await
        .unwrap();
    let busybox = json(
        &curl(
            "GET",
            "/v2/library/busybox/manifests/latest",
            Some(OCI_ACCEPT),
            &[],
        )
        .body,
    );
    let busybox_layer = busybox["layers"][0]["size"].as_u64().unwrap();
    assert!(
        pushed.bytes_uploaded >= busybox_layer + layer.size(),
        "busybox's layer was copied: {pushed:?}"
    );
    let info = reg
        .inspect(&format!("{repo}:{}", pushed.tag))
        .await
        .unwrap();
    assert_eq!(info.digest, pushed.digest);
    assert_eq!(
        info.layers[0].digest,
        busybox["layers"][0]["digest"].as_str().unwrap()
    );
    let again = reg
        .build_and_push(&base, &repo, &[layer], &job_config())
        .await
        .unwrap();
    assert!(again.reused && again.bytes_uploaded == 0, "{again:?}");
}

/// Runs a pushed image as a pod: what the image is for. Needs the cluster's kubeconfig
/// (`eval "$(install/cluster env)"`).
#[tokio::test]
async fn the_pushed_image_runs_on_the_cluster() {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "KUBECONFIG is not set: eval \"$(install/cluster env)\""
    );
    let reg = registry();
    let repo = unique("runs");
    let pushed = reg
        .build_and_push(BASE, &repo, &[job_layer("hello from a pod")], &job_config())
        .await
        .unwrap();
    let pod = format!("images-test-{}", &pushed.tag[..10]);
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = Command::new("kubectl")
                .args([
                    "delete",
                    "pod",
                    &self.0,
                    "--wait=false",
                    "--ignore-not-found",
                ])
                .output();
        }
    }
    let _cleanup = Cleanup(pod.clone());
    let kubectl = |args: &[&str]| {
        let out = Command::new("kubectl")
            .args(args)
            .output()
            .expect("kubectl runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, text) = kubectl(&[
        "run",
        &pod,
        "--restart=Never",
        &format!("--image={}", pushed.reference),
    ]);
    assert!(ok, "{text}");
    let (ok, text) = kubectl(&[
        "wait",
        &format!("pod/{pod}"),
        "--for=jsonpath={.status.phase}=Succeeded",
        "--timeout=90s",
    ]);
    let (_, describe) = kubectl(&["get", "pod", &pod, "-o", "jsonpath={.status}"]);
    assert!(ok, "{text}\n{describe}");
    let (ok, logs) = kubectl(&["logs", &pod]);
    assert!(ok, "{logs}");
    assert_eq!(logs.trim(), "hello from a pod uid=65532");
}

/// A second, human tag on a pushed image: the same manifest under it (the digest does not
/// change), and nothing sent when the tag names it already.
#[tokio::test]
async fn a_tag_names_the_same_digest() {
    let reg = registry();
    let repo = unique("tagged");
    let pushed = reg
        .build_and_push(BASE, &repo, &[job_layer("tagged")], &job_config())
        .await
        .unwrap();
    assert!(reg.tag(&repo, &pushed.digest, "v1").await.unwrap());
    let a = curl(
        "GET",
        &format!("/v2/{repo}/manifests/v1"),
        Some(OCI_ACCEPT),
        &[],
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["docker-content-digest"], pushed.digest);
    assert_eq!(sha256(&a.body), pushed.digest);
    assert!(
        !reg.tag(&repo, &pushed.digest, "v1").await.unwrap(),
        "the tag was there already: nothing to send"
    );
    let mut tags = reg.tag_names(&repo).await.unwrap();
    tags.sort();
    assert_eq!(tags, [pushed.tag.clone(), "v1".to_string()]);
    assert!(reg.repositories().await.unwrap().contains(&repo));
    // A digest the repository does not have is said so, and no tag is made.
    let missing = format!("sha256:{}", "0".repeat(64));
    let e = reg.tag(&repo, &missing, "v2").await.unwrap_err();
    assert!(matches!(e, Error::ImageNotFound { .. }), "{e:?}");
    assert_eq!(
        curl("GET", &format!("/v2/{repo}/manifests/v2"), Some(OCI_ACCEPT), &[]).status,
        404
    );
}
