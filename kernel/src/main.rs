//! kubernel: a Jupyter kernel for Rust cells and Kubernetes magics.
//!
//! `kubernel kernel --connection-file F` serves a frontend; `kubernel install` and
//! `kubernel uninstall` manage the kernelspec.

mod child_output;
mod dispatch;
mod evaluate;
mod history;
mod install;
mod interpreter;
mod memory;
mod process_tree;
mod spare;
mod startup;
mod toolchain;
mod transport;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

const USAGE: &str = "\
usage:
  kubernel kernel --connection-file FILE   serve a Jupyter frontend (the kernelspec runs this)
  kubernel install [--user | --sys-prefix | --prefix DIR]
                                           install the kernelspec \"kubernel\" (default: --user)
  kubernel uninstall [--user | --sys-prefix | --prefix DIR]
                                           remove it
  kubernel spare [--stop]                  start the user's spare kernel (kernels do this themselves), or end it
  kubernel --version";

fn main() -> ExitCode {
    // evcxr runs user code in a child that is this same binary: this must come first.
    child_output::enable_in_evcxr_child();
    evcxr::runtime_hook();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("kernel") => run_kernel(&args[1..]),
        Some("spare") => spare::run(&args[1..]),
        Some("install") => install::install(&args[1..]),
        Some("uninstall") => install::uninstall(&args[1..]),
        Some("--version" | "version") => {
            println!("kubernel {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown command {other:?}\n{USAGE}")),
        None => Err(anyhow::anyhow!("a command is needed\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kubernel: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run_kernel(args: &[String]) -> anyhow::Result<()> {
    startup::mark("launched");
    let file = match args {
        [flag, file] if flag == "--connection-file" || flag == "-f" => PathBuf::from(file),
        [file] if !file.starts_with('-') => PathBuf::from(file),
        _ => anyhow::bail!("kernel needs --connection-file FILE\n{USAGE}"),
    };
    // Read before the hand-over, so that a bad file is this process's error, whoever serves.
    let info = transport::ConnectionInfo::from_file(&file)?;
    prepare_process();
    if let Some(stream) = spare::take(&file) {
        spare::proxy(stream);
    }
    process_tree::exit_with_parent();
    let interpreter = evaluate::RustInterpreter::new(magics::registry());
    // The next kernel's spare, once this one's evaluator no longer needs the machine.
    let warming = interpreter.clone_worker();
    std::thread::spawn(move || {
        if warming.wait_warm(std::time::Duration::from_secs(600)) {
            spare::start();
        }
    });
    serve(&info, interpreter)
}

/// What a kernel process sets up before any thread starts (changing the environment later
/// would race with readers); a spare does it too, and then takes its launcher's environment,
/// which had it done.
pub fn prepare_process() {
    // Panics in cells are reported as errors with their message; a backtrace of the generated
    // wrapper code would only be noise. KUBERNEL_BACKTRACE=1 keeps it.
    if std::env::var_os("KUBERNEL_BACKTRACE").is_none() {
        std::env::remove_var("RUST_BACKTRACE");
    }
    toolchain::prefer_toolchain_binaries();
}

/// Serves the session of `info` with `interpreter` until it shuts down.
pub fn serve(info: &transport::ConnectionInfo, interpreter: evaluate::RustInterpreter) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let channels = transport::sockets::bind(info).await?;
        startup::mark("sockets bound");
        dispatch::serve(channels, Arc::new(interpreter)).await;
        anyhow::Ok(())
    })?;
    // Compiles in progress belong to us: leave nothing behind.
    process_tree::kill_descendants();
    std::process::exit(0);
}
