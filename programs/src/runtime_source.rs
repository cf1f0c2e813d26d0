//! The `kubernel` runtime crate's sources, carried inside the kernel so that programs built
//! from cells (and notebooks that write `:dep kubernel`) can use it wherever the kernel is
//! installed. Written out once per version into the cache.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// (path under the written-out folder, contents).
pub const FILES: &[(&str, &str)] = &[
    ("runtime/Cargo.toml", include_str!("../../runtime/Cargo.toml")),
    ("runtime/src/lib.rs", include_str!("../../runtime/src/lib.rs")),
    ("runtime/src/display.rs", include_str!("../../runtime/src/display.rs")),
    ("runtime/src/job.rs", include_str!("../../runtime/src/job.rs")),
    ("runtime/src/hand_over.rs", include_str!("../../runtime/src/hand_over.rs")),
    ("runtime/src/protocol.rs", include_str!("../../runtime/src/protocol.rs")),
    ("runtime/src/launch.rs", include_str!("../../runtime/src/launch.rs")),
    ("runtime/src/pmap/mod.rs", include_str!("../../runtime/src/pmap/mod.rs")),
    ("runtime/src/pmap/master.rs", include_str!("../../runtime/src/pmap/master.rs")),
    ("runtime/src/pmap/meter.rs", include_str!("../../runtime/src/pmap/meter.rs")),
    ("runtime/src/pmap/schedule.rs", include_str!("../../runtime/src/pmap/schedule.rs")),
    ("runtime/src/pmap/server.rs", include_str!("../../runtime/src/pmap/server.rs")),
    ("runtime/src/pmap/threads.rs", include_str!("../../runtime/src/pmap/threads.rs")),
    ("runtime/src/pmap/wire.rs", include_str!("../../runtime/src/pmap/wire.rs")),
    ("runtime/src/pmap/worker.rs", include_str!("../../runtime/src/pmap/worker.rs")),
    ("runtime/src/queue/mod.rs", include_str!("../../runtime/src/queue/mod.rs")),
    ("runtime/src/queue/resp.rs", include_str!("../../runtime/src/queue/resp.rs")),
    ("runtime/src/metrics.rs", include_str!("../../runtime/src/metrics.rs")),
    ("runtime/src/load.rs", include_str!("../../runtime/src/load.rs")),
    ("runtime/src/shutdown.rs", include_str!("../../runtime/src/shutdown.rs")),
    // The display markers, shared with the kernel's output pump (display.rs includes it).
    ("output/src/markers.rs", include_str!("../../output/src/markers.rs")),
];

/// A short hash of the sources: a new kernel with a changed runtime writes a new folder.
pub fn version() -> String {
    let mut h = Sha256::new();
    for (path, text) in FILES {
        h.update(path.as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())[..12].to_string()
}

/// Writes the sources under `root` (once) and gives the runtime crate's folder.
pub fn write_out(root: &Path) -> std::io::Result<PathBuf> {
    let dir = root.join(format!("runtime-{}", version()));
    let crate_dir = dir.join("runtime");
    if crate_dir.join("Cargo.toml").exists() {
        return Ok(crate_dir);
    }
    // Written beside, then moved into place: two kernels starting together do not see half.
    let part = root.join(format!("runtime-{}.part-{}", version(), std::process::id()));
    for (path, text) in FILES {
        let file = part.join(path);
        std::fs::create_dir_all(file.parent().expect("paths have folders"))?;
        std::fs::write(file, text)?;
    }
    match std::fs::rename(&part, &dir) {
        Ok(()) => {}
        Err(_) if crate_dir.join("Cargo.toml").exists() => {
            let _ = std::fs::remove_dir_all(&part);
        }
        Err(e) => return Err(e),
    }
    Ok(crate_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_file_of_the_runtime_is_carried() {
        // Every file under runtime/src, in its folders too (pmap/ ...).
        fn walk(dir: &Path, under: &str, found: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let name = format!("{under}/{}", e.file_name().to_string_lossy());
                if e.file_type().unwrap().is_dir() {
                    walk(&e.path(), &name, found);
                } else {
                    found.push(name);
                }
            }
        }
        let mut on_disk = Vec::new();
        walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/src"), "runtime/src", &mut on_disk);
        assert!(on_disk.contains(&"runtime/src/pmap/mod.rs".to_string()), "{on_disk:?}");
        on_disk.sort();
        let mut carried: Vec<String> = FILES.iter().map(|(p, _)| p.to_string()).filter(|p| p.starts_with("runtime/src/")).collect();
        carried.sort();
        assert_eq!(carried, on_disk, "add the runtime's new file to FILES");
    }

    #[test]
    fn written_out_once_and_complete() {
        let root = std::env::temp_dir().join(format!("kubernel-runtime-test-{}", std::process::id()));
        let dir = write_out(&root).unwrap();
        assert!(dir.join("src/lib.rs").exists() && dir.join("../output/src/markers.rs").exists());
        assert_eq!(write_out(&root).unwrap(), dir);
        std::fs::remove_dir_all(root).unwrap();
    }
}
