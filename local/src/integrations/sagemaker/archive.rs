//! `model.tar.gz` and `output.tar.gz`: SageMaker packs the contents of `/opt/ml/model`
//! (and `/opt/ml/output/data`) as one gzip'd tar with entries relative to that
//! directory, and a transform job unpacks `ModelDataUrl` into `/opt/ml/model`
//! (docs: your-algorithms-training-algo-output, your-algorithms-batch-code).
//!
//! Unpacking is path-traversal safe by construction: only regular files and
//! directories are created, each at a path made of plain components below the target
//! (`..`, absolute paths, symlinks, hard links and devices are skipped).

use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

/// Packs the contents of `dir` into a new `archive` (gzip'd tar). Symlinks are stored
/// as symlinks, not followed. Returns the number of entries written.
pub(crate) fn pack_dir(dir: &Path, archive: &Path) -> Result<usize, String> {
    let file =
        File::create(archive).map_err(|e| format!("cannot create {}: {e}", archive.display()))?;
    let encoder = GzEncoder::new(BufWriter::new(file), Compression::default());
    let mut builder = tar::Builder::new(encoder);
    builder.follow_symlinks(false);
    let mut count = 0usize;
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let absolute = dir.join(&relative);
        let mut children: Vec<_> = std::fs::read_dir(&absolute)
            .map_err(|e| format!("cannot list {}: {e}", absolute.display()))?
            .filter_map(|entry| entry.ok())
            .collect();
        children.sort_by_key(|e| e.file_name());
        // Reversed onto the stack, so directories are walked in name order.
        let mut subdirs = Vec::new();
        for child in children {
            let name = relative.join(child.file_name());
            let path = child.path();
            let kind = child
                .file_type()
                .map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
            if kind.is_dir() {
                builder
                    .append_dir(&name, &path)
                    .map_err(|e| format!("cannot pack {}: {e}", path.display()))?;
                subdirs.push(name);
            } else {
                builder
                    .append_path_with_name(&path, &name)
                    .map_err(|e| format!("cannot pack {}: {e}", path.display()))?;
            }
            count += 1;
        }
        pending.extend(subdirs.into_iter().rev());
    }
    let encoder = builder
        .into_inner()
        .map_err(|e| format!("cannot write {}: {e}", archive.display()))?;
    let writer = encoder
        .finish()
        .map_err(|e| format!("cannot write {}: {e}", archive.display()))?;
    writer
        .into_inner()
        .map_err(|e| format!("cannot write {}: {e}", archive.display()))?
        .sync_all()
        .map_err(|e| format!("cannot write {}: {e}", archive.display()))?;
    Ok(count)
}

/// Whether `dir` holds anything (a missing directory holds nothing).
pub(crate) fn has_entries(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false)
}

/// What [`unpack`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Unpacked {
    pub files: usize,
    /// Entries not created: unsafe paths, links, devices.
    pub skipped: Vec<String>,
}

/// Unpacks a gzip'd tar read from `reader` into `dir` (created if missing).
pub(crate) fn unpack<R: Read>(reader: R, dir: &Path) -> Result<Unpacked, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut archive = tar::Archive::new(GzDecoder::new(reader));
    let mut result = Unpacked::default();
    let entries = archive
        .entries()
        .map_err(|e| format!("not a gzip'd tar archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("not a gzip'd tar archive: {e}"))?;
        let raw = entry
            .path()
            .map_err(|e| format!("an entry has an unreadable path: {e}"))?
            .into_owned();
        let shown = raw.to_string_lossy().into_owned();
        let Some(relative) = plain_relative(&raw) else {
            result.skipped.push(shown);
            continue;
        };
        let target = dir.join(&relative);
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            std::fs::create_dir_all(&target)
                .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
        } else if kind.is_file() {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
            // A directory or file left by an earlier entry of the same name is replaced;
            // nothing here follows a link, since no link is ever created.
            let mut out = File::create(&target)
                .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
            std::io::copy(&mut entry, &mut out)
                .map_err(|e| format!("cannot extract {shown}: {e}"))?;
            result.files += 1;
        } else {
            result.skipped.push(shown);
        }
    }
    Ok(result)
}

/// The entry path as plain components (`./a/b` → `a/b`), or `None` if it is empty,
/// absolute, or climbs with `..`.
fn plain_relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    if out.as_os_str().is_empty() {
        None
    } else {
        Some(out)
    }
}

/// The entry names of a gzip'd tar, in order.
#[cfg(test)]
pub(crate) fn list_entries<R: Read>(reader: R) -> Result<Vec<String>, String> {
    let mut archive = tar::Archive::new(GzDecoder::new(reader));
    let mut names = Vec::new();
    for entry in archive
        .entries()
        .map_err(|e| format!("not a gzip'd tar archive: {e}"))?
    {
        let entry = entry.map_err(|e| format!("not a gzip'd tar archive: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("unreadable entry path: {e}"))?;
        names.push(path.to_string_lossy().into_owned());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn raw_tar(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        for (name, kind, data, link) in entries {
            let mut header = tar::Header::new_gnu();
            // Header::set_path refuses `..`; write the raw name bytes instead, as a
            // hostile archive would.
            {
                let gnu = header.as_gnu_mut().unwrap();
                gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            }
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            if let Some(link) = link {
                header.set_link_name(link).unwrap();
            }
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn packs_contents_with_relative_names_and_round_trips() {
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("model.json"), b"{\"w\": 1}").unwrap();
        std::fs::create_dir_all(src.path().join("sub/deeper")).unwrap();
        std::fs::write(src.path().join("sub/deeper/x.bin"), b"xyz").unwrap();
        let out = tempfile::tempdir().unwrap();
        let archive = out.path().join("model.tar.gz");
        assert_eq!(pack_dir(src.path(), &archive).unwrap(), 4);
        let names = list_entries(File::open(&archive).unwrap()).unwrap();
        assert_eq!(
            names,
            vec!["model.json", "sub", "sub/deeper", "sub/deeper/x.bin"]
        );
        let dst = out.path().join("unpacked");
        let unpacked = unpack(File::open(&archive).unwrap(), &dst).unwrap();
        assert_eq!(unpacked.files, 2);
        assert!(unpacked.skipped.is_empty());
        assert_eq!(std::fs::read(dst.join("sub/deeper/x.bin")).unwrap(), b"xyz");
    }

    #[test]
    fn packing_an_empty_dir_gives_an_empty_archive() {
        let src = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let archive = out.path().join("m.tar.gz");
        assert_eq!(pack_dir(src.path(), &archive).unwrap(), 0);
        assert!(list_entries(File::open(&archive).unwrap())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn packing_stores_symlinks_without_following_them() {
        let src = tempfile::tempdir().unwrap();
        let secret = tempfile::NamedTempFile::new().unwrap();
        writeln!(secret.as_file(), "outside").unwrap();
        std::os::unix::fs::symlink(secret.path(), src.path().join("link")).unwrap();
        let out = tempfile::tempdir().unwrap();
        let archive = out.path().join("m.tar.gz");
        pack_dir(src.path(), &archive).unwrap();
        let mut a = tar::Archive::new(GzDecoder::new(File::open(&archive).unwrap()));
        let entry = a.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.header().entry_type(), tar::EntryType::Symlink);
    }

    #[test]
    fn unpack_skips_parent_dir_and_absolute_entries() {
        let data = raw_tar(&[
            ("../evil.txt", tar::EntryType::Regular, b"x", None),
            ("/etc/evil.txt", tar::EntryType::Regular, b"x", None),
            ("a/../../evil.txt", tar::EntryType::Regular, b"x", None),
            ("./ok.txt", tar::EntryType::Regular, b"fine", None),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let dst = dir.path().join("model");
        let result = unpack(&data[..], &dst).unwrap();
        assert_eq!(result.files, 1);
        assert_eq!(result.skipped.len(), 3, "{:?}", result.skipped);
        assert_eq!(std::fs::read(dst.join("ok.txt")).unwrap(), b"fine");
        assert!(!dir.path().join("evil.txt").exists());
    }

    #[test]
    fn unpack_never_creates_links() {
        let data = raw_tar(&[
            ("link", tar::EntryType::Symlink, b"", Some("/etc")),
            ("link/passwd", tar::EntryType::Regular, b"x", None),
            ("hard", tar::EntryType::Link, b"", Some("/etc/passwd")),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let result = unpack(&data[..], dir.path()).unwrap();
        assert_eq!(result.skipped, vec!["link".to_string(), "hard".to_string()]);
        // `link` became a real directory holding a real file, nothing under /etc.
        assert!(dir.path().join("link").is_dir());
        assert!(!std::fs::symlink_metadata(dir.path().join("link"))
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn unpack_refuses_non_archives() {
        let dir = tempfile::tempdir().unwrap();
        let e = unpack(&b"plain text, not gzip"[..], dir.path()).unwrap_err();
        assert!(e.contains("not a gzip'd tar"), "{e}");
    }

    #[test]
    fn has_entries_of_missing_and_empty_dirs() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!has_entries(&dir.path().join("missing")));
        assert!(!has_entries(dir.path()));
        std::fs::write(dir.path().join("f"), b"").unwrap();
        assert!(has_entries(dir.path()));
    }

    #[test]
    fn plain_relative_paths() {
        assert_eq!(
            plain_relative(Path::new("./a/b")),
            Some(PathBuf::from("a/b"))
        );
        assert_eq!(plain_relative(Path::new(".")), None);
        assert_eq!(plain_relative(Path::new("a/../b")), None);
        assert_eq!(plain_relative(Path::new("/a")), None);
    }
}
