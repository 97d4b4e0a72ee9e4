//! The dataset's record types (one JSON Lines record per page) and the pixel encoding.
//!
//! This is the binding schema shared by the generator and the trainers. Unknown fields
//! are accepted on reading (no `deny_unknown_fields`) so users can add their own.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The document types of the default dataset, sorted. Trainers must not hard-code
/// them (their classes are the sorted distinct labels of their training data).
pub const DOCUMENT_TYPES: [&str; 5] =
    ["bank_statement", "contract", "id_card", "letter", "payslip"];

/// A page of the text model's sets (`text/train/`, `text/validation/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextPage {
    pub page_id: String,
    pub document_id: String,
    /// 1-based within the document.
    pub page_number: u32,
    pub label: String,
    /// OCR output of the page.
    pub text: String,
}

/// A page of the image model's sets (`image/train/`, `image/validation/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagePage {
    pub page_id: String,
    pub document_id: String,
    /// 1-based within the document.
    pub page_number: u32,
    pub label: String,
    pub width: u32,
    pub height: u32,
    /// Base64 (standard alphabet) of `width * height` 8-bit grayscale pixels, row-major.
    pub pixels: String,
}

/// The text of a sequence-set page (`sequence/text/`): the text model's batch input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceText {
    pub page_id: String,
    pub text: String,
}

/// The image of a sequence-set page (`sequence/image/`): the image model's batch input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceImage {
    pub page_id: String,
    pub width: u32,
    pub height: u32,
    /// Same encoding as [`ImagePage::pixels`].
    pub pixels: String,
}

/// The truth about a sequence-set page (`sequence/labels/`): the sequence model's labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceLabel {
    pub page_id: String,
    pub sequence_id: String,
    /// 0-based within the sequence.
    pub position: u32,
    pub document_id: String,
    /// 1-based within the document.
    pub page_number: u32,
    /// `train`, `validation` or `test`.
    pub split: String,
    pub label: String,
    /// True on each document's first page.
    pub starts_document: bool,
}

/// Encodes grayscale pixels as the schema's `pixels` string (standard base64).
pub fn encode_pixels(pixels: &[u8]) -> String {
    STANDARD.encode(pixels)
}

/// Why a `pixels` field could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PixelError {
    /// Not standard base64; the message is the decoder's.
    NotBase64(String),
    /// Valid base64, but not `width * height` bytes.
    WrongLength {
        width: u32,
        height: u32,
        expected: u64,
        actual: usize,
    },
}

impl fmt::Display for PixelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PixelError::NotBase64(message) => write!(f, "`pixels` is not valid base64: {message}"),
            PixelError::WrongLength { width, height, expected, actual } => write!(
                f,
                "`pixels` decodes to {actual} bytes, expected width*height = {width}*{height} = {expected}"
            ),
        }
    }
}

impl std::error::Error for PixelError {}

/// Decodes a `pixels` field and checks it holds exactly `width * height` bytes.
pub fn decode_pixels(pixels: &str, width: u32, height: u32) -> Result<Vec<u8>, PixelError> {
    let bytes = STANDARD
        .decode(pixels)
        .map_err(|error| PixelError::NotBase64(error.to_string()))?;
    // u64: width * height of two u32 cannot overflow it.
    let expected = u64::from(width) * u64::from(height);
    if bytes.len() as u64 != expected {
        return Err(PixelError::WrongLength {
            width,
            height,
            expected,
            actual: bytes.len(),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_round_trip() {
        let pixels: Vec<u8> = (0..=255).chain(0..=7).collect();
        let encoded = encode_pixels(&pixels);
        assert_eq!(decode_pixels(&encoded, 8, 33), Ok(pixels));
    }

    #[test]
    fn pixel_errors_say_what_is_wrong() {
        let error = decode_pixels("not base64!", 2, 2).unwrap_err();
        assert!(matches!(error, PixelError::NotBase64(_)));
        assert!(error.to_string().contains("not valid base64"), "{error}");

        let error = decode_pixels(&encode_pixels(&[1, 2, 3]), 2, 2).unwrap_err();
        assert_eq!(
            error,
            PixelError::WrongLength {
                width: 2,
                height: 2,
                expected: 4,
                actual: 3
            }
        );
        assert!(
            error
                .to_string()
                .contains("3 bytes, expected width*height = 2*2 = 4"),
            "{error}"
        );
    }

    #[test]
    fn document_types_are_sorted_and_match_the_generator() {
        let mut sorted = DOCUMENT_TYPES;
        sorted.sort_unstable();
        assert_eq!(sorted, DOCUMENT_TYPES);
        let labels: Vec<&str> = crate::params::TYPES.iter().map(|t| t.label).collect();
        assert_eq!(labels, DOCUMENT_TYPES);
    }

    #[test]
    fn extra_fields_are_accepted() {
        let line = r#"{"page_id":"d1-p1","text":"hello","label":"letter","mine":1}"#;
        let page: SequenceText = serde_json::from_str(line).unwrap();
        assert_eq!(page.text, "hello");
    }
}
