//! The generated files: determinism, schema, set disjointness, sequences, coverage,
//! part files, `write`'s stale-part cleanup, option errors and the binary's exit codes.

use dataset::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

/// The default generation, shared by the tests of this file.
fn default_files() -> &'static (Vec<GeneratedFile>, Summary) {
    static FILES: OnceLock<(Vec<GeneratedFile>, Summary)> = OnceLock::new();
    FILES.get_or_init(|| generate(&Options::default()).unwrap())
}

/// Checks the part files of `folder`: named `part-00000.jsonl`, `part-00001.jsonl`, ...
/// in file order, each ending in a newline, without blank lines, and all full but the
/// last.
fn check_parts(files: &[GeneratedFile], folder: &str) {
    let parts: Vec<&GeneratedFile> = files
        .iter()
        .filter(|f| f.path.starts_with(&format!("{folder}/")))
        .collect();
    assert!(!parts.is_empty(), "no parts in {folder}");
    for (i, part) in parts.iter().enumerate() {
        assert_eq!(part.path, format!("{folder}/part-{i:05}.jsonl"));
        let text = std::str::from_utf8(&part.body).unwrap();
        assert!(text.ends_with('\n'));
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            !lines.is_empty() && lines.len() <= RECORDS_PER_FILE,
            "{}: {} lines",
            part.path,
            lines.len()
        );
        if i + 1 < parts.len() {
            assert_eq!(lines.len(), RECORDS_PER_FILE, "{} is not full", part.path);
        }
        // `records` skips blank lines; the generator writes none.
        if let Some(n) = lines.iter().position(|l| l.trim().is_empty()) {
            panic!("{}:{}: a blank line", part.path, n + 1);
        }
    }
}

struct Dataset {
    text_train: Vec<TextPage>,
    text_validation: Vec<TextPage>,
    image_train: Vec<ImagePage>,
    image_validation: Vec<ImagePage>,
    sequence_text: Vec<SequenceText>,
    sequence_image: Vec<SequenceImage>,
    labels: Vec<SequenceLabel>,
}

/// Every set's records (their part files checked first).
fn parse(files: &[GeneratedFile]) -> Dataset {
    let folders = [
        "text/train",
        "text/validation",
        "image/train",
        "image/validation",
        "sequence/text",
        "sequence/image",
        "sequence/labels",
    ];
    for folder in folders {
        check_parts(files, folder);
    }
    Dataset {
        text_train: records(files, "text/train").unwrap(),
        text_validation: records(files, "text/validation").unwrap(),
        image_train: records(files, "image/train").unwrap(),
        image_validation: records(files, "image/validation").unwrap(),
        sequence_text: records(files, "sequence/text").unwrap(),
        sequence_image: records(files, "sequence/image").unwrap(),
        labels: records(files, "sequence/labels").unwrap(),
    }
}

fn documents<'a>(ids: impl Iterator<Item = &'a String>) -> BTreeSet<String> {
    ids.cloned().collect()
}

#[test]
fn same_options_give_identical_files_and_other_seeds_differ() {
    let small = Options {
        pages: 400,
        ..Options::default()
    };
    let (first, summary) = generate(&small).unwrap();
    let (second, _) = generate(&small).unwrap();
    assert_eq!(first, second);
    let (other, other_summary) = generate(&Options {
        seed: 7,
        ..small.clone()
    })
    .unwrap();
    assert_eq!(
        first.iter().map(|f| &f.path).collect::<Vec<_>>().len(),
        other.iter().map(|f| &f.path).collect::<Vec<_>>().len()
    );
    for (a, b) in first.iter().zip(&other) {
        if a.path != MANIFEST {
            assert_ne!(a.body, b.body, "{} is the same for two seeds", a.path);
        }
    }
    assert_ne!(summary, other_summary);
}

#[test]
fn records_parse_and_are_consistent() {
    let (files, summary) = default_files();
    let data = parse(files);
    let id = |page: &str, document: &str, number: u32| {
        assert_eq!(page, format!("{document}-p{number}"));
        assert!(
            document.len() == 7
                && document.starts_with('d')
                && document[1..].bytes().all(|b| b.is_ascii_digit())
        );
        assert!(number >= 1);
    };
    for page in data.text_train.iter().chain(&data.text_validation) {
        id(&page.page_id, &page.document_id, page.page_number);
        assert!(
            DOCUMENT_TYPES.contains(&page.label.as_str()),
            "{}",
            page.label
        );
        let words = page.text.split_whitespace().count();
        assert!(
            (15..=220).contains(&words),
            "{}: {words} words",
            page.page_id
        );
    }
    for page in data.image_train.iter().chain(&data.image_validation) {
        id(&page.page_id, &page.document_id, page.page_number);
        assert_eq!((page.width, page.height), (32, 44));
        assert_eq!(
            decode_pixels(&page.pixels, page.width, page.height)
                .unwrap()
                .len(),
            32 * 44
        );
    }
    for page in &data.sequence_image {
        let pixels = decode_pixels(&page.pixels, page.width, page.height).unwrap();
        assert_eq!(pixels.len(), (page.width * page.height) as usize);
    }
    // The text and image sets list the same pages in the same order.
    let ids = |pages: &mut dyn Iterator<Item = &String>| pages.cloned().collect::<Vec<_>>();
    assert_eq!(
        ids(&mut data.text_train.iter().map(|p| &p.page_id)),
        ids(&mut data.image_train.iter().map(|p| &p.page_id))
    );
    assert_eq!(
        ids(&mut data.text_validation.iter().map(|p| &p.page_id)),
        ids(&mut data.image_validation.iter().map(|p| &p.page_id))
    );
    assert_eq!(
        ids(&mut data.labels.iter().map(|p| &p.page_id)),
        ids(&mut data.sequence_text.iter().map(|p| &p.page_id))
    );
    assert_eq!(
        ids(&mut data.labels.iter().map(|p| &p.page_id)),
        ids(&mut data.sequence_image.iter().map(|p| &p.page_id))
    );
    // Page ids are unique across the whole dataset.
    let all: Vec<&String> = data
        .text_train
        .iter()
        .chain(&data.text_validation)
        .map(|p| &p.page_id)
        .chain(data.labels.iter().map(|p| &p.page_id))
        .collect();
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), all.len());
    assert_eq!(all.len(), summary.pages);
    // About the requested total, and the manifest agrees.
    assert!(
        (3000..3000 + 8).contains(&summary.pages),
        "{}",
        summary.pages
    );
    let manifest: Manifest = serde_json::from_slice(&files.last().unwrap().body).unwrap();
    assert_eq!(files.last().unwrap().path, MANIFEST);
    assert_eq!(manifest.options, Options::default());
    assert_eq!(&manifest.summary, summary);
    assert_eq!(summary.files + 1, files.len());
}

#[test]
fn sets_are_disjoint_by_document_with_the_intended_shares() {
    let (files, summary) = default_files();
    let data = parse(files);
    let train = documents(data.text_train.iter().map(|p| &p.document_id));
    let validation = documents(data.text_validation.iter().map(|p| &p.document_id));
    let sequence = documents(data.labels.iter().map(|p| &p.document_id));
    assert!(train.is_disjoint(&validation));
    assert!(train.is_disjoint(&sequence) && validation.is_disjoint(&sequence));
    let mut split_documents: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for label in &data.labels {
        split_documents
            .entry(label.split.as_str())
            .or_default()
            .insert(label.document_id.clone());
    }
    assert_eq!(
        split_documents.keys().copied().collect::<Vec<_>>(),
        ["test", "train", "validation"]
    );
    let splits: Vec<&BTreeSet<String>> = split_documents.values().collect();
    for (i, a) in splits.iter().enumerate() {
        for b in &splits[i + 1..] {
            assert!(a.is_disjoint(b));
        }
    }
    let total = summary.pages as f64;
    let share = |n: usize| n as f64 / total;
    assert!((0.37..0.43).contains(&share(data.text_train.len())));
    assert!((0.12..0.18).contains(&share(data.text_validation.len())));
    assert!((0.42..0.48).contains(&share(data.labels.len())));
    let sequence_pages = data.labels.len() as f64;
    let split_share =
        |name: &str| data.labels.iter().filter(|l| l.split == name).count() as f64 / sequence_pages;
    assert!(
        (0.55..0.65).contains(&split_share("train")),
        "{}",
        split_share("train")
    );
    assert!((0.15..0.25).contains(&split_share("validation")));
    assert!((0.15..0.25).contains(&split_share("test")));
}

#[test]
fn sequences_bundle_whole_documents_in_order() {
    let (files, _) = default_files();
    let data = parse(files);
    let mut sequences: BTreeMap<&str, Vec<&SequenceLabel>> = BTreeMap::new();
    for label in &data.labels {
        sequences
            .entry(label.sequence_id.as_str())
            .or_default()
            .push(label);
    }
    let mut same_type_neighbours = 0;
    for (id, pages) in &sequences {
        assert!(id.len() == 6 && id.starts_with('s'), "{id}");
        for (i, page) in pages.iter().enumerate() {
            assert_eq!(page.position as usize, i, "{id}");
            assert_eq!(
                page.starts_document,
                page.page_number == 1,
                "{}",
                page.page_id
            );
            assert_eq!(page.split, pages[0].split, "{id} spans splits");
            if i > 0 && !page.starts_document {
                // Pages of a document are consecutive and numbered 1, 2, ...
                assert_eq!(page.document_id, pages[i - 1].document_id);
                assert_eq!(page.page_number, pages[i - 1].page_number + 1);
                assert_eq!(page.label, pages[i - 1].label);
            }
        }
        let starts: Vec<&&SequenceLabel> = pages.iter().filter(|p| p.starts_document).collect();
        assert!(pages[0].starts_document);
        assert!(starts.len() >= 2, "{id} has {} documents", starts.len());
        assert!(starts.len() <= 8, "{id} has {} documents", starts.len());
        same_type_neighbours += starts
            .windows(2)
            .filter(|w| w[0].label == w[1].label)
            .count();
    }
    // Boundaries are not just type changes.
    assert!(
        same_type_neighbours >= 20,
        "{same_type_neighbours} same-type neighbours"
    );
    // Each document appears in one place only.
    let mut seen = BTreeSet::new();
    for page in data.labels.iter().filter(|p| p.starts_document) {
        assert!(
            seen.insert(page.document_id.clone()),
            "{} appears twice",
            page.document_id
        );
    }
}

#[test]
fn every_set_has_every_label_and_no_majority_over_forty_percent() {
    let (files, summary) = default_files();
    let data = parse(files);
    let mut sets: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    sets.insert(
        "base/train".into(),
        data.text_train.iter().map(|p| p.label.as_str()).collect(),
    );
    sets.insert(
        "base/validation".into(),
        data.text_validation
            .iter()
            .map(|p| p.label.as_str())
            .collect(),
    );
    for label in &data.labels {
        sets.entry(format!("sequence/{}", label.split))
            .or_default()
            .push(label.label.as_str());
    }
    assert_eq!(sets.len(), 5);
    for (name, labels) in &sets {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        labels
            .iter()
            .for_each(|l| *counts.entry(l).or_default() += 1);
        assert_eq!(
            counts.keys().copied().collect::<Vec<_>>(),
            DOCUMENT_TYPES,
            "{name}"
        );
        let majority = *counts.values().max().unwrap() as f64 / labels.len() as f64;
        assert!(majority < 0.42, "{name}: majority {majority}");
        let set = summary.sets.iter().find(|s| &s.name == name).unwrap();
        assert_eq!(set.pages, labels.len(), "{name}");
        assert_eq!(
            set.pages_per_label
                .iter()
                .map(|(k, v)| (k.as_str(), *v))
                .collect::<BTreeMap<_, _>>(),
            counts
        );
    }
    // Some pages are first pages, most documents have several.
    let firsts = data
        .text_train
        .iter()
        .filter(|p| p.page_number == 1)
        .count();
    assert!(firsts * 2 < data.text_train.len() && firsts * 4 > data.text_train.len());
}

#[test]
fn page_text_looks_like_ocr() {
    let (files, _) = default_files();
    let data = parse(files);
    let all_text: Vec<&str> = data.text_train.iter().map(|p| p.text.as_str()).collect();
    let joined = all_text.join(" ");
    for expected in [
        "EUR",
        "Dear",
        "PAYSLIP",
        "IDENTITY",
        "intentionally",
        "Statement",
        "CONTRACT",
    ] {
        assert!(joined.contains(expected), "no {expected:?} anywhere");
    }
    // OCR confusions happen (a digit inside an otherwise alphabetic word).
    let confused = joined
        .split_whitespace()
        .filter(|w| {
            w.len() > 3
                && w.chars().any(|c| c.is_ascii_digit())
                && w.chars().filter(|c| c.is_ascii_alphabetic()).count() >= 3
        })
        .count();
    assert!(confused > 100, "{confused} confused words");
    // Pages vary: no two identical texts.
    assert_eq!(
        all_text.iter().collect::<BTreeSet<_>>().len(),
        all_text.len()
    );
}

#[test]
fn summary_displays_as_a_table() {
    let (_, summary) = default_files();
    let table = summary.to_string();
    for needle in [
        "base/train",
        "base/validation",
        "sequence/train",
        "sequence/validation",
        "sequence/test",
        "total",
        "contract",
    ] {
        assert!(table.contains(needle), "{needle} missing:\n{table}");
    }
    assert!(table.contains(&summary.pages.to_string()));
}

fn listing(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(
                    path.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    out
}

#[test]
fn write_matches_generate_and_removes_stale_parts_only() {
    let dir = tempfile::tempdir().unwrap();
    let big = Options {
        pages: 2500,
        ..Options::default()
    };
    write(&big, dir.path()).unwrap();
    assert!(listing(dir.path()).contains("text/train/part-00000.jsonl"));
    assert!(listing(dir.path()).contains("sequence/labels/part-00001.jsonl"));
    // Someone else's files: must survive.
    std::fs::write(dir.path().join("text/train/README.txt"), "notes").unwrap();
    std::fs::write(dir.path().join("notes.jsonl"), "{}").unwrap();
    std::fs::create_dir_all(dir.path().join("other")).unwrap();
    std::fs::write(dir.path().join("other/part-00005.jsonl"), "{}").unwrap();
    std::fs::write(dir.path().join("image/validation/part-00042.jsonl"), "{}").unwrap();

    let small = Options {
        pages: 300,
        ..Options::default()
    };
    let summary = write(&small, dir.path()).unwrap();
    let (files, expected_summary) = generate(&small).unwrap();
    assert_eq!(summary, expected_summary);
    let mut expected: BTreeSet<String> = files.iter().map(|f| f.path.clone()).collect();
    expected.extend(
        [
            "text/train/README.txt",
            "notes.jsonl",
            "other/part-00005.jsonl",
        ]
        .map(String::from),
    );
    assert_eq!(listing(dir.path()), expected);
    for file in &files {
        assert_eq!(
            std::fs::read(dir.path().join(&file.path)).unwrap(),
            file.body,
            "{}",
            file.path
        );
    }
}

#[test]
fn options_out_of_range_name_their_field() {
    let cases = [
        (
            Options {
                pages: 49,
                ..Options::default()
            },
            "pages",
        ),
        (
            Options {
                pages: 1_000_001,
                ..Options::default()
            },
            "pages",
        ),
        (
            Options {
                width: 0,
                ..Options::default()
            },
            "width",
        ),
        (
            Options {
                height: 10_000,
                ..Options::default()
            },
            "height",
        ),
    ];
    for (options, field) in cases {
        let error = generate(&options).unwrap_err();
        assert_eq!(error.field, field);
        assert!(error.to_string().contains(&format!("`{field}`")), "{error}");
        let dir = tempfile::tempdir().unwrap();
        let error = write(&options, &dir.path().join("out")).unwrap_err();
        assert!(
            matches!(error, WriteError::Options(ref e) if e.field == field),
            "{error}"
        );
        // Nothing was created for bad options.
        assert!(!dir.path().join("out").exists());
    }
    assert!(generate(&Options {
        pages: 50,
        width: 16,
        height: 256,
        seed: 0
    })
    .is_ok());
}

#[test]
fn the_binary_writes_and_reports_errors_with_exit_codes() {
    let exe = env!("CARGO_BIN_EXE_generate-dataset");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data");
    let run = |args: &[&str]| std::process::Command::new(exe).args(args).output().unwrap();

    let ok = run(&[
        "--out",
        out.to_str().unwrap(),
        "--pages",
        "200",
        "--seed",
        "9",
    ]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stderr).contains("base/train"));
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(out.join(MANIFEST)).unwrap()).unwrap();
    assert_eq!(
        manifest.options,
        Options {
            seed: 9,
            pages: 200,
            ..Options::default()
        }
    );

    let bad = run(&["--out", out.to_str().unwrap(), "--pages", "10"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`pages`"));

    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let io = run(&["--out", file.to_str().unwrap(), "--pages", "50"]);
    assert_eq!(io.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&io.stderr).contains("a-file"));

    let help = run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("sequence/labels/"));
}
