//! `kubernel install` / `uninstall`: writes or removes the kernelspec that Jupyter frontends
//! (jupyter kernelspec list, JupyterLab, nbclient) use to start this kernel.

use anyhow::{bail, Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};

const KERNEL_NAME: &str = "kubernel";

enum Place {
    User,
    SysPrefix,
    Prefix(PathBuf),
}

fn parse_place(args: &[String]) -> Result<Place> {
    let mut place = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let next = match arg.as_str() {
            "--user" => Place::User,
            "--sys-prefix" => Place::SysPrefix,
            "--prefix" => match iter.next() {
                Some(dir) => Place::Prefix(PathBuf::from(dir)),
                None => bail!("--prefix needs a directory"),
            },
            other => match other.strip_prefix("--prefix=") {
                Some(dir) => Place::Prefix(PathBuf::from(dir)),
                None => bail!("unknown option {other:?} (use --user, --sys-prefix or --prefix DIR)"),
            },
        };
        if place.is_some() {
            bail!("choose one of --user, --sys-prefix and --prefix");
        }
        place = Some(next);
    }
    Ok(place.unwrap_or(Place::User))
}

fn kernels_dir(place: &Place) -> Result<PathBuf> {
    let share = match place {
        Place::User => {
            if let Some(dir) = std::env::var_os("JUPYTER_DATA_DIR") {
                return Ok(PathBuf::from(dir).join("kernels"));
            }
            let data = std::env::var_os("XDG_DATA_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
                .context("neither XDG_DATA_HOME nor HOME is set")?;
            return Ok(data.join("jupyter").join("kernels"));
        }
        Place::SysPrefix => sys_prefix()?.join("share/jupyter"),
        Place::Prefix(dir) => dir.join("share/jupyter"),
    };
    Ok(share.join("kernels"))
}

/// The active Python environment's prefix, as `jupyter --sys-prefix` would use.
fn sys_prefix() -> Result<PathBuf> {
    for var in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
        if let Some(dir) = std::env::var_os(var) {
            return Ok(PathBuf::from(dir));
        }
    }
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.prefix)"])
        .output()
        .context("--sys-prefix needs python3 on PATH (or an active virtual environment)")?;
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

pub fn install(args: &[String]) -> Result<()> {
    let dir = kernels_dir(&parse_place(args)?)?.join(KERNEL_NAME);
    let exe = std::env::current_exe().context("cannot find the kubernel executable")?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let spec = json!({
        "argv": [exe.to_string_lossy(), "kernel", "--connection-file", "{connection_file}"],
        "display_name": "Rust (kubernel)",
        "language": "rust",
        "interrupt_mode": "message",
        "metadata": { "debugger": false },
    });
    write(&dir.join("kernel.json"), serde_json::to_string_pretty(&spec)?.as_bytes())?;
    write(&dir.join("logo-32x32.png"), include_bytes!("../assets/logo-32x32.png"))?;
    write(&dir.join("logo-64x64.png"), include_bytes!("../assets/logo-64x64.png"))?;
    write(&dir.join("logo-svg.svg"), include_bytes!("../assets/logo-svg.svg"))?;
    println!("Installed the kernelspec {KERNEL_NAME} in {}", dir.display());
    if let Some(problem) = missing_rust_parts() {
        eprintln!("warning: {problem}");
    }
    Ok(())
}

pub fn uninstall(args: &[String]) -> Result<()> {
    let dir = kernels_dir(&parse_place(args)?)?.join(KERNEL_NAME);
    if !dir.exists() {
        bail!("there is no kernelspec {KERNEL_NAME} in {}", dir.parent().unwrap_or(&dir).display());
    }
    std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    println!("Removed the kernelspec {KERNEL_NAME} from {}", dir.display());
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// What Rust cells need besides this binary: cargo and the standard library's sources.
fn missing_rust_parts() -> Option<String> {
    let sysroot = std::process::Command::new("rustc").args(["--print", "sysroot"]).output().ok();
    let Some(sysroot) = sysroot.filter(|o| o.status.success()) else {
        return Some("rustc was not found on PATH: Rust cells need a Rust toolchain (rustup).".into());
    };
    let root = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if !root.join("lib/rustlib/src/rust/library").exists() {
        return Some("the rust-src component is missing; Rust cells need it: rustup component add rust-src".into());
    }
    None
}
