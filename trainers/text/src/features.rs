//! Tokenisation and TF-IDF: OCR text -> L2-normalised dense feature rows.
//!
//! Terms are lower-cased word n-grams (`w:` prefix, words joined by one space) and,
//! optionally, character 3- and 4-grams inside each word with `<`/`>` boundary markers
//! (`c:` prefix). OCR garbles single characters ("c0ntract", "contrac t"), which kills a
//! whole word term but leaves most of its character n-grams intact. The prefixes keep a
//! word such as "ont" apart from the character n-gram "ont" of "contract".
//!
//! Weighting follows scikit-learn's `TfidfVectorizer(sublinear_tf=True, smooth_idf=True)`:
//! tf = 1 + ln(count), idf = ln((1 + n) / (1 + df)) + 1, rows L2-normalised.

use std::collections::HashMap;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// Shortest and longest character n-gram taken inside a word (markers included).
const CHAR_NGRAM_MIN: usize = 3;
const CHAR_NGRAM_MAX: usize = 4;

/// Term counts of one document.
pub(crate) type TermCounts = HashMap<String, u32>;

/// How terms are cut from a text; shared by fitting and transforming so they agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tokenizer {
    pub ngram_max: usize,
    pub char_ngrams: bool,
}

impl Tokenizer {
    /// Counts every term of `text`.
    pub(crate) fn count(&self, text: &str) -> TermCounts {
        let lower = text.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let mut counts = TermCounts::new();
        for n in 1..=self.ngram_max.max(1) {
            for window in words.windows(n) {
                let mut term = String::from("w:");
                for (i, word) in window.iter().enumerate() {
                    if i > 0 {
                        term.push(' ');
                    }
                    term.push_str(word);
                }
                *counts.entry(term).or_insert(0) += 1;
            }
        }
        if self.char_ngrams {
            let mut chars: Vec<char> = Vec::new();
            for word in &words {
                chars.clear();
                chars.push('<');
                chars.extend(word.chars());
                chars.push('>');
                for n in CHAR_NGRAM_MIN..=CHAR_NGRAM_MAX {
                    for window in chars.windows(n) {
                        let mut term = String::with_capacity(2 + 4 * n);
                        term.push_str("c:");
                        term.extend(window.iter());
                        *counts.entry(term).or_insert(0) += 1;
                    }
                }
            }
        }
        counts
    }
}

/// Why a vocabulary could not be built (mapped to a hyperparameter error by the caller).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EmptyVocabulary {
    pub documents: usize,
    pub min_df: usize,
}

/// The fitted vocabulary and idf weights; part of model.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "VectorizerFile", into = "VectorizerFile")]
pub struct Vectorizer {
    tokenizer: Tokenizer,
    terms: Vec<String>,
    idf: Vec<f64>,
    /// term -> column; rebuilt on load, not stored.
    index: HashMap<String, usize>,
}

/// model.json's form of [`Vectorizer`]: the columns as a list of terms with their idf.
#[derive(Serialize, Deserialize)]
struct VectorizerFile {
    ngram_max: usize,
    char_ngrams: bool,
    terms: Vec<String>,
    idf: Vec<f64>,
}

impl From<Vectorizer> for VectorizerFile {
    fn from(v: Vectorizer) -> Self {
        VectorizerFile {
            ngram_max: v.tokenizer.ngram_max,
            char_ngrams: v.tokenizer.char_ngrams,
            terms: v.terms,
            idf: v.idf,
        }
    }
}

impl TryFrom<VectorizerFile> for Vectorizer {
    type Error = String;

    /// Checks what `transform` relies on, so a damaged model.json is an error, not a panic.
    fn try_from(f: VectorizerFile) -> Result<Self, String> {
        if f.ngram_max == 0 {
            return Err("vectorizer: ngram_max must be at least 1".into());
        }
        if f.terms.is_empty() {
            return Err("vectorizer: the vocabulary is empty".into());
        }
        if f.terms.len() != f.idf.len() {
            return Err(format!(
                "vectorizer: {} terms but {} idf weights",
                f.terms.len(),
                f.idf.len()
            ));
        }
        if let Some(i) = f.idf.iter().position(|w| !w.is_finite()) {
            return Err(format!(
                "vectorizer: idf of term {:?} is not finite",
                f.terms[i]
            ));
        }
        let mut index = HashMap::with_capacity(f.terms.len());
        for (column, term) in f.terms.iter().enumerate() {
            if index.insert(term.clone(), column).is_some() {
                return Err(format!("vectorizer: term {term:?} appears twice"));
            }
        }
        Ok(Vectorizer {
            tokenizer: Tokenizer {
                ngram_max: f.ngram_max,
                char_ngrams: f.char_ngrams,
            },
            terms: f.terms,
            idf: f.idf,
            index,
        })
    }
}

impl Vectorizer {
    /// Builds the vocabulary from the term counts of the training documents: the
    /// `max_features` terms with the highest document frequency among those seen in at
    /// least `min_df` documents, ties broken by the term so the result is deterministic.
    pub(crate) fn fit(
        tokenizer: Tokenizer,
        documents: &[TermCounts],
        max_features: usize,
        min_df: usize,
    ) -> Result<Vectorizer, EmptyVocabulary> {
        let mut df: HashMap<&str, usize> = HashMap::new();
        for doc in documents {
            for term in doc.keys() {
                *df.entry(term.as_str()).or_insert(0) += 1;
            }
        }
        let mut kept: Vec<(&str, usize)> = df.into_iter().filter(|&(_, d)| d >= min_df).collect();
        kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        kept.truncate(max_features);
        if kept.is_empty() {
            return Err(EmptyVocabulary {
                documents: documents.len(),
                min_df,
            });
        }
        let n = documents.len() as f64;
        let terms: Vec<String> = kept.iter().map(|(t, _)| (*t).to_owned()).collect();
        let idf: Vec<f64> = kept
            .iter()
            .map(|&(_, d)| ((1.0 + n) / (1.0 + d as f64)).ln() + 1.0)
            .collect();
        let index = terms
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i))
            .collect();
        Ok(Vectorizer {
            tokenizer,
            terms,
            idf,
            index,
        })
    }

    /// Number of feature columns.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Never true for a fitted vectorizer (fitting refuses an empty vocabulary).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The vocabulary, in column order.
    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// The idf weight of each column.
    pub fn idf(&self) -> &[f64] {
        &self.idf
    }

    /// Feature rows of already counted documents. A document without any known term
    /// stays an all-zero row (the model then answers with its class priors).
    pub(crate) fn transform_counts(&self, documents: &[TermCounts]) -> Array2<f64> {
        let mut x = Array2::zeros((documents.len(), self.terms.len()));
        for (mut row, doc) in x.rows_mut().into_iter().zip(documents) {
            for (term, &count) in doc {
                if let Some(&column) = self.index.get(term) {
                    row[column] = (1.0 + f64::from(count).ln()) * self.idf[column];
                }
            }
            let norm = row.dot(&row).sqrt();
            if norm > 0.0 {
                row /= norm;
            }
        }
        x
    }

    /// Feature rows of raw texts.
    pub(crate) fn transform<'a>(&self, texts: impl IntoIterator<Item = &'a str>) -> Array2<f64> {
        let counts: Vec<TermCounts> = texts.into_iter().map(|t| self.tokenizer.count(t)).collect();
        self.transform_counts(&counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(counts: &TermCounts) -> Vec<(String, u32)> {
        let mut v: Vec<(String, u32)> = counts.iter().map(|(t, c)| (t.clone(), *c)).collect();
        v.sort();
        v
    }

    #[test]
    fn words_are_lower_cased_and_split_on_non_alphanumerics() {
        let t = Tokenizer {
            ngram_max: 2,
            char_ngrams: false,
        };
        let counts = t.count("Total: 12,50 EUR; total!");
        assert_eq!(
            sorted(&counts),
            vec![
                ("w:12".to_owned(), 1),
                ("w:12 50".to_owned(), 1),
                ("w:50".to_owned(), 1),
                ("w:50 eur".to_owned(), 1),
                ("w:eur".to_owned(), 1),
                ("w:eur total".to_owned(), 1),
                ("w:total".to_owned(), 2),
                ("w:total 12".to_owned(), 1),
            ]
        );
    }

    #[test]
    fn char_ngrams_carry_boundary_markers_and_survive_ocr_errors() {
        let t = Tokenizer {
            ngram_max: 1,
            char_ngrams: true,
        };
        let counts = t.count("ab");
        assert_eq!(
            sorted(&counts),
            vec![
                ("c:<ab".to_owned(), 1),
                ("c:<ab>".to_owned(), 1),
                ("c:ab>".to_owned(), 1),
                ("w:ab".to_owned(), 1),
            ]
        );
        // One garbled letter leaves most character n-grams shared.
        let clean = t.count("contract");
        let garbled = t.count("c0ntract");
        let shared = clean.keys().filter(|k| garbled.contains_key(*k)).count();
        assert!(!garbled.contains_key("w:contract"));
        assert!(shared >= 6, "only {shared} shared terms");
    }

    #[test]
    fn vocabulary_keeps_the_most_frequent_terms_with_deterministic_ties() {
        let t = Tokenizer {
            ngram_max: 1,
            char_ngrams: false,
        };
        let docs: Vec<TermCounts> = ["a b c", "a b d", "a c e", "f"]
            .iter()
            .map(|s| t.count(s))
            .collect();
        let v = Vectorizer::fit(t, &docs, 2, 2).unwrap();
        // a (df 3) first, then b and c (df 2) tie: b wins by the term.
        assert_eq!(v.terms(), ["w:a", "w:b"]);
        let v = Vectorizer::fit(t, &docs, 10, 2).unwrap();
        assert_eq!(v.terms(), ["w:a", "w:b", "w:c"]);
        let expected_idf_a = (5.0f64 / 4.0).ln() + 1.0;
        assert!((v.idf()[0] - expected_idf_a).abs() < 1e-12);
        assert_eq!(
            Vectorizer::fit(t, &docs, 10, 5),
            Err(EmptyVocabulary {
                documents: 4,
                min_df: 5
            })
        );
    }

    #[test]
    fn rows_are_sublinear_tf_idf_and_l2_normalised() {
        let t = Tokenizer {
            ngram_max: 1,
            char_ngrams: false,
        };
        let docs: Vec<TermCounts> = ["a a a b", "a c", "b c"]
            .iter()
            .map(|s| t.count(s))
            .collect();
        let v = Vectorizer::fit(t, &docs, 10, 1).unwrap();
        let x = v.transform(["a a a b", "zzz"]);
        let row = x.row(0);
        assert!((row.dot(&row) - 1.0).abs() < 1e-12);
        let col = |term: &str| v.terms().iter().position(|t| t == term).unwrap();
        let (a, b) = (col("w:a"), col("w:b"));
        let ratio = row[a] / row[b];
        let expected = (1.0 + 3f64.ln()) * v.idf()[a] / v.idf()[b];
        assert!((ratio - expected).abs() < 1e-12);
        assert_eq!(row[col("w:c")], 0.0);
        // Unknown words only: an all-zero row, not NaN.
        assert!(x.row(1).iter().all(|&f| f == 0.0));
    }

    #[test]
    fn model_json_form_round_trips_and_is_checked() {
        let t = Tokenizer {
            ngram_max: 2,
            char_ngrams: true,
        };
        let docs: Vec<TermCounts> = ["hello world", "hello there"]
            .iter()
            .map(|s| t.count(s))
            .collect();
        let v = Vectorizer::fit(t, &docs, 100, 1).unwrap();
        let json = serde_json::to_string(&v).unwrap();
        let back: Vectorizer = serde_json::from_str(&json).unwrap();
        assert_eq!(back, v);
        let bad = r#"{"ngram_max":1,"char_ngrams":false,"terms":["w:a","w:b"],"idf":[1.0]}"#;
        let err = serde_json::from_str::<Vectorizer>(bad).unwrap_err();
        assert!(err.to_string().contains("2 terms but 1 idf"), "{err}");
        let dup = r#"{"ngram_max":1,"char_ngrams":false,"terms":["w:a","w:a"],"idf":[1.0,1.0]}"#;
        let err = serde_json::from_str::<Vectorizer>(dup).unwrap_err();
        assert!(err.to_string().contains("appears twice"), "{err}");
    }
}
