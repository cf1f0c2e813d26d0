//! The kernel's side of `magics::Notebook`: magics read what the notebook has defined (kept by
//! the evcxr worker after each successful cell) and put values into its variables.
//!
//! A value is bound by running a small cell through the worker, so it queues behind the user's
//! cells and is interrupted like one. The JSON goes through a file: it can be megabytes, and as
//! source it would be compiled.

use super::evcxr_worker::{EvcxrWorker, Origin, RustOutcome};
use crate::interpreter::ErrorInfo;
use magics::{MagicFuture, Notebook, Snapshot};
use output::{NoInput, OutputSink, RecordingSink};
use ra_ap_syntax::ast::{self, HasName};
use ra_ap_syntax::{AstNode, Edition, SourceFile};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Starts the panic messages of a bind, so that they can be told from others.
const PANIC_PREFIX: &str = "kubernel bind: ";

pub struct EvcxrNotebook {
    worker: EvcxrWorker,
}

impl EvcxrNotebook {
    pub fn new(worker: EvcxrWorker) -> Self {
        Self { worker }
    }
}

impl Notebook for EvcxrNotebook {
    fn snapshot(&self) -> Snapshot {
        self.worker.snapshot()
    }

    fn bind<'a>(&'a self, name: &'a str, type_name: &'a str, json: String) -> MagicFuture<'a, Result<(), String>> {
        Box::pin(async move {
            check_binding(name, type_name)?;
            let file = ValueFile::write(json).await.map_err(|e| format!("cannot bind `{name}`: cannot write the value: {e}"))?;
            let has_serde_json = self.worker.snapshot().dependencies.iter().any(|d| d.name == "serde_json");
            let code = bind_code(name, type_name, file.path(), !has_serde_json);
            // Its output (none unless it fails) is not the user's: keep it out of the cell.
            let sink: Arc<dyn OutputSink> = Arc::new(RecordingSink::default());
            let origin = Origin::Kernel { holds: Box::new(file) };
            match self.worker.execute(code, 1, sink, Arc::new(NoInput), origin).await {
                RustOutcome::Ran { .. } => Ok(()),
                RustOutcome::Failed(error) => Err(bind_error(name, type_name, &error)),
            }
        })
    }
}

/// Refuses a name that is not a plain identifier or a type that is not one Rust type, so that
/// neither can carry other code into the cell.
pub fn check_binding(name: &str, type_name: &str) -> Result<(), String> {
    let name_ok = parse_let(name, "u8").is_some_and(|stmt| match stmt.pat() {
        Some(ast::Pat::IdentPat(pat)) => {
            pat.mut_token().is_none() && pat.ref_token().is_none() && pat.pat().is_none() && pat.name().is_some_and(|n| n.text() == name)
        }
        _ => false,
    });
    if !name_ok {
        return Err(format!("cannot bind `{name}`: it is not a Rust variable name"));
    }
    let type_ok = parse_let("x", type_name).and_then(|stmt| stmt.ty()).is_some_and(|ty| ty.syntax().text() == type_name.trim());
    if !type_ok {
        return Err(format!("cannot bind `{name}`: `{type_name}` is not a Rust type"));
    }
    Ok(())
}

/// `let {pat}: {ty};` parsed, if it parses without errors.
fn parse_let(pat: &str, ty: &str) -> Option<ast::LetStmt> {
    let parse = SourceFile::parse(&format!("fn f() {{ let {pat}: {ty}; }}"), Edition::Edition2024);
    if !parse.errors().is_empty() {
        return None;
    }
    let stmts: Vec<ast::LetStmt> = parse.tree().syntax().descendants().filter_map(ast::LetStmt::cast).collect();
    match <[ast::LetStmt; 1]>::try_from(stmts) {
        Ok([stmt]) => Some(stmt),
        Err(_) => None,
    }
}

/// The cell that binds the value: it reads the file and deserializes it, and panics (which keeps
/// the notebook's other variables) with a message saying which step failed.
pub fn bind_code(name: &str, type_name: &str, path: &Path, add_serde_json: bool) -> String {
    let type_name = type_name.trim();
    let path = format!("{:?}", path.to_string_lossy());
    let shown = format!("{type_name:?}");
    let dep = if add_serde_json { ":dep serde_json = \"1\"\n" } else { "" };
    format!(
        "{dep}let {name}: {type_name} = match ::std::fs::read_to_string({path}) {{\n    \
         Ok(text) => match ::serde_json::from_str::<{type_name}>(&text) {{\n        \
         Ok(value) => value,\n        \
         Err(error) => panic!(\"{PANIC_PREFIX}the JSON does not fit `{{}}`: {{}}\", {shown}, error),\n    \
         }},\n    \
         Err(error) => panic!(\"{PANIC_PREFIX}cannot read the value: {{}}\", error),\n\
         }};"
    )
}

/// A short message naming the cause of a failed bind.
fn bind_error(name: &str, type_name: &str, error: &ErrorInfo) -> String {
    let cause = match error.ename.as_str() {
        "Panic" => match error.evalue.find(PANIC_PREFIX) {
            Some(at) => error.evalue[at + PANIC_PREFIX.len()..].to_string(),
            None => error.evalue.clone(),
        },
        "CompileError" => {
            let headline = error.evalue.as_str();
            if headline.contains("Deserialize") {
                format!("`{type_name}` does not implement serde's Deserialize (derive it with `#[derive(serde::Deserialize)]`): {headline}")
            } else {
                headline.to_string()
            }
        }
        _ => error.evalue.clone(),
    };
    format!("cannot bind `{name}`: {cause}")
}

/// The JSON of one bind, in a file of its own; removed when dropped.
struct ValueFile {
    path: PathBuf,
}

impl ValueFile {
    async fn write(json: String) -> std::io::Result<ValueFile> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("kubernel-bind-{}-{n}.json", std::process::id()));
        let file = ValueFile { path };
        let target = file.path.clone();
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            // Values can be private (a cluster's secrets): only this user reads them.
            let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&target)?;
            out.write_all(json.as_bytes())
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(file)
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ValueFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_and_types_pass() {
        for (name, ty) in [("xs", "Vec<u64>"), ("config", "Config"), ("m", "std::collections::HashMap<String, Vec<(u8, f64)>>"), ("_v", "Option<[u8; 4]>")] {
            assert_eq!(check_binding(name, ty), Ok(()), "{name}: {ty}");
        }
    }

    #[test]
    fn code_cannot_ride_in_a_name_or_type() {
        assert!(check_binding("x = 1; std::process::exit(1); let y", "u8").unwrap_err().contains("variable name"));
        assert!(check_binding("mut x", "u8").is_err());
        assert!(check_binding("fn", "u8").unwrap_err().contains("variable name"));
        assert!(check_binding("x", "u8 = 1; evil(); let y: u8").unwrap_err().contains("not a Rust type"));
        assert!(check_binding("x", "").is_err());
    }

    #[test]
    fn the_code_reads_the_file_and_adds_serde_json_only_when_asked() {
        let code = bind_code("xs", "Vec<u64>", Path::new("/tmp/v \"1\".json"), true);
        assert!(code.starts_with(":dep serde_json = \"1\"\nlet xs: Vec<u64> = "), "{code}");
        assert!(code.contains(r#"read_to_string("/tmp/v \"1\".json")"#), "{code}");
        assert!(code.contains("from_str::<Vec<u64>>"), "{code}");
        assert!(!bind_code("xs", "Vec<u64>", Path::new("/tmp/v.json"), false).contains(":dep"));
        // The whole binding is one statement: only `xs` becomes a variable of the notebook.
        let body = bind_code("xs", "Vec<u64>", Path::new("/tmp/v.json"), false);
        let parse = SourceFile::parse(&format!("fn f() {{ {body} }}"), Edition::Edition2024);
        assert!(parse.errors().is_empty(), "{:?}", parse.errors());
        let lets = parse.tree().syntax().descendants().filter_map(ast::LetStmt::cast).count();
        assert_eq!(lets, 1);
    }

    #[test]
    fn errors_name_the_cause() {
        let panic = ErrorInfo::new("Panic", "kubernel bind: the JSON does not fit `Vec<u64>`: invalid type: string \"a\"");
        assert_eq!(bind_error("xs", "Vec<u64>", &panic), "cannot bind `xs`: the JSON does not fit `Vec<u64>`: invalid type: string \"a\"");
        let compile = ErrorInfo::new("CompileError", "error[E0277]: the trait bound `Plain: serde::Deserialize<'de>` is not satisfied");
        let message = bind_error("p", "Plain", &compile);
        assert!(message.starts_with("cannot bind `p`: `Plain` does not implement serde's Deserialize"), "{message}");
    }

    /// The tests below drive the real evcxr worker. evcxr runs user code in a child that is this
    /// same executable, and here `main` is the test harness's, which never calls
    /// `runtime_hook`: so it is called before `main`, from `.init_array`, as `main.rs` would.
    #[used]
    #[link_section = ".init_array"]
    static EVCXR_CHILD_HOOK: extern "C" fn() = evcxr_child_hook;

    extern "C" fn evcxr_child_hook() {
        crate::child_output::enable_in_evcxr_child();
        evcxr::runtime_hook();
    }

    async fn cell(worker: &EvcxrWorker, code: &str) -> Result<Option<String>, ErrorInfo> {
        let sink: Arc<dyn OutputSink> = Arc::new(RecordingSink::default());
        match worker.execute(code.to_string(), 1, sink, Arc::new(NoInput), Origin::Cell).await {
            RustOutcome::Ran { bundle, .. } => Ok(bundle.and_then(|b| b.text().map(str::to_string))),
            RustOutcome::Failed(error) => Err(error),
        }
    }

    async fn value(worker: &EvcxrWorker, code: &str) -> String {
        match cell(worker, code).await {
            Ok(Some(text)) => text,
            Ok(None) => panic!("`{code}` showed nothing"),
            Err(error) => panic!("`{code}` failed: {}: {}\n{}", error.ename, error.evalue, error.traceback.join("\n")),
        }
    }

    #[test]
    fn bind_through_the_real_evcxr_worker() {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let worker = EvcxrWorker::start();
            let notebook = Arc::new(EvcxrNotebook::new(worker.clone()));

            // A std type, from a value of about 10 MB; serde_json is added for it.
            let n: u64 = 1_500_000;
            let json = serde_json::to_string(&(0..n).collect::<Vec<u64>>()).unwrap();
            assert!(json.len() > 10_000_000);
            notebook.bind("xs", "Vec<u64>", json).await.unwrap();
            assert_eq!(value(&worker, "xs.iter().sum::<u64>()").await, (n * (n - 1) / 2).to_string());
            let snapshot = notebook.snapshot();
            assert!(snapshot.dependencies.iter().any(|d| d.name == "serde_json"), "{snapshot:?}");
            assert_eq!(snapshot.cells, 1, "binding is not a cell of the user's");

            // A struct of the notebook that derives serde's traits.
            cell(&worker, ":dep serde = { version = \"1\", features = [\"derive\"] }\n#[derive(Debug, serde::Serialize, serde::Deserialize)]\npub struct Config {\n    pub name: String,\n    pub replicas: u32,\n}\nstruct Plain {\n    a: u8,\n}")
                .await
                .unwrap();
            notebook.bind("config", "Config", r#"{"name": "web", "replicas": 3}"#.into()).await.unwrap();
            assert_eq!(value(&worker, "format!(\"{} {}\", config.name, config.replicas * 2)").await, "\"web 6\"");

            // Failures say why, and keep the variables there were.
            let error = notebook.bind("p", "Plain", "{\"a\": 1}".into()).await.unwrap_err();
            assert!(error.starts_with("cannot bind `p`: `Plain` does not implement serde's Deserialize"), "{error}");
            let error = notebook.bind("bad", "Vec<u64>", r#"["a"]"#.into()).await.unwrap_err();
            assert!(error.starts_with("cannot bind `bad`: the JSON does not fit `Vec<u64>`: invalid type: string"), "{error}");
            let error = notebook.bind("c2", "Nowhere", "1".into()).await.unwrap_err();
            assert!(error.contains("Nowhere"), "{error}");
            assert!(notebook.bind("x; y", "u8", "1".into()).await.is_err());
            assert_eq!(value(&worker, "xs.len() + config.name.len()").await, (n + 3).to_string());

            // The snapshot: each item once, no wrapper, the deps and their lock.
            let snapshot = notebook.snapshot();
            assert_eq!(snapshot.items.matches("pub struct Config").count(), 1, "{}", snapshot.items);
            assert!(snapshot.items.contains("struct Plain"), "{}", snapshot.items);
            for wrapper in ["run_user_code_", "evcxr_internal_runtime", "EvcxrUserCodeError", "KubernelValue", "kubernel bind"] {
                assert!(!snapshot.items.contains(wrapper), "`{wrapper}` in:\n{}", snapshot.items);
            }
            let names: Vec<&str> = snapshot.dependencies.iter().map(|d| d.name.as_str()).collect();
            assert_eq!(names, ["serde", "serde_json"]);
            assert!(snapshot.cargo_lock.as_deref().is_some_and(|l| l.contains("name = \"serde_derive\"")));

            // Neither completion nor a failed compile (both rewrite lib.rs) changes it.
            let partial = "fn half_typed(x: u8) -> Config { conf";
            let _ = worker.complete(partial.into(), partial.len()).await;
            assert!(cell(&worker, "fn broken() -> u8 { \"x\" }").await.is_err());
            assert!(cell(&worker, ":vars").await.is_ok());
            let after = notebook.snapshot();
            assert_eq!(after.items, snapshot.items);
            assert!(!after.items.contains("half_typed") && !after.items.contains("broken"));

            // Interrupting a bind is interrupting a cell: it stops, and the session goes on.
            cell(&worker, "pub struct Slow(u64);\nimpl<'de> serde::Deserialize<'de> for Slow {\n    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {\n        std::thread::sleep(std::time::Duration::from_secs(60));\n        u64::deserialize(d).map(Slow)\n    }\n}")
                .await
                .unwrap();
            let started = std::time::Instant::now();
            let slow = tokio::spawn({
                let notebook = notebook.clone();
                async move { notebook.bind("slow", "Slow", "1".into()).await }
            });
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            worker.interrupt();
            let error = slow.await.unwrap().unwrap_err();
            assert!(error.contains("interrupted"), "{error}");
            assert!(started.elapsed() < std::time::Duration::from_secs(30));
            notebook.bind("again", "Vec<u8>", "[1, 2]".into()).await.unwrap();
            assert_eq!(value(&worker, "again.len()").await, "2");
            worker.kill_child();
        });
    }
}
