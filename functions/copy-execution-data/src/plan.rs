//! The pure decisions of a copy: part plans, key mapping, `copy_source` encoding and
//! content identity. No I/O here.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

pub const MIB: u64 = 1024 * 1024;
pub const GIB: u64 = 1024 * MIB;
/// S3's multipart limits (UploadPartCopy): parts of 5 MiB to 5 GiB (the last part
/// may be smaller), at most 10,000 parts.
pub const MIN_PART_SIZE: u64 = 5 * MIB;
pub const MAX_PART_SIZE: u64 = 5 * GIB;
pub const MAX_PARTS: u64 = 10_000;
/// S3's largest object.
pub const MAX_OBJECT_SIZE: u64 = 5 * 1024 * GIB;
/// S3's longest key, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// The user-metadata key (header `x-amz-meta-source-etag`) recording the source's
/// ETag when the copy's own ETag will differ from it.
pub const SOURCE_ETAG_METADATA: &str = "source-etag";

/// How an object of `object_size` bytes is split into parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartPlan {
    pub object_size: u64,
    pub part_size: u64,
    pub parts: u64,
}

/// One part: S3 part numbers start at 1; `first..=last` is the inclusive byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub number: i32,
    pub first: u64,
    pub last: u64,
}

impl Part {
    /// The `x-amz-copy-source-range` value.
    pub fn range_header(&self) -> String {
        format!("bytes={}-{}", self.first, self.last)
    }
}

impl PartPlan {
    /// Plans parts of `preferred_part_size` (clamped to 5 MiB..5 GiB), raised in whole
    /// MiB when the object would otherwise need more than 10,000 parts.
    pub fn new(object_size: u64, preferred_part_size: u64) -> Result<PartPlan, String> {
        if object_size == 0 {
            return Err("an empty object has no parts".to_string());
        }
        if object_size > MAX_OBJECT_SIZE {
            return Err(format!(
                "{object_size} bytes is larger than S3's 5 TiB object limit"
            ));
        }
        let needed = object_size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
        let part_size = preferred_part_size
            .clamp(MIN_PART_SIZE, MAX_PART_SIZE)
            .max(needed);
        let parts = object_size.div_ceil(part_size);
        Ok(PartPlan {
            object_size,
            part_size,
            parts,
        })
    }

    /// The parts in order, computed lazily (a plan can hold 10,000 of them).
    pub fn parts(&self) -> impl Iterator<Item = Part> + Send + 'static {
        let PartPlan {
            object_size,
            part_size,
            parts,
        } = *self;
        (0..parts).map(move |index| {
            let first = index * part_size;
            Part {
                // parts <= MAX_PARTS, so the number always fits.
                number: i32::try_from(index + 1).unwrap_or(i32::MAX),
                first,
                last: (first + part_size).min(object_size) - 1,
            }
        })
    }
}

/// The destination key of `source_key`: the destination prefix plus the part of the
/// key below the source prefix. None if the key is not under the source prefix.
pub fn destination_key(
    source_prefix: &str,
    destination_prefix: &str,
    source_key: &str,
) -> Option<String> {
    source_key
        .strip_prefix(source_prefix)
        .map(|rest| format!("{destination_prefix}{rest}"))
}

/// Everything but RFC 3986 unreserved characters is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The `x-amz-copy-source` value: `bucket/key` with every path segment of the key
/// percent-encoded. aws-sdk-s3 sends the string as is, and S3 decodes it, so a raw
/// `+`, space, `%` or non-ASCII character would name another key or fail.
pub fn copy_source(bucket: &str, key: &str) -> String {
    let encoded: Vec<String> = key
        .split('/')
        .map(|segment| utf8_percent_encode(segment, SEGMENT).to_string())
        .collect();
    format!("{bucket}/{}", encoded.join("/"))
}

/// An ETag without its surrounding quotes (S3 returns `"abc"`; some tools strip them).
pub fn bare_etag(etag: &str) -> &str {
    etag.trim_matches('"')
}

/// A multipart upload's ETag (`<hash>-<parts>`) is not an MD5 of the content, and a
/// CopyObject of such an object gets a new ETag.
pub fn is_multipart_etag(etag: &str) -> bool {
    bare_etag(etag).contains('-')
}

/// What is already at the destination key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub size: u64,
    pub etag: Option<String>,
    /// The `source-etag` user metadata, if any.
    pub source_etag: Option<String>,
}

/// Whether the destination already holds the source's content: same size, and either
/// the same ETag (a single-part CopyObject keeps it) or the recorded source ETag (a
/// multipart copy gets its own). An unknown source ETag never matches.
pub fn same_content(source_size: u64, source_etag: &str, existing: &Existing) -> bool {
    let source_etag = bare_etag(source_etag);
    if source_etag.is_empty() || existing.size != source_size {
        return false;
    }
    let matches = |etag: &Option<String>| etag.as_deref().map(bare_etag) == Some(source_etag);
    matches(&existing.etag) || matches(&existing.source_etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_objects_use_the_preferred_part_size() {
        let plan = PartPlan::new(12 * MIB, 5 * MIB).unwrap();
        assert_eq!(plan.part_size, 5 * MIB);
        assert_eq!(plan.parts, 3);
        let parts: Vec<Part> = plan.parts().collect();
        assert_eq!(
            parts,
            vec![
                Part {
                    number: 1,
                    first: 0,
                    last: 5 * MIB - 1
                },
                Part {
                    number: 2,
                    first: 5 * MIB,
                    last: 10 * MIB - 1
                },
                Part {
                    number: 3,
                    first: 10 * MIB,
                    last: 12 * MIB - 1
                },
            ]
        );
        assert_eq!(
            parts[2].range_header(),
            format!("bytes={}-{}", 10 * MIB, 12 * MIB - 1)
        );
    }

    #[test]
    fn an_exact_multiple_has_no_empty_tail() {
        let plan = PartPlan::new(10 * MIB, 5 * MIB).unwrap();
        assert_eq!(plan.parts, 2);
        assert_eq!(plan.parts().last().unwrap().last, 10 * MIB - 1);
        let one = PartPlan::new(1, 5 * MIB).unwrap();
        assert_eq!(
            one.parts().collect::<Vec<_>>(),
            vec![Part {
                number: 1,
                first: 0,
                last: 0
            }]
        );
    }

    #[test]
    fn the_preferred_size_is_clamped_to_s3_limits() {
        assert_eq!(
            PartPlan::new(100 * MIB, 1).unwrap().part_size,
            MIN_PART_SIZE
        );
        assert_eq!(
            PartPlan::new(100 * GIB, 100 * GIB).unwrap().part_size,
            MAX_PART_SIZE
        );
    }

    #[test]
    fn objects_over_5_gib_fit_in_10000_parts() {
        for size in [
            5 * GIB + 1,
            64 * MIB * MAX_PARTS,     // exactly 10,000 parts of 64 MiB
            64 * MIB * MAX_PARTS + 1, // one byte more: parts must grow
            1024 * GIB,
            MAX_OBJECT_SIZE,
        ] {
            let plan = PartPlan::new(size, 64 * MIB).unwrap();
            assert!(plan.parts <= MAX_PARTS, "{size}: {} parts", plan.parts);
            assert!((MIN_PART_SIZE..=MAX_PART_SIZE).contains(&plan.part_size));
            assert_eq!(plan.part_size % MIB, 0);
            let parts: Vec<Part> = plan.parts().collect();
            assert_eq!(parts.len() as u64, plan.parts);
            assert_eq!(parts.first().unwrap().first, 0);
            assert_eq!(parts.last().unwrap().last, size - 1);
            assert!(parts.windows(2).all(|w| w[1].first == w[0].last + 1));
            assert!(parts.iter().all(|p| p.last - p.first < plan.part_size));
            // All parts but the last are at least 5 MiB.
            assert!(parts[..parts.len() - 1]
                .iter()
                .all(|p| p.last - p.first + 1 >= MIN_PART_SIZE));
        }
        assert_eq!(
            PartPlan::new(64 * MIB * MAX_PARTS, 64 * MIB).unwrap().parts,
            MAX_PARTS
        );
        assert_eq!(
            PartPlan::new(64 * MIB * MAX_PARTS + 1, 64 * MIB)
                .unwrap()
                .part_size,
            65 * MIB
        );
        assert_eq!(
            PartPlan::new(MAX_OBJECT_SIZE, 5 * MIB).unwrap().part_size,
            525 * MIB
        );
    }

    #[test]
    fn impossible_sizes_are_refused() {
        assert!(PartPlan::new(0, 5 * MIB).is_err());
        assert!(PartPlan::new(MAX_OBJECT_SIZE + 1, 5 * MIB).is_err());
    }

    #[test]
    fn keys_map_below_the_destination_prefix() {
        assert_eq!(
            destination_key(
                "datasets/v1/",
                "executions/e/data/",
                "datasets/v1/a/b c.csv"
            )
            .as_deref(),
            Some("executions/e/data/a/b c.csv")
        );
        assert_eq!(
            destination_key("", "executions/e/data/", "x").as_deref(),
            Some("executions/e/data/x")
        );
        assert_eq!(
            destination_key("datasets/v1/", "d/", "datasets/v1/").as_deref(),
            Some("d/")
        );
        assert_eq!(destination_key("datasets/v1/", "d/", "datasets/v2/x"), None);
    }

    #[test]
    fn copy_source_encodes_each_segment() {
        assert_eq!(
            copy_source("b", "plain/key-1_2.~txt"),
            "b/plain/key-1_2.~txt"
        );
        assert_eq!(copy_source("b", "a b/c+d%e"), "b/a%20b/c%2Bd%25e");
        assert_eq!(
            copy_source("b", "é/😀?#&="),
            "b/%C3%A9/%F0%9F%98%80%3F%23%26%3D"
        );
        // Empty segments survive.
        assert_eq!(copy_source("b", "dir//x/"), "b/dir//x/");
    }

    #[test]
    fn copy_source_round_trips_through_decoding() {
        let key = "d/a b+c%25é😀 (1)/x&y=z;~!'*";
        let encoded = copy_source("bkt", key);
        let decoded = percent_encoding::percent_decode_str(&encoded)
            .decode_utf8()
            .unwrap();
        assert_eq!(decoded, format!("bkt/{key}"));
        assert!(encoded.is_ascii() && !encoded.contains(' ') && !encoded.contains('+'));
    }

    #[test]
    fn content_identity() {
        let existing = |size, etag: &str, meta: Option<&str>| Existing {
            size,
            etag: Some(etag.to_string()),
            source_etag: meta.map(str::to_string),
        };
        assert!(same_content(3, "\"abc\"", &existing(3, "\"abc\"", None)));
        assert!(same_content(3, "\"abc\"", &existing(3, "abc", None)));
        assert!(same_content(
            9,
            "\"abc-2\"",
            &existing(9, "\"zzz-2\"", Some("abc-2"))
        ));
        assert!(!same_content(4, "\"abc\"", &existing(3, "\"abc\"", None)));
        assert!(!same_content(
            3,
            "\"abc\"",
            &existing(3, "\"abd\"", Some("abe"))
        ));
        assert!(!same_content(3, "", &existing(3, "", None)));
        assert!(is_multipart_etag("\"abc-2\""));
        assert!(!is_multipart_etag("\"abc\""));
    }
}
