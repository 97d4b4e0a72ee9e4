//! `s3://bucket/key` URIs: parsing with the S3 bucket-naming rules, and prefixes.

use std::fmt;

use crate::error::FunctionError;

/// A parsed `s3://bucket/key` URI. `key` may be empty (the whole bucket) and, for a
/// prefix, ends with `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct S3Uri {
    pub bucket: String,
    pub key: String,
}

impl S3Uri {
    /// Parses `uri`; `path` names the field in errors.
    pub fn parse(path: &str, uri: &str) -> Result<S3Uri, FunctionError> {
        let rest = uri.strip_prefix("s3://").ok_or_else(|| {
            FunctionError::invalid(
                path,
                format!("must be an s3://bucket/prefix URI, got {uri:?}"),
            )
        })?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        validate_bucket_name(bucket).map_err(|problem| {
            FunctionError::invalid(path, format!("bucket {bucket:?} {problem}"))
        })?;
        if key.len() > 1024 {
            return Err(FunctionError::invalid(
                path,
                "the key is longer than S3's 1,024 bytes",
            ));
        }
        if key.contains("//") {
            return Err(FunctionError::invalid(
                path,
                format!("{uri:?} has an empty path segment (`//`)"),
            ));
        }
        if key.chars().any(|c| c.is_control()) {
            return Err(FunctionError::invalid(
                path,
                "the key holds control characters",
            ));
        }
        Ok(S3Uri {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// Parses a prefix: the result's key is empty or ends with `/`, so that
    /// `s3://b/data` cannot also match `s3://b/database/...`.
    pub fn parse_prefix(path: &str, uri: &str) -> Result<S3Uri, FunctionError> {
        let mut parsed = S3Uri::parse(path, uri)?;
        if !parsed.key.is_empty() && !parsed.key.ends_with('/') {
            parsed.key.push('/');
        }
        Ok(parsed)
    }

    /// This prefix extended by `suffix` (which should end in `/` for a prefix).
    pub fn join(&self, suffix: &str) -> S3Uri {
        S3Uri {
            bucket: self.bucket.clone(),
            key: format!("{}{}", self.key, suffix),
        }
    }

    /// Whether `other` lies inside this prefix (same bucket, key starts with ours).
    pub fn contains(&self, other: &S3Uri) -> bool {
        self.bucket == other.bucket && other.key.starts_with(&self.key)
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// The general-purpose bucket naming rules: 3-63 characters of lowercase letters,
/// digits, dots and hyphens, starting and ending with a letter or digit, no `..`,
/// not shaped like an IP address.
pub fn validate_bucket_name(bucket: &str) -> Result<(), &'static str> {
    if !(3..=63).contains(&bucket.len()) {
        return Err("must be 3 to 63 characters long");
    }
    if !bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Err("may hold only lowercase letters, digits, dots and hyphens");
    }
    let edge_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !edge_ok(bucket.bytes().next()) || !edge_ok(bucket.bytes().last()) {
        return Err("must start and end with a letter or digit");
    }
    if bucket.contains("..") {
        return Err("must not contain two adjacent dots");
    }
    if bucket.split('.').count() == 4 && bucket.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Err("must not be formatted as an IP address");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_and_key() {
        let uri = S3Uri::parse("$.x", "s3://my-bucket/a/b.txt").unwrap();
        assert_eq!(uri.bucket, "my-bucket");
        assert_eq!(uri.key, "a/b.txt");
        assert_eq!(uri.to_string(), "s3://my-bucket/a/b.txt");
    }

    #[test]
    fn prefixes_end_with_a_slash() {
        assert_eq!(
            S3Uri::parse_prefix("$", "s3://bkt/data").unwrap().key,
            "data/"
        );
        assert_eq!(
            S3Uri::parse_prefix("$", "s3://bkt/data/").unwrap().key,
            "data/"
        );
        assert_eq!(S3Uri::parse_prefix("$", "s3://bkt").unwrap().key, "");
        assert_eq!(S3Uri::parse_prefix("$", "s3://bkt/").unwrap().key, "");
    }

    #[test]
    fn containment_respects_segment_boundaries() {
        let data = S3Uri::parse_prefix("$", "s3://bkt/data").unwrap();
        assert!(data.contains(&S3Uri::parse("$", "s3://bkt/data/x").unwrap()));
        assert!(!data.contains(&S3Uri::parse("$", "s3://bkt/database/x").unwrap()));
        assert!(!data.contains(&S3Uri::parse("$", "s3://other/data/x").unwrap()));
    }

    #[test]
    fn bad_uris_name_the_field() {
        for (uri, needle) in [
            ("https://bkt/x", "must be an s3://bucket/prefix URI"),
            ("s3://", "must be 3 to 63 characters"),
            ("s3://My_Bucket/x", "lowercase letters"),
            ("s3://-bkt/x", "start and end"),
            ("s3://a..b/x", "adjacent dots"),
            ("s3://192.168.1.1/x", "IP address"),
            ("s3://bkt/a//b", "empty path segment"),
        ] {
            let err = S3Uri::parse("$.input_data", uri).unwrap_err();
            assert!(err.message.starts_with("$.input_data: "), "{}", err.message);
            assert!(err.message.contains(needle), "{uri}: {}", err.message);
        }
        let long = format!("s3://bkt/{}", "k".repeat(1025));
        assert!(S3Uri::parse("$", &long).is_err());
    }
}
