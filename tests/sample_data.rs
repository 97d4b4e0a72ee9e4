//! A small deterministic dataset in the layout `input_data` expects (README: "Dataset
//! layout"), for the local demo and tests: a few multi-page documents of three types,
//! with OCR-like text and tiny grayscale page bitmaps.

use serde_json::json;

const TYPES: [(&str, &[&str]); 3] = [
    (
        "contract",
        &[
            "agreement",
            "party",
            "clause",
            "signature",
            "term",
            "liability",
        ],
    ),
    (
        "payslip",
        &["salary", "gross", "net", "tax", "employer", "month"],
    ),
    (
        "bank_statement",
        &["balance", "account", "transfer", "iban", "debit", "credit"],
    ),
];

/// A tiny linear congruential generator: deterministic across platforms and runs.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// `(key relative to input_data, body)` for every object of the dataset.
pub fn sample_dataset(documents: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut rng = Lcg(seed);
    let mut text = [String::new(), String::new(), String::new()];
    let mut image = [String::new(), String::new(), String::new()];
    let mut labels = String::new();
    const WIDTH: usize = 16;
    const HEIGHT: usize = 16;
    for doc in 0..documents {
        let (label, vocabulary) = TYPES[rng.below(TYPES.len() as u64) as usize];
        let split = match doc % 5 {
            0 => 1,
            1 => 2,
            _ => 0,
        };
        let pages = 1 + rng.below(4) as usize;
        for page in 0..pages {
            let page_id = format!("d{doc:04}-p{page}");
            let words: Vec<&str> = (0..12)
                .map(|_| {
                    if rng.below(3) == 0 {
                        ["the", "of", "page", "date", "name"][rng.below(5) as usize]
                    } else {
                        vocabulary[rng.below(vocabulary.len() as u64) as usize]
                    }
                })
                .collect();
            let pixels: Vec<u8> = (0..WIDTH * HEIGHT)
                .map(|i| {
                    let stripe = (i / WIDTH).is_multiple_of(2 + label.len() % 3);
                    (if stripe { 40 } else { 220 } + rng.below(20) as usize) as u8
                })
                .collect();
            let record = json!({"page_id": page_id, "document_id": format!("d{doc:04}"), "page_number": page + 1, "label": label});
            let mut text_record = record.clone();
            text_record["text"] = json!(words.join(" "));
            let mut image_record = record.clone();
            image_record["width"] = json!(WIDTH);
            image_record["height"] = json!(HEIGHT);
            image_record["pixels"] = json!(base64(&pixels));
            text[split].push_str(&format!("{text_record}\n"));
            image[split].push_str(&format!("{image_record}\n"));
            let mut label_record = record;
            label_record["split"] = json!(["train", "validation", "test"][split]);
            label_record["starts_document"] = json!(page == 0);
            labels.push_str(&format!("{label_record}\n"));
        }
    }
    let [text_train, text_validation, text_sequence] = text;
    let [image_train, image_validation, image_sequence] = image;
    vec![
        ("text/train/part-0000.jsonl".into(), text_train.into_bytes()),
        (
            "text/validation/part-0000.jsonl".into(),
            text_validation.into_bytes(),
        ),
        (
            "image/train/part-0000.jsonl".into(),
            image_train.into_bytes(),
        ),
        (
            "image/validation/part-0000.jsonl".into(),
            image_validation.into_bytes(),
        ),
        (
            "sequence/text/test.jsonl".into(),
            text_sequence.into_bytes(),
        ),
        (
            "sequence/image/test.jsonl".into(),
            image_sequence.into_bytes(),
        ),
        ("sequence/labels/labels.jsonl".into(), labels.into_bytes()),
    ]
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn the_dataset_is_deterministic_and_complete() {
        let a = sample_dataset(20, 7);
        assert_eq!(a, sample_dataset(20, 7));
        assert_ne!(a, sample_dataset(20, 8));
        assert_eq!(a.len(), 7);
        assert!(a.iter().all(|(_, body)| !body.is_empty()));
    }
}
