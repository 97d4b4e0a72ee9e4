//! A seeded generator of the multi-page document-classification dataset the ensemble
//! trains on, and the dataset's schema ([`schema`], re-exported here).
//!
//! Documents of five types (bank statements, contracts, ID cards, letters, payslips)
//! get OCR-like text and a small grayscale scan per page. They are split, by document,
//! into the base models' train and validation sets and a disjoint sequence set, whose
//! documents are bundled into sequences split train/validation/test for the sequence
//! model. [`generate`] returns the files in memory; [`write`] writes them under a
//! directory (see the README's "Dataset layout"):
//!
//! ```text
//! text/{train,validation}/part-NNNNN.jsonl     TextPage
//! image/{train,validation}/part-NNNNN.jsonl    ImagePage
//! sequence/text/part-NNNNN.jsonl               SequenceText
//! sequence/image/part-NNNNN.jsonl              SequenceImage
//! sequence/labels/part-NNNNN.jsonl             SequenceLabel
//! dataset.json                                 options + summary
//! ```
//!
//! The output is a pure function of [`Options`]: ChaCha8 streams seeded from `seed`
//! (stream 0 for the plan, one stream per document for its content), no hash-map
//! iteration, only basic arithmetic.

mod image;
mod params;
mod plan;
pub mod schema;
mod text;

pub use schema::*;

use plan::{Document, Plan, Set, SPLITS};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// At most this many records per `part-NNNNN.jsonl` file.
pub const RECORDS_PER_FILE: usize = 1_000;
/// The folders the generator writes JSON Lines parts into (and cleans of stale parts).
pub const FOLDERS: [&str; 7] = [
    "text/train",
    "text/validation",
    "image/train",
    "image/validation",
    "sequence/text",
    "sequence/image",
    "sequence/labels",
];
/// The manifest's file name, at the dataset root.
pub const MANIFEST: &str = "dataset.json";

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    /// Seeds everything: the same options give byte-identical files.
    pub seed: u64,
    /// Total pages, approximately: documents are added until the total reaches it.
    pub pages: usize,
    /// Page image size in pixels.
    pub width: u32,
    pub height: u32,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            seed: 2026,
            pages: 3000,
            width: 32,
            height: 44,
        }
    }
}

/// Accepted ranges of the options.
pub const PAGES_RANGE: std::ops::RangeInclusive<usize> = 50..=1_000_000;
pub const SIZE_RANGE: std::ops::RangeInclusive<u32> = 16..=256;

impl Options {
    /// Checks every field against its range.
    pub fn validate(&self) -> Result<(), OptionsError> {
        if !PAGES_RANGE.contains(&self.pages) {
            return Err(OptionsError::new(
                "pages",
                format!("must be in 50..=1000000, got {}", self.pages),
            ));
        }
        for (field, value) in [("width", self.width), ("height", self.height)] {
            if !SIZE_RANGE.contains(&value) {
                return Err(OptionsError::new(
                    field,
                    format!("must be in 16..=256 pixels, got {value}"),
                ));
            }
        }
        Ok(())
    }
}

/// An option out of range; `field` is its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionsError {
    pub field: &'static str,
    pub message: String,
}

impl OptionsError {
    fn new(field: &'static str, message: String) -> OptionsError {
        OptionsError { field, message }
    }
}

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "option `{}`: {}", self.field, self.message)
    }
}

impl std::error::Error for OptionsError {}

/// Why [`write`] failed.
#[derive(Debug)]
pub enum WriteError {
    Options(OptionsError),
    /// `action` on `path` failed.
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Options(error) => error.fmt(f),
            WriteError::Io {
                action,
                path,
                source,
            } => write!(f, "{action} {}: {source}", path.display()),
        }
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WriteError::Options(error) => Some(error),
            WriteError::Io { source, .. } => Some(source),
        }
    }
}

impl From<OptionsError> for WriteError {
    fn from(error: OptionsError) -> WriteError {
        WriteError::Options(error)
    }
}

/// One output file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Relative to the dataset root, '/'-separated (e.g. `text/train/part-00000.jsonl`).
    pub path: String,
    pub body: Vec<u8>,
}

/// Counts of one set: `base/train`, `base/validation` (the base models' sets) or
/// `sequence/train`, `sequence/validation`, `sequence/test` (the sequence set's splits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetSummary {
    pub name: String,
    /// Zero for the base sets.
    pub sequences: usize,
    pub documents: usize,
    pub pages: usize,
    pub documents_per_label: BTreeMap<String, usize>,
    pub pages_per_label: BTreeMap<String, usize>,
}

/// What a generation produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub documents: usize,
    pub pages: usize,
    pub sequences: usize,
    /// Adjacent document pairs inside sequences that share their type (boundaries that
    /// a type change does not reveal).
    pub same_type_neighbours: usize,
    pub pages_per_label: BTreeMap<String, usize>,
    pub sets: Vec<SetSummary>,
    /// JSON Lines parts written (plus `dataset.json`).
    pub files: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<20} {:>9} {:>9} {:>8}",
            "set", "sequences", "documents", "pages"
        )?;
        for label in self.pages_per_label.keys() {
            write!(f, " {label:>14}")?;
        }
        writeln!(f)?;
        for set in &self.sets {
            write!(
                f,
                "{:<20} {:>9} {:>9} {:>8}",
                set.name, set.sequences, set.documents, set.pages
            )?;
            for label in self.pages_per_label.keys() {
                write!(
                    f,
                    " {:>14}",
                    set.pages_per_label.get(label).copied().unwrap_or(0)
                )?;
            }
            writeln!(f)?;
        }
        write!(
            f,
            "{:<20} {:>9} {:>9} {:>8}",
            "total", self.sequences, self.documents, self.pages
        )?;
        for count in self.pages_per_label.values() {
            write!(f, " {count:>14}")?;
        }
        writeln!(f)?;
        write!(
            f,
            "(pages per label; {} same-type neighbours in sequences; {} files)",
            self.same_type_neighbours, self.files
        )
    }
}

/// The manifest written to `dataset.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub generator: String,
    pub version: String,
    pub options: Options,
    pub summary: Summary,
}

/// Generates every file in memory (fine for the default size; [`write`] streams).
pub fn generate(options: &Options) -> Result<(Vec<GeneratedFile>, Summary), OptionsError> {
    options.validate()?;
    let mut files = Vec::new();
    let summary = produce(options, |file| {
        files.push(file);
        Ok::<(), std::convert::Infallible>(())
    });
    match summary {
        Ok(summary) => Ok((files, summary)),
        Err(never) => match never {},
    }
}

/// The records of every file under `folder/` (e.g. `text/train`; a trailing `/` is
/// ignored), parsed as `T`: the files in path order (the parts in order), then one record
/// per line, blank lines skipped. Files outside `folder/` (a sibling such as
/// `text/train2/`, the manifest) are not read.
///
/// For the generator's own output in memory, e.g. in tests or to fit a model on a
/// [`generate`]d dataset:
///
/// ```
/// let (files, _) = dataset::generate(&dataset::Options { pages: 60, ..Default::default() }).unwrap();
/// let pages: Vec<dataset::TextPage> = dataset::records(&files, "text/train").unwrap();
/// assert!(!pages.is_empty());
/// ```
///
/// # Errors
///
/// The first line that is not a `T` (or not UTF-8); the message names the file and the
/// line (`text/train/part-00000.jsonl:2: ...`).
pub fn records<T: serde::de::DeserializeOwned>(
    files: &[GeneratedFile],
    folder: &str,
) -> Result<Vec<T>, serde_json::Error> {
    let prefix = format!("{}/", folder.trim_end_matches('/'));
    let mut under: Vec<&GeneratedFile> = files
        .iter()
        .filter(|f| f.path.starts_with(&prefix))
        .collect();
    under.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out = Vec::new();
    for file in under {
        for (n, line) in file.body.split(|&b| b == b'\n').enumerate() {
            if line.trim_ascii().is_empty() {
                continue;
            }
            let record = serde_json::from_slice(line).map_err(|e| {
                <serde_json::Error as serde::de::Error>::custom(format_args!(
                    "{}:{}: {e}",
                    file.path,
                    n + 1
                ))
            })?;
            out.push(record);
        }
    }
    Ok(out)
}

/// Generates into `out_dir`: creates the folders, writes each file through a temporary
/// name and a rename (a reader never sees half a file), then removes the `*.jsonl` files
/// in the layout's folders that this generation did not produce.
pub fn write(options: &Options, out_dir: &Path) -> Result<Summary, WriteError> {
    options.validate()?;
    for folder in FOLDERS {
        let dir = out_dir.join(folder);
        std::fs::create_dir_all(&dir).map_err(|source| WriteError::Io {
            action: "create directory",
            path: dir,
            source,
        })?;
    }
    // In the root, not in a channel folder: a crash must not leave it where trainers
    // read every file.
    let temp = out_dir.join(".generate-dataset.tmp");
    let mut produced = BTreeSet::new();
    let summary = produce(options, |file| {
        let target = out_dir.join(&file.path);
        std::fs::write(&temp, &file.body).map_err(|source| WriteError::Io {
            action: "write",
            path: temp.clone(),
            source,
        })?;
        std::fs::rename(&temp, &target).map_err(|source| WriteError::Io {
            action: "rename into",
            path: target,
            source,
        })?;
        produced.insert(file.path);
        Ok::<(), WriteError>(())
    })?;
    for folder in FOLDERS {
        let dir = out_dir.join(folder);
        let entries = std::fs::read_dir(&dir).map_err(|source| WriteError::Io {
            action: "list",
            path: dir.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| WriteError::Io {
                action: "list",
                path: dir.clone(),
                source,
            })?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
            if is_file
                && name.ends_with(".jsonl")
                && !produced.contains(&format!("{folder}/{name}"))
            {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(|source| WriteError::Io {
                    action: "remove stale",
                    path,
                    source,
                })?;
            }
        }
    }
    Ok(summary)
}

/// Collects one folder's records into parts of at most [`RECORDS_PER_FILE`] lines.
struct PartWriter {
    folder: &'static str,
    body: Vec<u8>,
    records: usize,
    parts: usize,
}

impl PartWriter {
    fn new(folder: &'static str) -> PartWriter {
        PartWriter {
            folder,
            body: Vec::new(),
            records: 0,
            parts: 0,
        }
    }

    fn push<T: Serialize, E>(
        &mut self,
        record: &T,
        sink: &mut impl FnMut(GeneratedFile) -> Result<(), E>,
    ) -> Result<(), E> {
        // Plain structs of strings and integers: serialising them cannot fail.
        if let Err(error) = serde_json::to_writer(&mut self.body, record) {
            unreachable!("a page record failed to serialise: {error}");
        }
        self.body.push(b'\n');
        self.records += 1;
        if self.records == RECORDS_PER_FILE {
            self.flush(sink)?;
        }
        Ok(())
    }

    fn flush<E>(&mut self, sink: &mut impl FnMut(GeneratedFile) -> Result<(), E>) -> Result<(), E> {
        if self.records == 0 {
            return Ok(());
        }
        let path = format!("{}/part-{:05}.jsonl", self.folder, self.parts);
        self.parts += 1;
        self.records = 0;
        sink(GeneratedFile {
            path,
            body: std::mem::take(&mut self.body),
        })
    }
}

/// One generated page.
struct Page {
    page_number: u32,
    text: String,
    pixels: String,
}

/// Generates a document's pages from its own random stream.
fn document_pages(
    options: &Options,
    generator: &text::TextGenerator,
    document: &Document,
) -> Vec<Page> {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    // Stream 0 is the plan's.
    rng.set_stream(document.index as u64 + 1);
    let context = text::DocContext::draw(&mut rng);
    let style = image::DocStyle::draw(&mut rng);
    let count = document.pages() as u32;
    document
        .roles
        .iter()
        .enumerate()
        .map(|(i, &role)| {
            let page_number = i as u32 + 1;
            let spec = text::PageSpec {
                kind: document.kind,
                role,
                page_number,
                page_count: count,
            };
            let text = generator.page(&mut rng, &context, &spec);
            let pixels = image::render(
                &mut rng,
                &style,
                document.kind,
                role,
                page_number == count,
                options.width,
                options.height,
            );
            Page {
                page_number,
                text,
                pixels: encode_pixels(&pixels),
            }
        })
        .collect()
}

/// The generator proper, handing each finished file to `sink` (options already valid).
fn produce<E>(
    options: &Options,
    mut sink: impl FnMut(GeneratedFile) -> Result<(), E>,
) -> Result<Summary, E> {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let plan = plan::plan(&mut rng, options.pages);
    let generator = text::TextGenerator::new();
    let mut files = 0;

    for (set, text_folder, image_folder) in [
        (Set::BaseTrain, "text/train", "image/train"),
        (Set::BaseValidation, "text/validation", "image/validation"),
    ] {
        let mut texts = PartWriter::new(text_folder);
        let mut images = PartWriter::new(image_folder);
        for document in plan.documents.iter().filter(|d| d.set == set) {
            let document_id = document.id();
            let label = params::TYPES[document.kind].label;
            for page in document_pages(options, &generator, document) {
                let page_id = format!("{document_id}-p{}", page.page_number);
                texts.push(
                    &TextPage {
                        page_id: page_id.clone(),
                        document_id: document_id.clone(),
                        page_number: page.page_number,
                        label: label.to_string(),
                        text: page.text,
                    },
                    &mut sink,
                )?;
                images.push(
                    &ImagePage {
                        page_id,
                        document_id: document_id.clone(),
                        page_number: page.page_number,
                        label: label.to_string(),
                        width: options.width,
                        height: options.height,
                        pixels: page.pixels,
                    },
                    &mut sink,
                )?;
            }
        }
        for writer in [&mut texts, &mut images] {
            writer.flush(&mut sink)?;
            files += writer.parts;
        }
    }

    let mut texts = PartWriter::new("sequence/text");
    let mut images = PartWriter::new("sequence/image");
    let mut labels = PartWriter::new("sequence/labels");
    for sequence in &plan.sequences {
        let sequence_id = sequence.id();
        let mut position = 0u32;
        for &index in &sequence.documents {
            let document = &plan.documents[index];
            let document_id = document.id();
            let label = params::TYPES[document.kind].label;
            for page in document_pages(options, &generator, document) {
                let page_id = format!("{document_id}-p{}", page.page_number);
                texts.push(
                    &SequenceText {
                        page_id: page_id.clone(),
                        text: page.text,
                    },
                    &mut sink,
                )?;
                images.push(
                    &SequenceImage {
                        page_id: page_id.clone(),
                        width: options.width,
                        height: options.height,
                        pixels: page.pixels,
                    },
                    &mut sink,
                )?;
                labels.push(
                    &SequenceLabel {
                        page_id,
                        sequence_id: sequence_id.clone(),
                        position,
                        document_id: document_id.clone(),
                        page_number: page.page_number,
                        split: sequence.split.name().to_string(),
                        label: label.to_string(),
                        starts_document: page.page_number == 1,
                    },
                    &mut sink,
                )?;
                position += 1;
            }
        }
    }
    for writer in [&mut texts, &mut images, &mut labels] {
        writer.flush(&mut sink)?;
        files += writer.parts;
    }

    let summary = summarise(&plan, files);
    let manifest = Manifest {
        generator: "generate-dataset".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        options: options.clone(),
        summary: summary.clone(),
    };
    let mut body = match serde_json::to_vec_pretty(&manifest) {
        Ok(body) => body,
        // Strings, integers and string-keyed maps only.
        Err(error) => unreachable!("the manifest failed to serialise: {error}"),
    };
    body.push(b'\n');
    sink(GeneratedFile {
        path: MANIFEST.to_string(),
        body,
    })?;
    Ok(summary)
}

fn summarise(plan: &Plan, files: usize) -> Summary {
    let labels = || {
        params::TYPES
            .iter()
            .map(|t| (t.label.to_string(), 0usize))
            .collect::<BTreeMap<_, _>>()
    };
    let set_summary =
        |name: &str, sequences: usize, documents: &mut dyn Iterator<Item = &Document>| {
            let mut summary = SetSummary {
                name: name.to_string(),
                sequences,
                documents: 0,
                pages: 0,
                documents_per_label: labels(),
                pages_per_label: labels(),
            };
            for document in documents {
                let label = params::TYPES[document.kind].label;
                summary.documents += 1;
                summary.pages += document.pages();
                *summary
                    .documents_per_label
                    .entry(label.to_string())
                    .or_default() += 1;
                *summary
                    .pages_per_label
                    .entry(label.to_string())
                    .or_default() += document.pages();
            }
            summary
        };
    let mut sets = vec![
        set_summary(
            "base/train",
            0,
            &mut plan.documents.iter().filter(|d| d.set == Set::BaseTrain),
        ),
        set_summary(
            "base/validation",
            0,
            &mut plan
                .documents
                .iter()
                .filter(|d| d.set == Set::BaseValidation),
        ),
    ];
    for split in SPLITS {
        let sequences: Vec<_> = plan.sequences.iter().filter(|s| s.split == split).collect();
        let mut documents = sequences
            .iter()
            .flat_map(|s| s.documents.iter().map(|&d| &plan.documents[d]));
        sets.push(set_summary(
            &format!("sequence/{}", split.name()),
            sequences.len(),
            &mut documents,
        ));
    }
    let mut pages_per_label = labels();
    for document in &plan.documents {
        *pages_per_label
            .entry(params::TYPES[document.kind].label.to_string())
            .or_default() += document.pages();
    }
    let same_type_neighbours = plan
        .sequences
        .iter()
        .map(|s| {
            s.documents
                .windows(2)
                .filter(|w| plan.documents[w[0]].kind == plan.documents[w[1]].kind)
                .count()
        })
        .sum();
    Summary {
        documents: plan.documents.len(),
        pages: plan.documents.iter().map(Document::pages).sum(),
        sequences: plan.sequences.len(),
        same_type_neighbours,
        pages_per_label,
        sets,
        files,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, body: &str) -> GeneratedFile {
        GeneratedFile {
            path: path.to_string(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn records_reads_the_folder_in_path_order_skipping_blank_lines() {
        let files = [
            file("text/train/part-00001.jsonl", "3\n\n4\n"),
            file("text/validation/part-00000.jsonl", "10\n"),
            file("text/train2/part-00000.jsonl", "20\n"),
            file("text/train/part-00000.jsonl", "1\r\n  \n2"),
            file(MANIFEST, "{}\n"),
        ];
        let numbers: Vec<u32> = records(&files, "text/train").unwrap();
        assert_eq!(numbers, [1, 2, 3, 4]);
        let numbers: Vec<u32> = records(&files, "text/train/").unwrap();
        assert_eq!(numbers, [1, 2, 3, 4]);
        assert!(records::<u32>(&files, "image/train").unwrap().is_empty());
        let numbers: Vec<u32> = records(&files, "text").unwrap();
        assert_eq!(numbers, [1, 2, 3, 4, 20, 10]);
    }

    #[test]
    fn records_names_the_file_and_line_of_a_bad_record() {
        let files = [file("labels/part-00000.jsonl", "1\n2\nthree\n")];
        let error = records::<u32>(&files, "labels").unwrap_err().to_string();
        assert!(
            error.starts_with("labels/part-00000.jsonl:3: expected"),
            "{error}"
        );
    }
}
