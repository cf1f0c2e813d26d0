//! Builds real programs from cells with cargo and the musl target, runs them on this machine
//! (a static binary runs anywhere), and checks the result they hand over.

use programs::{BuildError, Builder, Cell, Shape};
use std::process::Command;

fn builder() -> Builder {
    // The shared cache: the dependencies stay built between runs, as they do for users.
    Builder::new(Builder::default_root())
}

fn run_job(binary: &[u8], dir: &std::path::Path) -> (String, String) {
    let exe = dir.join("job");
    std::fs::write(&exe, binary).unwrap();
    std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // A folder of its own each run: a result left by an earlier run would be taken for this one.
    let results = dir.join("results");
    let _ = std::fs::remove_dir_all(&results);
    let child = Command::new(&exe)
        .env("KUBERNEL_RESULT_DIR", &results)
        .env("KUBERNEL_WORLD", "4")
        .env("JOB_COMPLETION_INDEX", "2")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The program waits to be asked for its result, as the kernel asks it in a pod.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !results.join("result.json").exists() {
        assert!(std::time::Instant::now() < deadline, "no result within 20 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let handed = Command::new(&exe).arg("--kubernel-hand-over").env("KUBERNEL_RESULT_DIR", &results).output().unwrap();
    assert!(handed.status.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(handed.stdout).unwrap())
}

#[tokio::test]
async fn a_cell_with_the_notebooks_items_becomes_a_static_program() {
    let dir = tempdir("job");
    let cell = Cell {
        items: "fn square(x: u64) -> u64 { x * x }\n#[derive(Debug)]\nstruct Unused;\n".into(),
        body: "let share = kubernel::partition(0..100u64);\nprintln!(\"rank {} of {}\", kubernel::rank(), kubernel::world());\nshare.map(square).sum::<u64>()".into(),
        body_line: 2,
        ..Cell::default()
    };
    let program = builder().build(&cell, Shape::Job, |_| {}).await.unwrap();
    assert!(program.binary.starts_with(b"\x7fELF"));
    let (stdout, result) = run_job(&program.binary, &dir);
    assert!(stdout.contains("rank 2 of 4"), "{stdout}");
    assert!(stdout.contains("KUBERNEL_RESULT"), "{stdout}");
    let expected: u64 = (50..75u64).map(|x| x * x).sum();
    assert_eq!(result, expected.to_string());
    // The same cell again: nothing is compiled.
    let again = builder().build(&cell, Shape::Job, |_| {}).await.unwrap();
    assert!(again.compiled.is_empty() && again.hash == program.hash);
    // An edited body rebuilds only the program, not its dependencies (an edit of its own: built
    // programs are kept by hash across runs).
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000;
    let edited = Cell { body: format!("{}\n+ 1 + {stamp} - {stamp}", cell.body), ..cell.clone() };
    let rebuilt = builder().build(&edited, Shape::Job, |_| {}).await.unwrap();
    assert_eq!(rebuilt.compiled, vec![programs::CRATE.to_string()], "only the program is compiled again");
    assert_eq!(run_job(&rebuilt.binary, &dir).1, (expected + 1).to_string());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_compile_error_is_told_on_the_cells_own_line() {
    let cell = Cell { body: "let a = 1;\nlet x: i32 = \"a\";\nx".into(), body_line: 2, ..Cell::default() };
    match builder().build(&cell, Shape::Job, |_| {}).await {
        Err(BuildError::Compile(errors)) => {
            let e = &errors[0];
            assert_eq!(e.at, Some((3, 14)), "{}", e.rendered);
            assert!(e.rendered.contains("mismatched types") && e.rendered.contains("3 | let x: i32 = \"a\";"), "{}", e.rendered);
        }
        other => panic!("expected a compile error, got {other:?}"),
    }
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kubernel-programs-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
