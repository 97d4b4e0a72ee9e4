//! Channels (File mode: `input/data/<channel>`, the S3 prefix's objects as files,
//! developer guide your-algorithms-training-algo-running-container) read as JSON
//! Lines, and the model directory written by `train` and read by `serve`.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{MlRoot, TrainError};

/// Whether the channel directory exists (for optional channels).
pub fn has_channel(root: &MlRoot, channel: &str) -> bool {
    root.channel_dir(channel).is_dir()
}

/// Every record of every regular file under the channel directory (recursively,
/// sorted by path, blank lines skipped). Errors: missing channel dir -> Channel; no
/// records -> Channel; bad line -> Record{file: `<channel>/<relative path>`, line
/// (1-based)}.
pub fn read_channel<T: DeserializeOwned>(
    root: &MlRoot,
    channel: &str,
) -> Result<Vec<T>, TrainError> {
    let dir = root.channel_dir(channel);
    if !dir.is_dir() {
        return Err(TrainError::Channel {
            channel: channel.to_string(),
            message: format!("missing: no directory {}", dir.display()),
        });
    }
    let mut files = Vec::new();
    collect_files(&dir, &mut files)?;
    // Sorted by the path relative to the channel, so the order is the S3 keys' order
    // whatever order the filesystem lists them in.
    files.sort();
    let mut records = Vec::new();
    for path in &files {
        let relative = path.strip_prefix(&dir).unwrap_or(path);
        let name = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        read_file(path, &format!("{channel}/{name}"), &mut records)?;
    }
    if records.is_empty() {
        return Err(TrainError::Channel {
            channel: channel.to_string(),
            message: format!(
                "no records in {} file(s) under {}",
                files.len(),
                dir.display()
            ),
        });
    }
    Ok(records)
}

/// Regular files under `dir`, recursively. Symbolic links to files count; links to
/// directories are not followed (a link cycle cannot loop).
fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), TrainError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| TrainError::io(format!("listing {}", dir.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| TrainError::io(format!("listing {}", dir.display()), e))?;
        let path = entry.path();
        let file_type = entry
            .file_type()
            .map_err(|e| TrainError::io(format!("inspecting {}", path.display()), e))?;
        if file_type.is_dir() {
            collect_files(&path, files)?;
        } else if file_type.is_file()
            || (file_type.is_symlink() && std::fs::metadata(&path).is_ok_and(|m| m.is_file()))
        {
            files.push(path);
        }
    }
    Ok(())
}

fn read_file<T: DeserializeOwned>(
    path: &Path,
    name: &str,
    records: &mut Vec<T>,
) -> Result<(), TrainError> {
    let file = std::fs::File::open(path)
        .map_err(|e| TrainError::io(format!("reading {}", path.display()), e))?;
    let mut reader = std::io::BufReader::new(file);
    let mut buffer = Vec::new();
    let mut line = 0usize;
    loop {
        buffer.clear();
        let n = reader
            .read_until(b'\n', &mut buffer)
            .map_err(|e| TrainError::io(format!("reading {}", path.display()), e))?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        if buffer.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record = serde_json::from_slice(&buffer).map_err(|e| TrainError::Record {
            file: name.to_string(),
            line,
            message: e.to_string(),
        })?;
        records.push(record);
    }
}

/// Writes `model` as JSON to `<model dir>/<file_name>`, creating the directory.
pub fn save_model<T: Serialize>(
    root: &MlRoot,
    file_name: &str,
    model: &T,
) -> Result<(), TrainError> {
    let dir = root.model_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| TrainError::io(format!("creating {}", dir.display()), e))?;
    let path = dir.join(file_name);
    let bytes = serde_json::to_vec(model)
        .map_err(|e| TrainError::Model(format!("cannot serialise {file_name}: {e}")))?;
    std::fs::write(&path, bytes)
        .map_err(|e| TrainError::io(format!("writing {}", path.display()), e))
}

/// Reads `<model_dir>/<file_name>` written by [`save_model`].
pub fn load_model<T: DeserializeOwned>(model_dir: &Path, file_name: &str) -> Result<T, TrainError> {
    let path = model_dir.join(file_name);
    let file = std::fs::File::open(&path)
        .map_err(|e| TrainError::io(format!("reading {}", path.display()), e))?;
    serde_json::from_reader(std::io::BufReader::new(file))
        .map_err(|e| TrainError::Model(format!("{} is not a valid model: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Rec {
        id: u32,
    }

    fn root_with(files: &[(&str, &str)]) -> (tempfile::TempDir, MlRoot) {
        let dir = tempfile::tempdir().unwrap();
        let root = MlRoot::at(dir.path());
        for (path, text) in files {
            let path = root.channel_dir("train").join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        (dir, root)
    }

    #[test]
    fn reads_recursively_sorted_skipping_blank_lines() {
        let (_dir, root) = root_with(&[
            ("b.jsonl", "{\"id\": 3}\n"),
            ("a/z.jsonl", "{\"id\": 1}\n\n   \r\n{\"id\": 2}"),
            ("c/d/e.jsonl", "\n{\"id\": 4}\r\n"),
        ]);
        let records: Vec<Rec> = read_channel(&root, "train").unwrap();
        assert_eq!(
            records.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert!(has_channel(&root, "train"));
        assert!(!has_channel(&root, "validation"));
    }

    #[test]
    fn a_bad_line_names_the_file_and_the_line() {
        let (_dir, root) = root_with(&[
            ("a.jsonl", "{\"id\": 1}\n"),
            ("sub/b.jsonl", "{\"id\": 2}\n\n{\"id\": \"x\"}\n"),
        ]);
        let err = read_channel::<Rec>(&root, "train").unwrap_err();
        match &err {
            TrainError::Record { file, line, .. } => {
                assert_eq!(file, "train/sub/b.jsonl");
                assert_eq!(*line, 3);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with("train/sub/b.jsonl:3: invalid type"),
            "{err}"
        );

        let (_dir, root) = root_with(&[("a.jsonl", "{\"id\": 1}\nnot json\n")]);
        let err = read_channel::<Rec>(&root, "train").unwrap_err();
        assert!(err.to_string().starts_with("train/a.jsonl:2: "), "{err}");

        let (_dir, root) = root_with(&[("a.jsonl", "{\"other\": 1}\n")]);
        let err = read_channel::<Rec>(&root, "train").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("train/a.jsonl:1: missing field `id`"),
            "{err}"
        );
    }

    #[test]
    fn missing_and_empty_channels() {
        let (dir, root) = root_with(&[]);
        let err = read_channel::<Rec>(&root, "validation").unwrap_err();
        assert!(
            matches!(&err, TrainError::Channel { channel, .. } if channel == "validation"),
            "{err:?}"
        );
        assert!(
            err.to_string().starts_with("channel `validation`: missing"),
            "{err}"
        );

        std::fs::create_dir_all(dir.path().join("input/data/train/sub")).unwrap();
        std::fs::write(dir.path().join("input/data/train/sub/a.jsonl"), "\n\n").unwrap();
        let err = read_channel::<Rec>(&root, "train").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("channel `train`: no records in 1 file(s) under "),
            "{err}"
        );
    }

    #[test]
    fn models_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let root = MlRoot::at(dir.path().join("ml"));
        save_model(&root, "model.json", &vec![1.5, 2.5]).unwrap();
        let back: Vec<f64> = load_model(&root.model_dir(), "model.json").unwrap();
        assert_eq!(back, vec![1.5, 2.5]);

        let err = load_model::<Vec<f64>>(&root.model_dir(), "absent.json").unwrap_err();
        assert!(matches!(err, TrainError::Io { .. }), "{err:?}");
        std::fs::write(root.model_dir().join("bad.json"), "{").unwrap();
        let err = load_model::<Vec<f64>>(&root.model_dir(), "bad.json").unwrap_err();
        assert!(err.to_string().starts_with("model: "), "{err}");
    }
}
