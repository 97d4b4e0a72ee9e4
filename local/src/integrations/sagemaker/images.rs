//! Which local command plays which container image.
//!
//! SageMaker runs `docker run <image> train` for training and `docker run <image>
//! serve` for batch transform (docs: your-algorithms-training-algo-dockerfile,
//! your-algorithms-batch-code). Locally there is no Docker: the runner's config maps
//! each image URI (or a prefix of it ending in `*`) to a command, and `train` or
//! `serve` is appended as its last argument, exactly where Docker would put it.
//!
//! ```json
//! [
//!   {"image": "123456789012.dkr.ecr.eu-central-1.amazonaws.com/ensemble-text:latest",
//!    "command": ["python3", "trainers/text.py"], "env": {"OMP_NUM_THREADS": "2"}},
//!   {"image": "123456789012.dkr.ecr.eu-central-1.amazonaws.com/*",
//!    "command": ["./containers/generic"], "cwd": "containers"}
//! ]
//! ```
//!
//! Relative paths are relative to the config file's directory: the program (the first
//! element, when it contains a `/`), every later argument that contains a `/`, and
//! `cwd`. A bare program name (`python3`) is looked up on `PATH` when the job starts.
//! An exact `image` wins over any prefix; among prefixes the longest wins.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One image's local stand-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageCommand {
    /// The image URI, or a prefix ending in `*`.
    pub image: String,
    /// Program and arguments; `train` / `serve` is appended when a job starts.
    pub command: Vec<String>,
    /// Set in the process environment, like a Dockerfile's `ENV`: the request's
    /// `Environment` and SageMaker's own variables override these.
    pub env: Vec<(String, String)>,
    /// The working directory; `None`: the job directory (the local `/opt/ml`).
    pub cwd: Option<PathBuf>,
}

impl ImageCommand {
    fn prefix(&self) -> Option<&str> {
        self.image.strip_suffix('*')
    }

    fn matches(&self, image: &str) -> bool {
        match self.prefix() {
            Some(prefix) => image.starts_with(prefix),
            None => self.image == image,
        }
    }
}

/// Maps a container image URI to the local command that plays it. Loaded from the
/// runner's config (JSON): `[{"image": "<exact URI or a prefix ending in *>",
/// "command": ["path/to/program", "arg"...], "env": {"K": "V"}, "cwd": "optional"}]`.
/// `train` / `serve` is appended as the last argument, as SageMaker runs
/// `docker run <image> train|serve`. An unmapped image is an error naming the image and
/// the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageMap {
    entries: Vec<ImageCommand>,
    /// Where the map came from, for error messages.
    source: Option<PathBuf>,
}

const KNOWN_KEYS: [&str; 4] = ["image", "command", "env", "cwd"];

impl ImageMap {
    /// Reads the map from its JSON form (an array of entries, or an object holding
    /// that array under `"images"`); relative paths resolve against `base_dir`.
    pub fn from_json(value: &Value, base_dir: &Path) -> Result<ImageMap, String> {
        // Commands run in their job directory: a relative base must not stay relative.
        let base_dir = &std::path::absolute(base_dir).unwrap_or_else(|_| base_dir.to_path_buf());
        let list = match value {
            Value::Array(list) => list,
            Value::Object(map) => match map.get("images") {
                Some(Value::Array(list)) => list,
                _ => {
                    return Err(
                        "the image map must be an array of {\"image\", \"command\"} entries \
                         (or an object with such an array under \"images\")"
                            .to_string(),
                    )
                }
            },
            other => {
                return Err(format!(
                "the image map must be an array of {{\"image\", \"command\"}} entries, not {other}"
            ))
            }
        };
        let mut entries = Vec::with_capacity(list.len());
        let mut seen = BTreeSet::new();
        for (index, entry) in list.iter().enumerate() {
            let parsed = parse_entry(entry, base_dir)
                .map_err(|e| format!("image map entry {index}: {e}"))?;
            if !seen.insert(parsed.image.clone()) {
                return Err(format!(
                    "image map entry {index}: the image {:?} is mapped twice",
                    parsed.image
                ));
            }
            entries.push(parsed);
        }
        Ok(ImageMap {
            entries,
            source: None,
        })
    }

    /// Reads the map from a JSON file; relative paths resolve against its directory.
    pub fn from_file(path: &Path) -> Result<ImageMap, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the image map {}: {e}", path.display()))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| format!("the image map {} is not JSON: {e}", path.display()))?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let map =
            ImageMap::from_json(&value, base).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(map.with_source(path))
    }

    /// Names the file the map came from in error messages.
    pub fn with_source(mut self, path: &Path) -> ImageMap {
        self.source = Some(path.to_path_buf());
        self
    }

    pub fn entries(&self) -> &[ImageCommand] {
        &self.entries
    }

    /// The command for `image`: an exact entry, else the longest matching prefix.
    pub fn resolve(&self, image: &str) -> Result<&ImageCommand, String> {
        if let Some(exact) = self
            .entries
            .iter()
            .find(|e| e.prefix().is_none() && e.image == image)
        {
            return Ok(exact);
        }
        self.entries
            .iter()
            .filter(|e| e.prefix().is_some() && e.matches(image))
            .max_by_key(|e| e.image.len())
            .ok_or_else(|| {
                let source = match &self.source {
                    Some(path) => format!("the image map in {}", path.display()),
                    None => "the runner's image map".to_string(),
                };
                format!(
                    "no local command is configured for the container image {image:?}: add \
                     {{\"image\": {image:?}, \"command\": [\"path/to/program\"]}} to {source} \
                     ({} entr{} configured)",
                    self.entries.len(),
                    if self.entries.len() == 1 { "y" } else { "ies" }
                )
            })
    }
}

fn parse_entry(entry: &Value, base_dir: &Path) -> Result<ImageCommand, String> {
    let Value::Object(map) = entry else {
        return Err(format!("must be an object, not {entry}"));
    };
    if let Some(unknown) = map.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
        return Err(format!(
            "unknown key {unknown:?} (known: image, command, env, cwd)"
        ));
    }
    let image = match map.get("image") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(other) => return Err(format!("\"image\" must be a non-empty string, not {other}")),
        None => return Err("\"image\" is missing".to_string()),
    };
    if image.trim_end_matches('*').contains('*') || image.ends_with("**") {
        return Err(format!(
            "\"image\" {image:?}: `*` is only allowed once, as the last character"
        ));
    }
    let command = match map.get("command") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                other => Err(format!(
                    "\"command\" must hold non-empty strings, not {other}"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => {
            return Err(format!(
                "\"command\" must be a non-empty array of strings, not {other}"
            ))
        }
        None => return Err("\"command\" is missing".to_string()),
    };
    let command = command
        .into_iter()
        .map(|arg| {
            if arg.contains('/') && Path::new(&arg).is_relative() {
                base_dir.join(&arg).to_string_lossy().into_owned()
            } else {
                arg
            }
        })
        .collect();
    let env = match map.get("env") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(vars)) => vars
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) if valid_env_name(k) => Ok((k.clone(), s.clone())),
                Value::String(_) => Err(format!(
                    "\"env\" key {k:?} is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)"
                )),
                other => Err(format!(
                    "\"env\" value of {k:?} must be a string, not {other}"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => return Err(format!("\"env\" must be an object of strings, not {other}")),
    };
    let cwd = match map.get("cwd") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => {
            let path = Path::new(s);
            Some(if path.is_relative() {
                base_dir.join(path)
            } else {
                path.to_path_buf()
            })
        }
        Some(other) => return Err(format!("\"cwd\" must be a non-empty string, not {other}")),
    };
    Ok(ImageCommand {
        image,
        command,
        env,
        cwd,
    })
}

/// An environment variable name as SageMaker accepts it in `Environment` maps.
pub(crate) fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> ImageMap {
        ImageMap::from_json(&value, Path::new("/etc/sfn")).unwrap()
    }

    fn err(value: Value) -> String {
        ImageMap::from_json(&value, Path::new("/etc/sfn")).unwrap_err()
    }

    #[test]
    fn exact_image_resolves() {
        let m = map(json!([{"image": "repo/text:1", "command": ["/bin/train"]}]));
        assert_eq!(
            m.resolve("repo/text:1").unwrap().command,
            vec!["/bin/train"]
        );
    }

    #[test]
    fn exact_beats_prefix_and_longest_prefix_wins() {
        let m = map(json!([
            {"image": "repo/*", "command": ["/a"]},
            {"image": "repo/text*", "command": ["/b"]},
            {"image": "repo/text:1", "command": ["/c"]},
        ]));
        assert_eq!(m.resolve("repo/text:1").unwrap().command, vec!["/c"]);
        assert_eq!(m.resolve("repo/text:2").unwrap().command, vec!["/b"]);
        assert_eq!(m.resolve("repo/image:2").unwrap().command, vec!["/a"]);
    }

    #[test]
    fn a_bare_star_matches_everything() {
        let m = map(json!([{"image": "*", "command": ["/any"]}]));
        assert_eq!(m.resolve("whatever").unwrap().command, vec!["/any"]);
    }

    #[test]
    fn unmapped_image_names_the_image_and_the_file() {
        let m = map(json!([{"image": "repo/a", "command": ["/a"]}]))
            .with_source(Path::new("/etc/sfn/runner.json"));
        let e = m.resolve("repo/b").unwrap_err();
        assert!(e.contains("\"repo/b\""), "{e}");
        assert!(e.contains("/etc/sfn/runner.json"), "{e}");
        assert!(e.contains("1 entry configured"), "{e}");
    }

    #[test]
    fn unmapped_image_without_a_file_still_says_where_to_add_it() {
        let e = ImageMap::default().resolve("x").unwrap_err();
        assert!(e.contains("the runner's image map"), "{e}");
        assert!(e.contains("0 entries"), "{e}");
    }

    #[test]
    fn relative_paths_resolve_against_the_base_dir() {
        let m = map(json!([{
            "image": "i", "command": ["bin/train", "python3", "scripts/x.py", "--flag", "/abs/y"],
            "cwd": "work"
        }]));
        let c = m.resolve("i").unwrap();
        assert_eq!(
            c.command,
            vec![
                "/etc/sfn/bin/train",
                "python3",
                "/etc/sfn/scripts/x.py",
                "--flag",
                "/abs/y"
            ]
        );
        assert_eq!(c.cwd.as_deref(), Some(Path::new("/etc/sfn/work")));
    }

    #[test]
    fn bare_program_names_are_left_for_path_lookup() {
        let m = map(json!([{"image": "i", "command": ["python3"]}]));
        assert_eq!(m.resolve("i").unwrap().command, vec!["python3"]);
    }

    #[test]
    fn env_is_read() {
        let m = map(json!([{"image": "i", "command": ["/p"], "env": {"A": "1", "B_2": "x"}}]));
        let env = &m.resolve("i").unwrap().env;
        assert!(env.contains(&("A".to_string(), "1".to_string())));
        assert!(env.contains(&("B_2".to_string(), "x".to_string())));
    }

    #[test]
    fn an_object_with_images_is_accepted() {
        let m = map(json!({"images": [{"image": "i", "command": ["/p"]}]}));
        assert_eq!(m.entries().len(), 1);
    }

    #[test]
    fn malformed_maps_are_refused_with_the_entry_index() {
        assert!(err(json!("x")).contains("must be an array"));
        assert!(err(json!({"other": []})).contains("must be an array"));
        assert!(err(json!([1])).contains("entry 0: must be an object"));
        assert!(err(json!([{"command": ["/p"]}])).contains("\"image\" is missing"));
        assert!(err(json!([{"image": "", "command": ["/p"]}])).contains("non-empty string"));
        assert!(err(json!([{"image": "i"}])).contains("\"command\" is missing"));
        assert!(err(json!([{"image": "i", "command": []}])).contains("non-empty array"));
        assert!(err(json!([{"image": "i", "command": [1]}])).contains("non-empty strings"));
        assert!(
            err(json!([{"image": "i", "command": ["/p"], "env": {"A": 1}}]))
                .contains("must be a string")
        );
        assert!(
            err(json!([{"image": "i", "command": ["/p"], "env": {"1A": "x"}}]))
                .contains("not a valid variable name")
        );
        assert!(err(json!([{"image": "i", "command": ["/p"], "env": []}])).contains("object"));
        assert!(err(json!([{"image": "i", "command": ["/p"], "cwd": 3}])).contains("\"cwd\""));
        assert!(err(json!([{"image": "i", "command": ["/p"], "comand": 3}]))
            .contains("unknown key \"comand\""));
        assert!(err(json!([{"image": "a*b", "command": ["/p"]}])).contains("only allowed once"));
        assert!(err(json!([{"image": "a**", "command": ["/p"]}])).contains("only allowed once"));
        let twice = err(json!([
            {"image": "i", "command": ["/p"]},
            {"image": "i", "command": ["/q"]}
        ]));
        assert!(
            twice.contains("entry 1") && twice.contains("mapped twice"),
            "{twice}"
        );
    }

    #[test]
    fn from_file_reads_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("images.json");
        std::fs::write(&path, r#"[{"image": "i", "command": ["bin/x"]}]"#).unwrap();
        let m = ImageMap::from_file(&path).unwrap();
        assert_eq!(
            m.resolve("i").unwrap().command[0],
            dir.path().join("bin/x").to_string_lossy()
        );
        assert!(m.resolve("j").unwrap_err().contains("images.json"));
        std::fs::write(&path, "not json").unwrap();
        assert!(ImageMap::from_file(&path)
            .unwrap_err()
            .contains("is not JSON"));
        assert!(ImageMap::from_file(&dir.path().join("missing.json"))
            .unwrap_err()
            .contains("cannot read"));
    }

    #[test]
    fn env_names() {
        assert!(valid_env_name("A"));
        assert!(valid_env_name("_a1"));
        assert!(!valid_env_name(""));
        assert!(!valid_env_name("1a"));
        assert!(!valid_env_name("A-B"));
    }

    #[test]
    fn a_relative_base_gives_absolute_commands() {
        let map = ImageMap::from_json(
            &json!([{"image": "i", "command": ["trainers/run.sh", "x/y"], "cwd": "work"}]),
            Path::new("project"),
        )
        .unwrap();
        let entry = &map.entries()[0];
        let here = std::env::current_dir().unwrap();
        assert_eq!(
            entry.command,
            [
                here.join("project/trainers/run.sh").to_string_lossy(),
                here.join("project/x/y").to_string_lossy()
            ]
        );
        assert_eq!(
            entry.cwd.as_deref(),
            Some(here.join("project/work").as_path())
        );
    }
}
