//! The text trainer end to end: real learning on a generated dataset, the SageMaker
//! container contract through the real binary (`train`, then `serve` over HTTP), and
//! failures on purpose (bad hyperparameter, unknown key, missing channel, bad record).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use dataset::TextPage;
use text_trainer::{evaluate, TextModel, TextParams};
use trainer_kit::Prediction;

const BIN: &str = env!("CARGO_BIN_EXE_text-trainer");

/// The generated dataset's files under `prefix` (e.g. `text/train/`), as (file name, body).
fn generated(pages: usize, seed: u64) -> Vec<(String, String)> {
    let (files, _summary) = dataset::generate(&dataset::Options {
        pages,
        seed,
        ..Default::default()
    })
    .unwrap();
    files
        .into_iter()
        .map(|f| (f.path, String::from_utf8(f.body).unwrap()))
        .collect()
}

fn files_under<'a>(files: &'a [(String, String)], prefix: &str) -> Vec<&'a (String, String)> {
    let found: Vec<_> = files
        .iter()
        .filter(|(p, _)| p.starts_with(prefix))
        .collect();
    assert!(!found.is_empty(), "no generated file under {prefix}");
    found
}

fn pages(files: &[(String, String)], prefix: &str) -> Vec<TextPage> {
    files_under(files, prefix)
        .iter()
        .flat_map(|(_, body)| body.lines())
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn fit_and_measure(
    pages_total: usize,
    seed: u64,
    params: &TextParams,
) -> (text_trainer::Evaluation, f64) {
    let files = generated(pages_total, seed);
    let train = pages(&files, "text/train/");
    let validation = pages(&files, "text/validation/");
    let started = Instant::now();
    let model = TextModel::fit(&train, params).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let e = evaluate(&model, &validation);
    println!(
        "{pages_total} pages ({} train, {} validation), {} features: accuracy {:.4} \
         (majority {:.4}), macro F1 {:.4}, first-page F1 {:.4}, loss {:.4}, fit {seconds:.1} s",
        train.len(),
        validation.len(),
        model.n_features(),
        e.accuracy,
        e.majority_baseline,
        e.macro_f1,
        e.first_page_f1,
        e.loss
    );
    (e, seconds)
}

#[test]
fn learns_document_types_from_ocr_text() {
    let (e, _) = fit_and_measure(1200, 7, &TextParams::default());
    assert!(
        e.accuracy >= e.majority_baseline + 0.2,
        "accuracy {} vs majority {}",
        e.accuracy,
        e.majority_baseline
    );
    // A constant classifier's macro F1 over 5 classes is at most 2*0.31/1.31/5 ~ 0.1.
    assert!(e.macro_f1 >= 0.6, "macro F1 {}", e.macro_f1);
    assert!(e.first_page_f1 > 0.0, "first-page F1 {}", e.first_page_f1);
    assert!(e.loss.is_finite());
}

/// The figures on the default dataset (the generator's default options); run once for the report:
/// `cargo test -p text-trainer --test trainer -- --ignored --nocapture default_dataset`.
#[test]
#[ignore]
fn default_dataset_figures() {
    let defaults = dataset::Options::default();
    fit_and_measure(defaults.pages, defaults.seed, &TextParams::default());
}

/// A small grid around the defaults on the default dataset (two seeds), for tuning:
/// `cargo test -p text-trainer --test trainer -- --ignored --nocapture tune`.
#[test]
#[ignore]
fn tune() {
    let base = TextParams::default();
    let grid = [
        base.clone(),
        TextParams {
            l2: 1.0,
            ..base.clone()
        },
        TextParams {
            l2: 0.3,
            ..base.clone()
        },
        TextParams {
            l2: 0.03,
            ..base.clone()
        },
        TextParams {
            char_ngrams: false,
            ..base.clone()
        },
        TextParams {
            ngram_max: 1,
            ..base.clone()
        },
        TextParams {
            max_features: 1000,
            ..base.clone()
        },
        TextParams {
            max_features: 5000,
            ..base.clone()
        },
        TextParams {
            epochs: 30,
            ..base.clone()
        },
    ];
    for params in &grid {
        println!("{params:?}");
        for seed in [7, 8] {
            fit_and_measure(3000, seed, params);
        }
    }
}

// ---- the container contract through the real binary ----

/// An SM_ML_ROOT with hyperparameters and the given channels (channel -> dataset prefix).
fn ml_root(
    dir: &Path,
    hyperparameters: &[(&str, &str)],
    files: &[(String, String)],
    channels: &[(&str, &str)],
) {
    let config = dir.join("input/config");
    std::fs::create_dir_all(&config).unwrap();
    let map: serde_json::Map<String, serde_json::Value> = hyperparameters
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String((*v).to_owned())))
        .collect();
    std::fs::write(
        config.join("hyperparameters.json"),
        serde_json::to_vec(&map).unwrap(),
    )
    .unwrap();
    for (channel, prefix) in channels {
        let channel_dir = dir.join("input/data").join(channel);
        std::fs::create_dir_all(&channel_dir).unwrap();
        let body: String = files_under(files, prefix)
            .iter()
            .map(|(_, b)| b.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(channel_dir.join("part-00000.jsonl"), body).unwrap();
    }
}

fn run_train(root: &Path) -> Output {
    Command::new(BIN)
        .arg("train")
        .env("SM_ML_ROOT", root)
        .output()
        .unwrap()
}

fn failure(root: &Path) -> String {
    std::fs::read_to_string(root.join("output/failure")).unwrap_or_default()
}

/// The value of the first `name=([-+0-9.eE]+)` match in `text`.
fn metric(text: &str, name: &str) -> Option<f64> {
    let re = regex::Regex::new(&format!("{}=([-+0-9.eE]+)", regex::escape(name))).unwrap();
    re.captures(text).map(|c| c[1].parse().unwrap())
}

/// Kills the serve process even when an assertion fails.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 exchange (Connection: close): (status, body).
fn http(port: u16, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/jsonlines\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Ok((
        status,
        if chunked {
            dechunk(rest)
        } else {
            rest.to_owned()
        },
    ))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || tail.len() < size {
            break;
        }
        out.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
    out
}

#[test]
fn trains_and_serves_through_the_container_contract() {
    let files = generated(400, 11);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    ml_root(
        root,
        &[
            ("epochs", "50"),
            ("max_features", "2000"),
            ("sagemaker_program", "x"),
        ],
        &files,
        &[("train", "text/train/"), ("validation", "text/validation/")],
    );
    let out = run_train(root);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "train failed: {stderr}\n{}",
        failure(root)
    );
    assert!(
        stderr.contains("majority-class baseline on validation: "),
        "{stderr}"
    );
    let model_dir = root.join("model");
    assert!(model_dir.join("model.json").is_file());
    let figures: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model_dir.join("metrics.json")).unwrap()).unwrap();
    for name in [
        "train:loss",
        "validation:accuracy",
        "validation:macro_f1",
        "validation:first_page_f1",
        "validation:loss",
    ] {
        let logged = metric(&stdout, name).unwrap_or_else(|| panic!("no {name} in {stdout}"));
        let saved = figures[name].as_f64().unwrap();
        assert!(
            (logged - saved).abs() <= 1e-5 * saved.abs().max(1.0),
            "{name}: logged {logged}, metrics.json {saved}"
        );
    }
    // train:loss comes first, the validation line after it.
    let train_at = stdout.find("train:loss=").unwrap();
    let validation_at = stdout.find("validation:accuracy=").unwrap();
    assert!(train_at < validation_at, "{stdout}");
    assert!(
        figures["validation:accuracy"].as_f64().unwrap() > 0.5,
        "{figures}"
    );

    let port = free_port();
    let _server = Server(
        Command::new(BIN)
            .arg("serve")
            .env("SM_ML_ROOT", root)
            .env("SAGEMAKER_BIND_TO_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok((200, _)) = http(port, "GET", "/ping", b"") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not answer /ping within 10 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let sequence: Vec<serde_json::Value> = files_under(&files, "sequence/text/")
        .iter()
        .flat_map(|(_, b)| b.lines())
        .filter(|l| !l.trim().is_empty())
        .take(3)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(sequence.len(), 3);
    let body: Vec<String> = sequence.iter().map(|v| v.to_string()).collect();
    let (status, answer) = http(port, "POST", "/invocations", body.join("\n").as_bytes()).unwrap();
    assert_eq!(status, 200, "{answer}");
    let predictions: Vec<Prediction> = answer
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(predictions.len(), 3, "{answer}");
    for (p, input) in predictions.iter().zip(&sequence) {
        assert_eq!(p.page_id, input["page_id"].as_str().unwrap());
        assert_eq!(p.probabilities.len(), 5, "{answer}");
        let sum: f64 = p.probabilities.values().sum();
        assert!((sum - 1.0).abs() < 1e-6, "sum {sum}");
        assert!(p.probabilities.contains_key(&p.label));
        assert!((0.0..=1.0).contains(&p.first_page_probability));
    }

    let bad = format!("{}\n{{\"page_id\": 5}}", body[0]);
    let (status, answer) = http(port, "POST", "/invocations", bad.as_bytes()).unwrap();
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("line 2"), "{answer}");
}

fn failing_run(
    hyperparameters: &[(&str, &str)],
    channels: &[(&str, &str)],
    damage: impl FnOnce(&Path),
) -> (String, PathBuf, tempfile::TempDir) {
    let files = generated(120, 3);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    ml_root(&root, hyperparameters, &files, channels);
    damage(&root);
    let out = run_train(&root);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!root.join("model/model.json").exists());
    (failure(&root), root, tmp)
}

const BOTH: &[(&str, &str)] = &[("train", "text/train/"), ("validation", "text/validation/")];

#[test]
fn fails_with_a_readable_reason() {
    let (reason, _, _t) = failing_run(&[("epochs", "0")], BOTH, |_| {});
    assert!(reason.starts_with("hyperparameter `epochs`: "), "{reason}");

    let (reason, _, _t) = failing_run(&[("epoch", "10")], BOTH, |_| {});
    assert!(reason.contains("epoch"), "{reason}");

    let (reason, _, _t) = failing_run(&[], &[("train", "text/train/")], |_| {});
    assert!(reason.starts_with("channel `validation`"), "{reason}");

    let (reason, _, _t) = failing_run(&[], BOTH, |root| {
        let file = root.join("input/data/train/part-00000.jsonl");
        let mut text = std::fs::read_to_string(&file).unwrap();
        let first_line_end = text.find('\n').unwrap();
        text.insert_str(first_line_end + 1, "{\"page_id\": \"broken\"\n");
        std::fs::write(&file, text).unwrap();
    });
    assert!(reason.starts_with("train/part-00000.jsonl:2:"), "{reason}");
}
