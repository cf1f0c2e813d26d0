//! Image layers made from files held in memory, byte for byte the same every time.
//!
//! Reproducible layers are what let an unchanged notebook cell push nothing: every tar entry
//! gets mtime 0, uid and gid 0, no user or group names and a fixed mode; entries come in path
//! order with their parent directories; the gzip header has no time and no name and the
//! compression level is fixed. The same files give the same digest on any machine that builds
//! with the same Cargo.lock (the compressor's output could change with its version).

use std::collections::BTreeMap;
use std::io::Write as _;

use flate2::{Compression, GzBuilder};
use sha2::{Digest as _, Sha256};

use crate::Error;

/// The media type of the layers this crate writes.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Mode of the directories a layer creates for its files.
const DIR_MODE: u32 = 0o755;
/// gzip level: 6 is zlib's default, a fair trade between time and size for binaries.
const GZIP_LEVEL: u32 = 6;

/// A file to put in a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// Absolute path in the image, such as `/app/job`.
    pub path: String,
    pub bytes: Vec<u8>,
    /// Permission bits, such as `0o755` for a program.
    pub mode: u32,
}

impl File {
    pub fn new(path: impl Into<String>, bytes: impl Into<Vec<u8>>, mode: u32) -> File {
        File {
            path: path.into(),
            bytes: bytes.into(),
            mode,
        }
    }
}

/// A compressed layer ready to push, with its two digests.
#[derive(Clone)]
pub struct Layer {
    gzip: bytes::Bytes,
    digest: String,
    diff_id: String,
    created_by: String,
}

impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layer")
            .field("digest", &self.digest)
            .field("diff_id", &self.diff_id)
            .field("size", &self.gzip.len())
            .field("created_by", &self.created_by)
            .finish()
    }
}

impl Layer {
    /// Packs `files` into a tar (with their parent directories), then gzips it.
    pub fn from_files(files: &[File]) -> Result<Layer, Error> {
        let tar = tar_of(files)?;
        let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        Ok(Layer::from_tar(
            &tar,
            format!("kubernel: add {}", names.join(" ")),
        ))
    }

    /// Compresses a tar made elsewhere; `created_by` is what the image's history shows.
    pub fn from_tar(tar: &[u8], created_by: impl Into<String>) -> Layer {
        let diff_id = sha256(tar);
        let mut gz = GzBuilder::new()
            .mtime(0)
            .operating_system(255) // "unknown": the header must not depend on the build machine
            .write(
                Vec::with_capacity(tar.len() / 2),
                Compression::new(GZIP_LEVEL),
            );
        gz.write_all(tar).expect("writing to a Vec cannot fail");
        let gzip = gz.finish().expect("writing to a Vec cannot fail");
        Layer {
            digest: sha256(&gzip),
            gzip: gzip.into(),
            diff_id,
            created_by: created_by.into(),
        }
    }

    /// `sha256:…` of the compressed bytes: the blob's name in the registry.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// `sha256:…` of the uncompressed tar: what the image config lists in `rootfs.diff_ids`.
    pub fn diff_id(&self) -> &str {
        &self.diff_id
    }

    /// Size of the compressed blob in bytes.
    pub fn size(&self) -> u64 {
        self.gzip.len() as u64
    }

    /// The compressed bytes.
    pub fn bytes(&self) -> &bytes::Bytes {
        &self.gzip
    }

    /// The history line of this layer.
    pub fn created_by(&self) -> &str {
        &self.created_by
    }
}

pub(crate) fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Normalises `/app/job` to `app/job`, refusing what a tar must not hold.
fn clean_path(path: &str) -> Result<String, Error> {
    let invalid = |why: &str| Error::InvalidLayer(format!("path {path:?} {why}"));
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.is_empty() {
        return Err(invalid("names no file"));
    }
    if parts.contains(&"..") {
        return Err(invalid("contains `..`"));
    }
    if path.contains('\0') {
        return Err(invalid("contains a NUL byte"));
    }
    Ok(parts.join("/"))
}

enum Entry<'a> {
    Dir,
    File(&'a File),
}

/// The uncompressed tar of `files`, in path order, parents first.
pub(crate) fn tar_of(files: &[File]) -> Result<Vec<u8>, Error> {
    if files.is_empty() {
        return Err(Error::InvalidLayer(
            "a layer needs at least one file".into(),
        ));
    }
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    for file in files {
        let path = clean_path(&file.path)?;
        if file.mode & !0o7777 != 0 {
            return Err(Error::InvalidLayer(format!(
                "mode {:o} of {:?} has bits beyond permissions",
                file.mode, file.path
            )));
        }
        let mut parent = String::new();
        for comp in path.split('/').take(path.split('/').count() - 1) {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(comp);
            if let Some(Entry::File(f)) = entries.get(&parent) {
                return Err(Error::InvalidLayer(format!(
                    "{:?} is a file and also the parent of {:?}",
                    f.path, file.path
                )));
            }
            entries.insert(parent.clone(), Entry::Dir);
        }
        match entries.get(&path) {
            Some(Entry::File(_)) => {
                return Err(Error::InvalidLayer(format!(
                    "{:?} is given twice",
                    file.path
                )))
            }
            Some(Entry::Dir) => {
                return Err(Error::InvalidLayer(format!(
                    "{:?} is a file and also the parent of another",
                    file.path
                )))
            }
            None => {}
        }
        entries.insert(path, Entry::File(file));
    }
    let mut builder = tar::Builder::new(Vec::new());
    for (path, entry) in &entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        let io = |e: std::io::Error| Error::InvalidLayer(format!("cannot pack {path:?}: {e}"));
        match entry {
            Entry::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(DIR_MODE);
                header.set_size(0);
                builder
                    .append_data(&mut header, format!("{path}/"), std::io::empty())
                    .map_err(io)?;
            }
            Entry::File(f) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(f.mode);
                header.set_size(f.bytes.len() as u64);
                builder
                    .append_data(&mut header, path, f.bytes.as_slice())
                    .map_err(io)?;
            }
        }
    }
    builder
        .into_inner()
        .map_err(|e| Error::InvalidLayer(format!("cannot finish the tar: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(bytes: &[u8]) -> Vec<File> {
        vec![File::new("/app/job", bytes.to_vec(), 0o755)]
    }

    #[test]
    fn same_files_same_digest() {
        let a = Layer::from_files(&job(b"\x7fELF program")).unwrap();
        let b = Layer::from_files(&job(b"\x7fELF program")).unwrap();
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.diff_id(), b.diff_id());
        assert_eq!(a.bytes(), b.bytes());
        let c = Layer::from_files(&job(b"\x7fELF program 2")).unwrap();
        assert_ne!(a.digest(), c.digest());
        // The order the caller lists files in does not matter.
        let x = File::new("/etc/x", b"x".to_vec(), 0o644);
        let y = File::new("/app/y", b"y".to_vec(), 0o644);
        assert_eq!(
            Layer::from_files(&[x.clone(), y.clone()]).unwrap().digest(),
            Layer::from_files(&[y, x]).unwrap().digest()
        );
    }

    #[test]
    fn golden_digest() {
        // A digest fixed in the source: if a dependency update (tar, flate2 or its zlib-rs
        // backend) changes these bytes, every cell's image changes once; this says so first.
        let layer = Layer::from_files(&job(b"hello\n")).unwrap();
        assert_eq!(
            layer.diff_id(),
            "sha256:b017b3c26acf9811a5ab91f1868c9b9edc28ad4801beaf82fddb6c083a7978c9"
        );
        assert_eq!(
            layer.digest(),
            "sha256:6c14db25cdfdc62d93d987d3a57d7ae4fbd16ffd9c5ceabc150e0dc98247aa64"
        );
    }

    #[test]
    fn digests_are_of_the_gzip_and_of_the_tar() {
        let files = job(b"hello");
        let layer = Layer::from_files(&files).unwrap();
        let tar = tar_of(&files).unwrap();
        assert_eq!(layer.diff_id(), sha256(&tar));
        assert_eq!(layer.digest(), sha256(layer.bytes()));
        assert_eq!(layer.size(), layer.bytes().len() as u64);
        // gzip header: magic, deflate, no flags (no name), mtime 0, OS unknown.
        assert_eq!(
            &layer.bytes()[..10],
            &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]
        );
        // And it decompresses to the tar.
        let mut out = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&layer.bytes()[..]),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, tar);
    }

    #[test]
    fn tar_has_parents_fixed_owner_time_and_modes() {
        let files = vec![
            File::new("/app/bin/job", b"binary".to_vec(), 0o755),
            File::new("app/data.json", b"{}".to_vec(), 0o644),
        ];
        let tar = tar_of(&files).unwrap();
        let mut archive = tar::Archive::new(&tar[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let h = entry.header();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            assert_eq!(h.mtime().unwrap(), 0, "{path}");
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0), "{path}");
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut body).unwrap();
            seen.push((
                path,
                entry.header().mode().unwrap(),
                entry.header().entry_type(),
                body,
            ));
        }
        use tar::EntryType::{Directory, Regular};
        assert_eq!(
            seen,
            vec![
                ("app/".to_string(), 0o755, Directory, vec![]),
                ("app/bin/".to_string(), 0o755, Directory, vec![]),
                (
                    "app/bin/job".to_string(),
                    0o755,
                    Regular,
                    b"binary".to_vec()
                ),
                ("app/data.json".to_string(), 0o644, Regular, b"{}".to_vec()),
            ]
        );
    }

    #[test]
    fn long_paths_survive() {
        let long = format!("/app/{}/job", "d".repeat(150));
        let tar = tar_of(&[File::new(long.clone(), b"x".to_vec(), 0o755)]).unwrap();
        let mut archive = tar::Archive::new(&tar[..]);
        let paths: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(paths.last().unwrap(), &long[1..]);
    }

    #[test]
    fn bad_layers_say_why() {
        let cases: Vec<(Vec<File>, &str)> = vec![
            (vec![], "at least one file"),
            (vec![File::new("/", b"x".to_vec(), 0o644)], "names no file"),
            (
                vec![File::new("/app/../etc/passwd", b"x".to_vec(), 0o644)],
                "`..`",
            ),
            (
                vec![
                    File::new("/a", b"1".to_vec(), 0o644),
                    File::new("/a", b"2".to_vec(), 0o644),
                ],
                "twice",
            ),
            (
                vec![
                    File::new("/a", b"1".to_vec(), 0o644),
                    File::new("/a/b", b"2".to_vec(), 0o644),
                ],
                "parent",
            ),
            (
                vec![File::new("/a", b"1".to_vec(), 0o100644)],
                "beyond permissions",
            ),
        ];
        for (files, says) in cases {
            let err = Layer::from_files(&files).unwrap_err().to_string();
            assert!(err.contains(says), "{files:?}: {err}");
        }
    }
}
