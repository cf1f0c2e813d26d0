//! A spare's evcxr child takes on the working directory and environment of the session it
//! serves. The child runs user code and was started long before; only code run in it can
//! change them, so a small cell of the kernel's does, reading them from a private file (an
//! environment can hold tokens: as source they would be compiled and kept).

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The file the cell reads; removed once the cell has run.
pub struct EnvironmentFile {
    path: PathBuf,
}

impl Drop for EnvironmentFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The directory, then each variable's name and value, every field ended by a NUL (neither
/// paths nor variables can hold one).
pub fn encode(cwd: &Path, env: &[(OsString, OsString)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(cwd.as_os_str().as_bytes());
    out.push(0);
    for (key, value) in env {
        out.extend_from_slice(key.as_bytes());
        out.push(0);
        out.extend_from_slice(value.as_bytes());
        out.push(0);
    }
    out
}

/// Written in `private`, a directory only this user may enter; the cell removes it once read.
pub fn write(private: &Path, cwd: &Path, env: &[(OsString, OsString)]) -> std::io::Result<EnvironmentFile> {
    let path = private.join(format!("kubernel-env-{}-{}", std::process::id(), crate::startup::now_micros()));
    let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    let file = EnvironmentFile { path };
    out.write_all(&encode(cwd, env))?;
    Ok(file)
}

/// The cell: one block, so that it defines nothing in the session. evcxr's own variables
/// (EVCXR_*) stay.
pub fn code(file: &EnvironmentFile) -> String {
    format!(
        r#"{{
    use std::os::unix::ffi::OsStrExt as _;
    let kubernel_data = std::fs::read({path:?}).expect("kubernel: the session's environment");
    let _ = std::fs::remove_file({path:?});
    let mut kubernel_fields = kubernel_data.split(|b| *b == 0);
    let _ = std::env::set_current_dir(std::ffi::OsStr::from_bytes(kubernel_fields.next().unwrap_or_default()));
    let mut kubernel_env = Vec::new();
    while let (Some(k), Some(v)) = (kubernel_fields.next(), kubernel_fields.next()) {{
        kubernel_env.push((std::ffi::OsStr::from_bytes(k).to_os_string(), std::ffi::OsStr::from_bytes(v).to_os_string()));
    }}
    for (k, _) in std::env::vars_os() {{
        if !k.to_string_lossy().starts_with("EVCXR") && !kubernel_env.iter().any(|(n, _)| *n == k) {{
            unsafe {{ std::env::remove_var(&k) }};
        }}
    }}
    for (k, v) in &kubernel_env {{
        unsafe {{ std::env::set_var(k, v) }};
    }}
}}"#,
        path = file.path.to_string_lossy()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_end_with_nul_and_hold_any_other_byte() {
        let env = vec![(OsString::from("A"), OsString::from("x=y z")), (OsString::from("EMPTY"), OsString::new())];
        assert_eq!(encode(Path::new("/w d"), &env), b"/w d\0A\0x=y z\0EMPTY\0\0".to_vec());
        let file = write(&std::env::temp_dir(), Path::new("/w"), &env).unwrap();
        let path = file.path.clone();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600, "only this user reads it");
        assert!(code(&file).contains(&format!("{:?}", path.to_string_lossy())));
        drop(file);
        assert!(!path.exists(), "gone once the cell is done with it");
    }
}
