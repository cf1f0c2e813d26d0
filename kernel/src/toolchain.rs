//! Finds the Rust toolchain's own bin directory so that evcxr's many `cargo` and `rustc` calls
//! (about thirty while it warms up) skip the rustup proxy, which costs tens of milliseconds each.
//! Read from rustup's settings file: no process is started on the way to the first reply.

use std::path::PathBuf;

pub fn toolchain_bin_dir() -> Option<PathBuf> {
    let home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rustup")))?;
    let name = match std::env::var("RUSTUP_TOOLCHAIN") {
        Ok(name) => name,
        Err(_) => {
            let settings = std::fs::read_to_string(home.join("settings.toml")).ok()?;
            settings.lines().find_map(|line| {
                let value = line.trim().strip_prefix("default_toolchain")?.trim_start().strip_prefix('=')?;
                Some(value.trim().trim_matches('"').to_string())
            })?
        }
    };
    let toolchains = home.join("toolchains");
    let mut candidates = vec![toolchains.join(&name)];
    // "stable" in the settings names the directory "stable-<host triple>".
    if let Ok(entries) = std::fs::read_dir(&toolchains) {
        candidates.extend(
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&format!("{name}-")))
                .map(|e| e.path()),
        );
    }
    candidates
        .into_iter()
        .map(|dir| dir.join("bin"))
        .find(|bin| bin.join("cargo").exists() && bin.join("rustc").exists())
}

/// Puts the toolchain's bin directory first on PATH (when rustup manages the toolchain).
pub fn prefer_toolchain_binaries() {
    let Some(bin) = toolchain_bin_dir() else { return };
    let path = std::env::var_os("PATH").unwrap_or_default();
    // Once only: a spare started by a kernel inherits the kernel's PATH, and must end up with
    // the same PATH as the kernels that hand it their sessions.
    if std::env::split_paths(&path).next().as_ref() == Some(&bin) {
        return;
    }
    let mut dirs: Vec<PathBuf> = vec![bin];
    dirs.extend(std::env::split_paths(&path));
    if let Ok(joined) = std::env::join_paths(dirs) {
        std::env::set_var("PATH", joined);
    }
}
