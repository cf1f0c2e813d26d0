// Records the rustc version for kernel_info, so answering it never starts a process.
fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=KUBERNEL_RUSTC_VERSION={version}");
    println!("cargo:rerun-if-env-changed=RUSTC");
    // User code loaded into evcxr's child must find this binary's `write` and `read`
    // (child_output.rs).
    println!("cargo:rustc-link-arg-bins=-Wl,--export-dynamic-symbol=write");
    println!("cargo:rustc-link-arg-bins=-Wl,--export-dynamic-symbol=read");
}
