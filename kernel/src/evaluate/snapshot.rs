//! What the notebook has defined, read from evcxr's build folder right after a successful cell.
//!
//! evcxr keeps the notebook's items in private state; the only public view of them is the
//! `src/lib.rs` it writes for each compile, which also holds its own wrappers and lists the items
//! in hash-map order, not the order of the cells. So the items are parsed out of that file, the
//! wrappers dropped, and their order kept here from cell to cell. The file must be read at once:
//! completion, hover and failed compiles rewrite it.

use magics::{Dependency, Snapshot};
use ra_ap_syntax::ast::{self, HasModuleItem, HasName};
use ra_ap_syntax::{AstNode, Edition, SourceFile};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One top-level item of the notebook, as its source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub text: String,
    /// The name evcxr keys it by (a redefinition of the name replaces it); None for impls,
    /// glob imports and macro calls.
    pub name: Option<String>,
}

/// The items of a `src/lib.rs` that evcxr generated, in its order, without evcxr's own code.
pub fn user_items(lib_rs: &str) -> Vec<Item> {
    let file = SourceFile::parse(lib_rs, Edition::Edition2024).tree();
    let mut items: Vec<Item> = Vec::new();
    for item in file.items() {
        if is_evcxr_wrapper(&item) {
            continue;
        }
        let text = item.syntax().text().to_string();
        // A glob import is stored again each time its cell runs; once is enough.
        if matches!(item, ast::Item::Use(_)) && items.iter().any(|seen| seen.text == text) {
            continue;
        }
        items.push(Item { name: item_name(&item), text });
    }
    items
}

/// Whether lib.rs was written for analysis (completion, hover) rather than to run a cell.
pub fn is_analysis_source(lib_rs: &str) -> bool {
    lib_rs.contains("fn evcxr_analysis_wrapper(")
}

fn is_evcxr_wrapper(item: &ast::Item) -> bool {
    let named = |name: Option<ast::Name>, test: &dyn Fn(&str) -> bool| name.is_some_and(|n| test(n.text()));
    match item {
        ast::Item::Fn(f) => named(f.name(), &|n| {
            n.starts_with("run_user_code_") || n == "evcxr_analysis_wrapper" || n == "evcxr_variable_store"
        }),
        ast::Item::Module(m) => named(m.name(), &|n| n == "evcxr_internal_runtime"),
        ast::Item::Struct(s) => named(s.name(), &|n| n == "EvcxrUserCodeError"),
        ast::Item::Impl(i) => i.self_ty().is_some_and(|t| t.syntax().text() == "EvcxrUserCodeError"),
        _ => false,
    }
}

/// The name under which evcxr stores an item, so that a later definition replaces it.
fn item_name(item: &ast::Item) -> Option<String> {
    let name = match item {
        ast::Item::Const(i) => i.name(),
        ast::Item::Enum(i) => i.name(),
        ast::Item::Fn(i) => i.name(),
        ast::Item::MacroRules(i) => i.name(),
        ast::Item::MacroDef(i) => i.name(),
        ast::Item::Module(i) => i.name(),
        ast::Item::Static(i) => i.name(),
        ast::Item::Struct(i) => i.name(),
        ast::Item::Trait(i) => i.name(),
        ast::Item::TypeAlias(i) => i.name(),
        ast::Item::Union(i) => i.name(),
        ast::Item::Use(u) => return use_name(u),
        ast::Item::ExternCrate(e) => {
            return e.rename().and_then(|r| r.name()).map(|n| n.text().to_string())
                .or_else(|| e.name_ref().map(|n| n.text().to_string()))
        }
        _ => None,
    };
    name.map(|n| n.text().to_string())
}

/// evcxr splits `use a::{b, c as d}` into one `use` per name: `b`, `d`. Globs and `as _` have none.
fn use_name(item: &ast::Use) -> Option<String> {
    let tree = item.use_tree()?;
    if tree.use_tree_list().is_some() || tree.star_token().is_some() {
        return None;
    }
    if let Some(rename) = tree.rename() {
        return rename.name().map(|n| n.text().to_string());
    }
    let segment = tree.path()?.segment()?;
    segment.name_ref().map(|n| n.text().to_string())
}

/// The notebook's items in the order the cells defined them. A redefined item keeps the place
/// of the first definition (a `macro_rules!` must come before the code that uses it); the impls
/// that follow it in its cell go with it.
#[derive(Debug, Default, Clone)]
pub struct ItemOrder {
    items: Vec<Item>,
}

impl ItemOrder {
    pub fn source(&self) -> String {
        let mut out = String::new();
        for item in &self.items {
            out.push_str(item.text.trim_end());
            out.push('\n');
        }
        out
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// Takes the items evcxr compiled after `cell` ran (in any order): those known before keep
    /// their place, the rest come in the order they appear in the cell.
    pub fn update(&mut self, current: Vec<Item>, cell: &str) {
        let mut pool: Vec<Option<Item>> = current.into_iter().map(Some).collect();
        let mut take = |text: &str| -> Option<Item> {
            pool.iter_mut().find(|slot| slot.as_ref().is_some_and(|i| i.text == text)).and_then(Option::take)
        };
        // Each old item, kept if evcxr still has it; a removed one leaves its name as a free place.
        let mut places: Vec<(Option<Item>, Vec<Item>)> = Vec::new();
        let mut free: HashMap<String, usize> = HashMap::new();
        for old in self.items.drain(..) {
            match take(&old.text) {
                Some(kept) => places.push((Some(kept), Vec::new())),
                None => {
                    if let Some(name) = old.name {
                        free.entry(name).or_insert(places.len());
                    }
                    places.push((None, Vec::new()));
                }
            }
        }
        let mut fresh: Vec<Item> = pool.into_iter().flatten().collect();
        // Split `use` lines are not in the cell as written; uses go first, where cells have them.
        fresh.sort_by_key(|item| cell.find(item.text.trim()).unwrap_or(0));
        let mut tail: Vec<Item> = Vec::new();
        let mut after: Option<usize> = None;
        for item in fresh {
            match item.name.as_ref().and_then(|name| free.remove(name)) {
                Some(place) => {
                    places[place].0 = Some(item);
                    after = Some(place);
                }
                None if item.name.is_some() => {
                    tail.push(item);
                    after = None;
                }
                None => match after {
                    Some(place) => places[place].1.push(item),
                    None => tail.push(item),
                },
            }
        }
        self.items = places.into_iter().flat_map(|(item, next)| item.into_iter().chain(next)).chain(tail).collect();
    }
}

/// The `[dependencies]` entries of the Cargo.toml evcxr writes: one `name = value` line each,
/// the value exactly as the `:dep` line gave it. Sorted by name: evcxr writes them in hash order.
pub fn dependencies(cargo_toml: &str) -> Vec<Dependency> {
    let mut deps = Vec::new();
    let mut inside = false;
    for line in cargo_toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[dependencies]";
            continue;
        }
        if !inside || line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((name, spec)) = line.split_once('=') {
            let name = name.trim().trim_matches('"');
            deps.push(Dependency { name: name.to_string(), spec: spec.trim().to_string() });
        }
    }
    deps.sort_by(|a, b| a.name.cmp(&b.name));
    deps
}

/// Keeps the snapshot up to date from evcxr's build folder. Lives on the evcxr thread.
pub struct Recorder {
    dir: Option<PathBuf>,
    order: ItemOrder,
    lib_modified: Option<SystemTime>,
}

impl Recorder {
    /// `dir` is evcxr's build folder (what `:last_compile_dir` prints), if it could be had.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir, order: ItemOrder::default(), lib_modified: None }
    }

    fn lib_rs(&self) -> Option<PathBuf> {
        Some(self.dir.as_ref()?.join("src").join("lib.rs"))
    }

    /// Called before each cell: a lib.rs that changes during the cell was written by its compile.
    pub fn before_cell(&mut self) {
        self.lib_modified = self.lib_rs().and_then(|p| modified(&p));
    }

    /// Called after a cell evcxr ran and kept: updates `snapshot` from the build folder.
    /// `count` is false for the kernel's own cells (bind, user expressions).
    pub fn after_cell(&mut self, cell: &str, snapshot: &mut Snapshot, count: bool) {
        if count {
            snapshot.cells += 1;
        }
        let (Some(dir), Some(lib)) = (self.dir.clone(), self.lib_rs()) else { return };
        let compiled = modified(&lib).is_some_and(|now| Some(now) != self.lib_modified);
        if !compiled {
            // Nothing was compiled (only commands ran): the items stand, unless they were cleared.
            if cell.lines().any(|l| l.trim() == ":clear") {
                self.order.clear();
                snapshot.items.clear();
                snapshot.dependencies.clear();
                snapshot.cargo_lock = None;
            }
            return;
        }
        let Ok(source) = std::fs::read_to_string(&lib) else { return };
        if is_analysis_source(&source) {
            return;
        }
        self.order.update(user_items(&source), cell);
        snapshot.items = self.order.source();
        if let Ok(toml) = std::fs::read_to_string(dir.join("Cargo.toml")) {
            snapshot.dependencies = dependencies(&toml);
        }
        snapshot.cargo_lock = if snapshot.dependencies.is_empty() {
            None
        } else {
            std::fs::read_to_string(dir.join("Cargo.lock")).ok()
        };
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    //! The fixtures are the `src/lib.rs` evcxr wrote after each cell of real sessions run
    //! through the kernel (testdata/README.md), with the cells that made them.

    use super::*;

    fn session(name: &str) -> Vec<(String, String)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/evaluate/testdata").join(name);
        let mut cells = Vec::new();
        for n in 1.. {
            let Ok(cell) = std::fs::read_to_string(dir.join(format!("{n:02}-cell.txt"))) else { break };
            let lib = std::fs::read_to_string(dir.join(format!("{n:02}-lib.rs"))).expect("each cell has its lib.rs");
            cells.push((cell, lib));
        }
        assert!(!cells.is_empty(), "no fixtures in {}", dir.display());
        cells
    }

    /// The items after replaying a whole session, as the snapshot gives them.
    fn replay(name: &str) -> String {
        let mut order = ItemOrder::default();
        for (cell, lib) in session(name) {
            order.update(user_items(&lib), &cell);
        }
        order.source()
    }

    /// Where `needle` is in `haystack`, checking that it is there exactly once.
    fn once(haystack: &str, needle: &str) -> usize {
        let at = haystack.find(needle).unwrap_or_else(|| panic!("`{needle}` is missing from:\n{haystack}"));
        assert!(haystack[at + 1..].find(needle).is_none(), "`{needle}` is there twice:\n{haystack}");
        at
    }

    const WRAPPERS: [&str; 8] = [
        "run_user_code_",
        "evcxr_internal_runtime",
        "EvcxrUserCodeError",
        "evcxr_variable_store",
        "evcxr_analysis_wrapper",
        "evcxr_send_text_plain",
        "KubernelValue",
        "#![allow(unused_imports",
    ];

    #[test]
    fn no_wrapper_survives() {
        for name in ["session_plain", "session_deps"] {
            for (n, (_, lib)) in session(name).iter().enumerate() {
                let items: String = user_items(lib).into_iter().map(|i| i.text).collect();
                for wrapper in WRAPPERS {
                    assert!(!items.contains(wrapper), "{name} cell {}: `{wrapper}` survived:\n{items}", n + 1);
                }
            }
        }
    }

    #[test]
    fn every_item_once_in_definition_order() {
        let items = replay("session_plain");
        // Cell by cell; a redefinition (add in cell 8, square in cell 11) keeps the first place.
        let in_order = [
            "fn add(a: i32, b: i32) -> i32 {\n    a + b + 0\n}",
            "#[derive(Debug, Clone, PartialEq)]\nstruct Point {",
            "impl Point {\n    fn norm(&self)",
            "enum Shape {",
            "trait Area {",
            "impl Area for Shape {",
            "use std::fmt::Write as _;",
            "const LIMIT: usize = 10;",
            "static GREETING: &str = \"hello\";",
            "macro_rules! square {\n    ($x:expr) => {\n        ($x) * ($x)",
            "fn nine() -> i32 {",
            "pub fn shapes() -> Vec<Shape> {",
            "use std::f64::consts::*;",
            "impl Point {\n    fn origin()",
        ];
        let places: Vec<usize> = in_order.iter().map(|item| once(&items, item)).collect();
        for (pair, names) in places.windows(2).zip(in_order.windows(2)) {
            assert!(pair[0] < pair[1], "`{}` should come before `{}`:\n{items}", names[0], names[1]);
        }
        // evcxr splits `use std::collections::{BTreeSet, HashMap};` in two; both stay, once each,
        // with the rest of their cell.
        for split in ["use std::collections::BTreeSet;", "use std::collections::HashMap;"] {
            let at = once(&items, split);
            assert!(places[5] < at && at < places[7], "`{split}` should be with cell 4:\n{items}");
        }
        assert!(!items.contains("a + b\n}"), "the first add is replaced:\n{items}");
        assert!(!items.contains("$x * $x"), "the first square is replaced:\n{items}");
        // Variables and the cells' final expressions are not items.
        for not_item in ["let v", "let p", "let n", "circle", "total", "norm()"] {
            assert!(!items.contains(not_item), "`{not_item}` is not an item:\n{items}");
        }
    }

    #[test]
    fn items_of_a_session_with_deps() {
        let items = replay("session_deps");
        let derive = once(&items, "#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]\npub struct Config {");
        let scaled = once(&items, "impl Config {\n    pub fn scaled");
        let parse = once(&items, "fn parse(text: &str) -> serde_json::Result<Config> {");
        once(&items, "use serde::Deserialize;");
        once(&items, "use serde::Serialize;");
        assert!(derive < scaled && scaled < parse, "{items}");
        assert!(!items.contains("let c") && !items.contains("let n"), "{items}");
    }

    #[test]
    fn items_compile_on_their_own() {
        let items = replay("session_plain");
        let dir = std::env::temp_dir().join(format!("kubernel-items-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("items.rs");
        std::fs::write(&file, &items).unwrap();
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        for edition in ["2021", "2024"] {
            let out = std::process::Command::new(&rustc)
                .args(["--edition", edition, "--crate-type", "lib", "--emit=metadata", "-A", "warnings", "--out-dir"])
                .arg(&dir)
                .arg(&file)
                .output()
                .expect("rustc runs");
            assert!(out.status.success(), "edition {edition}:\n{}\n{items}", String::from_utf8_lossy(&out.stderr));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn analysis_source_is_told_apart() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/evaluate/testdata/session_plain");
        let analysis = std::fs::read_to_string(dir.join("analysis-lib.rs")).unwrap();
        assert!(is_analysis_source(&analysis));
        for (_, lib) in session("session_plain") {
            assert!(!is_analysis_source(&lib));
        }
    }

    #[test]
    fn dependencies_as_the_dep_lines_gave_them() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/evaluate/testdata/session_deps");
        let toml = std::fs::read_to_string(dir.join("Cargo.toml.txt")).unwrap();
        let dep = |name: &str, spec: &str| Dependency { name: name.into(), spec: spec.into() };
        assert_eq!(
            dependencies(&toml),
            vec![dep("serde", r#"{ version = "1", features = ["derive"] }"#), dep("serde_json", r#""1""#)]
        );
        assert_eq!(dependencies("[package]\nname = \"ctx\"\n\n[dependencies]\n"), vec![]);
    }

    #[test]
    fn a_repeated_glob_import_is_kept_once() {
        let items = user_items("use std::f64::consts::*;\nuse std::f64::consts::*;\nfn f() {}\n");
        let texts: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
        assert_eq!(texts, ["use std::f64::consts::*;", "fn f() {}"]);
        assert_eq!(items[1].name.as_deref(), Some("f"));
        assert_eq!(items[0].name, None);
    }

    #[test]
    fn names_are_evcxrs_keys() {
        let items = user_items("use a::B;\nuse a::C as D;\nuse a::*;\nuse a::E as _;\nimpl X {}\nmacro_rules! m { () => {} }\nextern crate core as k;\n");
        let names: Vec<Option<&str>> = items.iter().map(|i| i.name.as_deref()).collect();
        assert_eq!(names, [Some("B"), Some("D"), None, None, None, Some("m"), Some("k")]);
    }

    /// A build folder like evcxr's, to drive the recorder without evcxr.
    struct Folder(PathBuf);

    impl Folder {
        fn new() -> Folder {
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let dir = std::env::temp_dir().join(format!("kubernel-recorder-{}-{n}", std::process::id()));
            std::fs::create_dir_all(dir.join("src")).unwrap();
            Folder(dir)
        }

        fn write(&self, file: &str, text: &str) {
            // A new modification time even on coarse clocks.
            std::thread::sleep(std::time::Duration::from_millis(20));
            std::fs::write(self.0.join(file), text).unwrap();
        }
    }

    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn the_recorder_reads_only_what_the_cell_compiled() {
        let cells = session("session_deps");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/evaluate/testdata/session_deps");
        let folder = Folder::new();
        folder.write("Cargo.toml", &std::fs::read_to_string(dir.join("Cargo.toml.txt")).unwrap());
        folder.write("Cargo.lock", &std::fs::read_to_string(dir.join("Cargo.lock.txt")).unwrap());
        let mut recorder = Recorder::new(Some(folder.0.clone()));
        let mut snapshot = Snapshot::default();
        for (cell, lib) in &cells[..2] {
            recorder.before_cell();
            folder.write("src/lib.rs", lib);
            recorder.after_cell(cell, &mut snapshot, true);
        }
        assert_eq!(snapshot.cells, 2);
        assert!(snapshot.items.contains("pub struct Config"), "{}", snapshot.items);
        assert_eq!(snapshot.dependencies.len(), 2);
        assert!(snapshot.cargo_lock.as_deref().is_some_and(|lock| lock.contains("name = \"serde_json\"")));
        let after_two = snapshot.clone();

        // Completion rewrote lib.rs, then a cell ran without compiling (`:vars`): no change.
        folder.write("src/lib.rs", "fn half_typed(\nasync fn evcxr_analysis_wrapper() {}");
        recorder.before_cell();
        recorder.after_cell(":vars", &mut snapshot, true);
        assert_eq!(snapshot.items, after_two.items);
        assert_eq!(snapshot.cells, 3);

        // lib.rs written for analysis during the cell is not the cell's: no change either.
        recorder.before_cell();
        folder.write("src/lib.rs", &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/evaluate/testdata/session_plain/analysis-lib.rs")).unwrap());
        recorder.after_cell("1", &mut snapshot, false);
        assert_eq!(snapshot.items, after_two.items);
        assert_eq!(snapshot.cells, 3, "the kernel's own code is not counted");

        recorder.before_cell();
        recorder.after_cell(":clear", &mut snapshot, true);
        assert_eq!(snapshot.items, "");
        assert!(snapshot.dependencies.is_empty() && snapshot.cargo_lock.is_none());
    }

    #[test]
    fn without_a_build_folder_only_cells_are_counted() {
        let mut recorder = Recorder::new(None);
        let mut snapshot = Snapshot::default();
        recorder.before_cell();
        recorder.after_cell("fn f() {}", &mut snapshot, true);
        assert_eq!(snapshot, Snapshot { cells: 1, ..Snapshot::default() });
    }
}
