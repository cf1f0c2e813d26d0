//! A notebook cell made into a program for the cluster: the cell's body, with every item the
//! notebook has defined and its `:dep` dependencies at the notebook's versions, compiled on this
//! machine into a static binary (`x86_64-unknown-linux-musl`) that carries all it needs.
//!
//! One cargo workspace per dependency set and one target folder for all of them, kept in the
//! cache, so that an edited body rebuilds only itself; an unchanged cell is not built again.

pub mod compile_errors;
pub mod runtime_source;

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

pub use compile_errors::CompileError;

pub const TARGET: &str = "x86_64-unknown-linux-musl";
/// The program's crate name: its items appear as `kubernel_job::Item` in type names.
pub const CRATE: &str = "kubernel_job";

/// What a cell's program is made of.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    /// The notebook's items, as Rust source.
    pub items: String,
    /// `[dependencies]` entries: name and the value side of its TOML line.
    pub dependencies: Vec<(String, String)>,
    pub cargo_lock: Option<String>,
    pub body: String,
    /// The cell line the body starts on (1-based), for compile errors.
    pub body_line: usize,
    /// Whether its pmap goes over the network (a connected job, a ReplicaSet's workers): the
    /// runtime's `net` feature, which makes the binary about four times larger.
    pub net: bool,
}

impl Cell {
    /// Whether the program uses `kubernel::metrics` (the runtime's `metrics` feature, and a
    /// `metrics` port on its pods for Prometheus to scrape).
    pub fn uses_metrics(&self) -> bool {
        self.body.contains("kubernel::metrics") || self.items.contains("kubernel::metrics")
    }
}

/// What the body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A job's body: the value of its last expression is the pod's result.
    Job,
    /// The body of `main`: a long-running program (a service).
    Main,
}

#[derive(Debug, Clone)]
pub struct Program {
    pub binary: Vec<u8>,
    /// The hash of everything the binary is made from.
    pub hash: String,
    /// The hash of the dependency set (Cargo.toml and Cargo.lock).
    pub lock_hash: String,
    /// Crates compiled by this build (none: nothing had changed).
    pub compiled: Vec<String>,
    /// The line of src/main.rs where the cell's body starts (for panics' locations).
    pub body_start: usize,
    pub took: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Toolchain(String),
    #[error("{}", render(.0))]
    Compile(Vec<CompileError>),
    #[error("cargo failed: {0}")]
    Cargo(String),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
}

fn render(errors: &[CompileError]) -> String {
    errors.iter().map(|e| e.rendered.trim_end().to_string()).collect::<Vec<_>>().join("\n\n")
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let what = what.into();
    move |source| BuildError::Io { what, source }
}

/// Builds programs under one cache folder.
#[derive(Debug, Clone)]
pub struct Builder {
    root: PathBuf,
}

/// Builds in this process one at a time: they share a target folder, and the binary is read
/// back from it.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Builder {
    pub fn new(root: impl Into<PathBuf>) -> Builder {
        Builder { root: root.into() }
    }

    /// `$KUBERNEL_CACHE/programs`, or `~/.cache/kubernel/programs`.
    pub fn default_root() -> PathBuf {
        let cache = std::env::var_os("KUBERNEL_CACHE").map(PathBuf::from).unwrap_or_else(|| {
            std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir).join(".cache/kubernel")
        });
        cache.join("programs")
    }

    /// The runtime crate's folder (written out if needed), for `:dep kubernel`.
    pub fn runtime_dir(&self) -> Result<PathBuf, BuildError> {
        std::fs::create_dir_all(&self.root).map_err(io(format!("cannot make {}", self.root.display())))?;
        runtime_source::write_out(&self.root).map_err(io("cannot write out the kubernel runtime crate"))
    }

    /// Compiles the cell; `progress` hears what cargo is doing ("compiling serde", ...).
    pub async fn build(&self, cell: &Cell, shape: Shape, mut progress: impl FnMut(&str)) -> Result<Program, BuildError> {
        let started = Instant::now();
        let runtime = self.runtime_dir()?;
        let manifest = manifest(cell, &runtime);
        let lock_hash = short_hash(&[manifest.as_bytes(), cell.cargo_lock.as_deref().unwrap_or("").as_bytes()]);
        let (main, body_start) = main_source(cell, shape);
        let hash = short_hash(&[lock_hash.as_bytes(), main.as_bytes()]);
        let kept = self.root.join("bin").join(&hash);
        if let Ok(binary) = std::fs::read(&kept) {
            return Ok(Program { binary, hash, lock_hash, compiled: Vec::new(), body_start, took: started.elapsed() });
        }
        let _one = ONE_AT_A_TIME.lock().await;
        let dir = self.root.join(format!("deps-{lock_hash}"));
        std::fs::create_dir_all(dir.join("src")).map_err(io(format!("cannot make {}", dir.display())))?;
        write_if_changed(&dir.join("Cargo.toml"), &manifest)?;
        // The notebook's resolved versions, taken once: cargo adds the runtime to it after.
        if let (Some(lock), false) = (&cell.cargo_lock, dir.join("Cargo.lock").exists()) {
            std::fs::write(dir.join("Cargo.lock"), lock).map_err(io("cannot write Cargo.lock"))?;
        }
        write_if_changed(&dir.join("src/main.rs"), &main)?;
        let target_dir = self.root.join("target");
        let mut command = tokio::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        command
            .args(["build", "--release", "--message-format=json", "--target", TARGET])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", &target_dir)
            .env("CARGO_TERM_COLOR", "never")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Crates with C parts (ring, ...) compile with musl's gcc when Debian's musl-tools is there.
        if Path::new("/usr/bin/musl-gcc").exists() {
            command.env("CC_x86_64_unknown_linux_musl", "musl-gcc");
        }
        let mut child = command.spawn().map_err(io("cannot run cargo"))?;
        let stderr = child.stderr.take().expect("piped");
        let stderr_task = tokio::spawn(async move {
            let mut text = String::new();
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut compiled = Vec::new();
        let mut errors = Vec::new();
        let mut binary_path: Option<PathBuf> = None;
        while let Some(line) = lines.next_line().await.map_err(io("cannot read cargo's output"))? {
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            match msg["reason"].as_str() {
                Some("compiler-artifact") => {
                    let name = msg["target"]["name"].as_str().unwrap_or_default().to_string();
                    if msg["fresh"] == false {
                        progress(&format!("compiled {name}"));
                        compiled.push(name.clone());
                    }
                    if name == CRATE {
                        binary_path = msg["executable"].as_str().map(PathBuf::from);
                    }
                }
                Some("compiler-message") if msg["message"]["level"] == "error" => {
                    let ours = msg["target"]["name"] == CRATE;
                    errors.push(compile_errors::from_rustc(&msg["message"], ours.then_some((body_start, cell))));
                }
                _ => {}
            }
        }
        let status = child.wait().await.map_err(io("cargo did not finish"))?;
        let stderr = stderr_task.await.unwrap_or_default();
        if !status.success() {
            if stderr.contains("target may not be installed") || stderr.contains("can't find crate for `std`") {
                return Err(BuildError::Toolchain(format!(
                    "the {TARGET} target is not installed: run `rustup target add {TARGET}` (install/setup does it)"
                )));
            }
            if !errors.is_empty() {
                return Err(BuildError::Compile(errors));
            }
            let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            let tail = tail[tail.len().saturating_sub(8)..].join("\n");
            return Err(BuildError::Cargo(tail));
        }
        let path = binary_path.unwrap_or_else(|| target_dir.join(TARGET).join("release").join(CRATE));
        let binary = std::fs::read(&path).map_err(io(format!("cannot read {}", path.display())))?;
        // Kept by hash: the same cell again is not even handed to cargo.
        if std::fs::create_dir_all(kept.parent().expect("bin folder")).is_ok() {
            let part = kept.with_extension(format!("part-{}", std::process::id()));
            if std::fs::write(&part, &binary).is_ok() {
                let _ = std::fs::rename(&part, &kept);
            }
        }
        Ok(Program { binary, hash, lock_hash, compiled, body_start, took: started.elapsed() })
    }
}

/// The program's Cargo.toml: the notebook's dependencies, the runtime, and serde for the result.
fn manifest(cell: &Cell, runtime: &Path) -> String {
    let mut deps = String::new();
    let has = |name: &str| cell.dependencies.iter().any(|(n, _)| n == name);
    // With `net` only where pmap goes over the network: the rest build and push less.
    let mut wanted = Vec::new();
    if cell.net {
        wanted.push("\"net\"");
    }
    if cell.uses_metrics() {
        wanted.push("\"metrics\"");
    }
    let features = if wanted.is_empty() { String::new() } else { format!(", features = [{}]", wanted.join(", ")) };
    deps.push_str(&format!("kubernel = {{ path = {:?}{features} }}\n", runtime.to_string_lossy()));
    if !has("serde") {
        deps.push_str("serde = \"1\"\n");
    }
    if !has("serde_json") {
        deps.push_str("serde_json = \"1\"\n");
    }
    for (name, spec) in &cell.dependencies {
        if name != "kubernel" {
            deps.push_str(&format!("{name} = {spec}\n"));
        }
    }
    format!(
        "[package]\nname = \"{CRATE}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\n{deps}\n\
         # Small and quick to rebuild: the body changes, the dependencies stay built.\n\
         [profile.release]\nopt-level = 3\ndebug = false\nstrip = true\nincremental = true\ncodegen-units = 16\n\n\
         [workspace]\n"
    )
}

/// The program's main.rs, and the line of it where the body starts.
fn main_source(cell: &Cell, shape: Shape) -> (String, usize) {
    let mut src = String::from("#![allow(unused, dead_code, unused_imports, non_snake_case)]\n");
    src.push_str(&cell.items);
    if !cell.items.ends_with('\n') && !cell.items.is_empty() {
        src.push('\n');
    }
    let (open, close) = match shape {
        Shape::Job => ("fn main() {\n::kubernel::job::main(|| {\n", "\n});\n}\n"),
        Shape::Main => ("fn main() {\n", "\n}\n"),
    };
    src.push_str(open);
    let body_start = src.lines().count() + 1;
    src.push_str(cell.body.trim_end());
    src.push_str(close);
    (src, body_start)
}

fn write_if_changed(path: &Path, text: &str) -> Result<(), BuildError> {
    // An unchanged file keeps its time, so cargo sees nothing to do.
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    std::fs::write(path, text).map_err(io(format!("cannot write {}", path.display())))
}

fn short_hash(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())[..16].to_string()
}

/// `src/main.rs:LINE:COL` of a panic as the cell's line and column, when it is in the body.
pub fn cell_location(location: &str, body_start: usize, cell: &Cell) -> Option<(usize, usize)> {
    let rest = location.strip_prefix("src/main.rs:")?;
    let (line, column) = rest.split_once(':')?;
    let (line, column): (usize, usize) = (line.parse().ok()?, column.trim_end_matches(':').parse().ok()?);
    let lines = cell.body.trim_end().lines().count().max(1);
    (body_start..body_start + lines).contains(&line).then(|| (line - body_start + cell.body_line, column))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_locations_on_the_cells_lines() {
        let cell = Cell { body: "let a = 1;\npanic!()".into(), body_line: 2, ..Cell::default() };
        assert_eq!(cell_location("src/main.rs:9:5", 8, &cell), Some((3, 5)));
        assert_eq!(cell_location("src/main.rs:2:1", 8, &cell), None);
    }

    #[test]
    fn the_body_is_wrapped_and_its_line_known() {
        let cell = Cell { items: "fn sq(x: u64) -> u64 { x * x }\n".into(), body: "let n = 3;\nsq(n)".into(), body_line: 2, ..Cell::default() };
        let (src, start) = main_source(&cell, Shape::Job);
        assert_eq!(src.lines().nth(start - 1), Some("let n = 3;"));
        assert!(src.contains("::kubernel::job::main(|| {\nlet n = 3;\nsq(n)\n});"));
        let (src, start) = main_source(&cell, Shape::Main);
        assert_eq!(src.lines().nth(start - 1), Some("let n = 3;"));
        assert!(!src.contains("job::main"));
    }

    #[test]
    fn the_notebook_dependencies_are_kept_once() {
        let cell = Cell { dependencies: vec![("serde".into(), "{ version = \"1\", features = [\"derive\"] }".into()), ("rayon".into(), "\"1\"".into())], ..Cell::default() };
        let m = manifest(&cell, Path::new("/x/runtime"));
        assert_eq!(m.matches("\nserde =").count(), 1, "{m}");
        assert!(m.contains("serde = { version = \"1\", features = [\"derive\"] }\n") && m.contains("rayon = \"1\"\n"));
        assert!(m.contains("serde_json = \"1\"\n") && m.contains("kubernel = { path = \"/x/runtime\" }\n"), "{m}");
        let m = manifest(&Cell { net: true, ..cell }, Path::new("/x/runtime"));
        assert!(m.contains("kubernel = { path = \"/x/runtime\", features = [\"net\"] }\n"), "{m}");
    }
}
