//! The S3 side of a job: parsing `s3://` URIs, listing a prefix, downloading and
//! uploading, and the key arithmetic SageMaker applies between input prefixes, local
//! files and output prefixes.

use std::path::{Path, PathBuf};

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use tokio::io::AsyncWriteExt;

/// `s3://bucket/key`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct S3Uri {
    pub bucket: String,
    pub key: String,
}

impl S3Uri {
    /// Parses `s3://bucket[/key]`. SageMaker also accepts `https://` URLs; locally
    /// only `s3://` has a meaning.
    pub fn parse(uri: &str) -> Option<S3Uri> {
        let rest = uri.strip_prefix("s3://")?;
        let (bucket, key) = match rest.split_once('/') {
            Some((bucket, key)) => (bucket, key),
            None => (rest, ""),
        };
        if bucket.is_empty() {
            return None;
        }
        Some(S3Uri {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    pub fn child(&self, relative: &str) -> S3Uri {
        S3Uri {
            bucket: self.bucket.clone(),
            key: join_key(&self.key, relative),
        }
    }
}

impl std::fmt::Display for S3Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// `prefix` + `/` + `rest`, with exactly one slash between them (none if the prefix
/// is empty): `{S3OutputPath}/{TrainingJobName}/output/model.tar.gz` must not become
/// `models//name/...` when the output path ends in a slash.
pub(crate) fn join_key(prefix: &str, rest: &str) -> String {
    let rest = rest.trim_start_matches('/');
    if prefix.is_empty() {
        rest.to_string()
    } else if prefix.ends_with('/') {
        format!("{prefix}{rest}")
    } else {
        format!("{prefix}/{rest}")
    }
}

/// Where an object under an input prefix lands, relative to the channel directory
/// (training) or the output prefix (transform, plus `.out`). Sub-paths below the
/// prefix are kept; an object named exactly by the URI keeps its file name; a prefix
/// that ends mid-name (`data/train` matching `data/train.csv`) counts from its last
/// `/`. `None` for keys that name no file (directory markers ending in `/`) or whose
/// segments would leave the directory (`..`, `.`).
pub(crate) fn relative_key(prefix: &str, key: &str) -> Option<String> {
    let rest = key.strip_prefix(prefix)?;
    let relative = if rest.is_empty() {
        key.rsplit('/').next().unwrap_or(key)
    } else if prefix.is_empty() || prefix.ends_with('/') {
        rest
    } else if let Some(below) = rest.strip_prefix('/') {
        below
    } else {
        let dir_len = prefix.rfind('/').map(|i| i + 1).unwrap_or(0);
        key.get(dir_len..)?
    };
    safe_relative_path(relative)
}

/// `a/b/c` with empty segments dropped, or `None` if it is empty, names a directory,
/// or has a `.`/`..` segment.
pub(crate) fn safe_relative_path(path: &str) -> Option<String> {
    if path.is_empty() || path.ends_with('/') {
        return None;
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.is_empty() || segments.iter().any(|s| *s == "." || *s == "..") {
        return None;
    }
    Some(segments.join("/"))
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub key: String,
    pub size: u64,
}

fn sdk_error<E: std::error::Error>(what: &str, e: E) -> String {
    format!("{what}: {}", DisplayErrorContext(e))
}

/// Every object under `prefix`, in key order (ListObjectsV2 returns keys sorted).
pub(crate) async fn list(client: &Client, uri: &S3Uri) -> Result<Vec<Listed>, String> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket(&uri.bucket)
            .prefix(&uri.key)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| sdk_error(&format!("ListObjectsV2 on {uri}"), e))?;
        for object in page.contents() {
            if let Some(key) = object.key() {
                out.push(Listed {
                    key: key.to_string(),
                    size: object
                        .size()
                        .and_then(|s| u64::try_from(s).ok())
                        .unwrap_or(0),
                });
            }
        }
        match (page.is_truncated(), page.next_continuation_token()) {
            (Some(true), Some(next)) => token = Some(next.to_string()),
            _ => break,
        }
    }
    Ok(out)
}

/// Streams one object into `path` (parents created). Returns the bytes written.
pub(crate) async fn download(
    client: &Client,
    bucket: &str,
    key: &str,
    path: &Path,
) -> Result<u64, String> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("GetObject s3://{bucket}/{key}"), e))?;
    let mut body = object.body;
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let mut written = 0u64;
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| format!("reading s3://{bucket}/{key}: {e}"))?
    {
        file.write_all(&chunk)
            .await
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        written += chunk.len() as u64;
    }
    file.flush()
        .await
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(written)
}

/// One object's bytes.
pub(crate) async fn get_bytes(client: &Client, uri: &S3Uri) -> Result<Vec<u8>, String> {
    let object = client
        .get_object()
        .bucket(&uri.bucket)
        .key(&uri.key)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("GetObject {uri}"), e))?;
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| format!("reading {uri}: {e}"))?;
    Ok(bytes.into_bytes().to_vec())
}

/// Whether an object exists (HeadObject answers 2xx).
pub(crate) async fn exists(client: &Client, uri: &S3Uri) -> Result<bool, String> {
    match client
        .head_object()
        .bucket(&uri.bucket)
        .key(&uri.key)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) => {
            let not_found = e
                .as_service_error()
                .map(|s| s.is_not_found())
                .unwrap_or(false)
                || e.raw_response().map(|r| r.status().as_u16()) == Some(404);
            if not_found {
                Ok(false)
            } else {
                Err(sdk_error(&format!("HeadObject {uri}"), e))
            }
        }
    }
}

pub(crate) async fn upload_file(client: &Client, uri: &S3Uri, path: &Path) -> Result<(), String> {
    let body = ByteStream::from_path(path)
        .await
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    client
        .put_object()
        .bucket(&uri.bucket)
        .key(&uri.key)
        .body(body)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("PutObject {uri}"), e))?;
    Ok(())
}

pub(crate) async fn put_bytes(client: &Client, uri: &S3Uri, bytes: Vec<u8>) -> Result<(), String> {
    client
        .put_object()
        .bucket(&uri.bucket)
        .key(&uri.key)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map_err(|e| sdk_error(&format!("PutObject {uri}"), e))?;
    Ok(())
}

/// `dir` joined with a relative path produced by [`safe_relative_path`].
pub(crate) fn local_path(dir: &Path, relative: &str) -> PathBuf {
    relative
        .split('/')
        .fold(dir.to_path_buf(), |p, s| p.join(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_uris() {
        assert_eq!(
            S3Uri::parse("s3://b/a/b/").unwrap(),
            S3Uri {
                bucket: "b".into(),
                key: "a/b/".into()
            }
        );
        assert_eq!(S3Uri::parse("s3://b").unwrap().key, "");
        assert_eq!(S3Uri::parse("s3://b/").unwrap().key, "");
        assert!(S3Uri::parse("s3:///k").is_none());
        assert!(S3Uri::parse("https://b.s3.amazonaws.com/k").is_none());
        assert!(S3Uri::parse("b/k").is_none());
        assert_eq!(S3Uri::parse("s3://b/k").unwrap().to_string(), "s3://b/k");
    }

    #[test]
    fn join_key_puts_exactly_one_slash() {
        assert_eq!(
            join_key("models/text/", "job/output/model.tar.gz"),
            "models/text/job/output/model.tar.gz"
        );
        assert_eq!(join_key("models/text", "job"), "models/text/job");
        assert_eq!(join_key("", "job"), "job");
        assert_eq!(join_key("a/", "/b"), "a/b");
        let uri = S3Uri::parse("s3://b/out").unwrap();
        assert_eq!(uri.child("x.out").to_string(), "s3://b/out/x.out");
    }

    #[test]
    fn relative_key_keeps_sub_paths_below_a_slash_prefix() {
        assert_eq!(
            relative_key("data/train/", "data/train/a.csv").as_deref(),
            Some("a.csv")
        );
        assert_eq!(
            relative_key("data/train/", "data/train/part/1/b.csv").as_deref(),
            Some("part/1/b.csv")
        );
    }

    #[test]
    fn relative_key_for_an_exact_object_is_its_file_name() {
        // The connect-sagemaker transform example points S3Uri at a single object.
        assert_eq!(
            relative_key(
                "bucket-dir/TransformJobDataInput.txt",
                "bucket-dir/TransformJobDataInput.txt"
            )
            .as_deref(),
            Some("TransformJobDataInput.txt")
        );
        assert_eq!(
            relative_key("top.txt", "top.txt").as_deref(),
            Some("top.txt")
        );
    }

    #[test]
    fn relative_key_for_a_prefix_without_slash() {
        assert_eq!(
            relative_key("data/train", "data/train/a.csv").as_deref(),
            Some("a.csv")
        );
        assert_eq!(
            relative_key("data/train", "data/train.csv").as_deref(),
            Some("train.csv")
        );
        assert_eq!(
            relative_key("data/tr", "data/train/x").as_deref(),
            Some("train/x")
        );
        assert_eq!(relative_key("tr", "train/x").as_deref(), Some("train/x"));
        assert_eq!(relative_key("", "a/b").as_deref(), Some("a/b"));
    }

    #[test]
    fn relative_key_refuses_directories_and_escapes() {
        assert_eq!(relative_key("d/", "d/sub/"), None);
        assert_eq!(relative_key("d/", "d/../x"), None);
        assert_eq!(relative_key("d/", "d/./x"), None);
        assert_eq!(relative_key("d/", "e/x"), None);
        assert_eq!(relative_key("d/", "d//x").as_deref(), Some("x"));
    }

    #[test]
    fn safe_relative_paths() {
        assert_eq!(safe_relative_path("a//b").as_deref(), Some("a/b"));
        assert_eq!(safe_relative_path("/a").as_deref(), Some("a"));
        assert_eq!(safe_relative_path(""), None);
        assert_eq!(safe_relative_path("//"), None);
        assert_eq!(safe_relative_path("a/.."), None);
    }

    #[test]
    fn local_paths_nest() {
        assert_eq!(local_path(Path::new("/d"), "a/b"), Path::new("/d/a/b"));
    }
}
