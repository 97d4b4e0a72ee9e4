//! The text trainer end to end: real learning on a generated dataset, the SageMaker
//! container contract through the real binary (`train`, then `serve` over HTTP), and
//! failures on purpose (bad hyperparameter, unknown key, missing channel, bad record).

use std::path::Path;
use std::time::Instant;

use dataset::TextPage;
use text_trainer::{evaluate, TextModel, TextParams};
use trainer_kit::Prediction;
use trainer_testkit::{files_under, generated, metric, records, Job, Serve};

const BIN: &str = env!("CARGO_BIN_EXE_text-trainer");

fn fit_and_measure(
    pages_total: usize,
    seed: u64,
    params: &TextParams,
) -> (text_trainer::Evaluation, f64) {
    let files = generated(pages_total, seed);
    let train: Vec<TextPage> = records(&files, "text/train");
    let validation: Vec<TextPage> = records(&files, "text/validation");
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

/// A job with hyperparameters and the given channels (channel -> dataset folder), each
/// channel one file: the folder's files joined.
fn job(
    hyperparameters: &[(&str, &str)],
    files: &[dataset::GeneratedFile],
    channels: &[(&str, &str)],
) -> Job {
    let mut job = Job::new(hyperparameters);
    for (channel, folder) in channels {
        let bodies: Vec<&[u8]> = files_under(files, folder)
            .iter()
            .map(|f| f.body.as_slice())
            .collect();
        job = job.channel(channel, "part-00000.jsonl", bodies.join(&b'\n'));
    }
    job
}

#[test]
fn trains_and_serves_through_the_container_contract() {
    let files = generated(400, 11);
    let job = job(
        &[
            ("epochs", "50"),
            ("max_features", "2000"),
            ("sagemaker_program", "x"),
        ],
        &files,
        &[("train", "text/train"), ("validation", "text/validation")],
    );
    let out = job.train(BIN);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "train failed: {stderr}\n{}",
        job.failure().unwrap_or_default()
    );
    assert!(
        stderr.contains("majority-class baseline on validation: "),
        "{stderr}"
    );
    let model_dir = job.root().join("model");
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

    let server = Serve::start(BIN, job.root());

    let sequence: Vec<serde_json::Value> = records(&files, "sequence/text")
        .into_iter()
        .take(3)
        .collect();
    assert_eq!(sequence.len(), 3);
    let body: Vec<String> = sequence.iter().map(|v| v.to_string()).collect();
    let (status, answer) = server.post("/invocations", body.join("\n"));
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
    let (status, answer) = server.post("/invocations", bad);
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("line 2"), "{answer}");
}

/// Runs `train` on a small job, after `damage`, and returns the failure reason; the
/// run must fail with exit code 1 and leave no model.
fn failing_run(
    hyperparameters: &[(&str, &str)],
    channels: &[(&str, &str)],
    damage: impl FnOnce(&Path),
) -> String {
    let files = generated(120, 3);
    let job = job(hyperparameters, &files, channels);
    damage(job.root());
    let out = job.train(BIN);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!job.root().join("model/model.json").exists());
    job.failure().unwrap_or_default()
}

const BOTH: &[(&str, &str)] = &[("train", "text/train"), ("validation", "text/validation")];

#[test]
fn fails_with_a_readable_reason() {
    let reason = failing_run(&[("epochs", "0")], BOTH, |_| {});
    assert!(reason.starts_with("hyperparameter `epochs`: "), "{reason}");

    let reason = failing_run(&[("epoch", "10")], BOTH, |_| {});
    assert!(reason.contains("epoch"), "{reason}");

    let reason = failing_run(&[], &[("train", "text/train")], |_| {});
    assert!(reason.starts_with("channel `validation`"), "{reason}");

    let reason = failing_run(&[], BOTH, |root| {
        let file = root.join("input/data/train/part-00000.jsonl");
        let mut text = std::fs::read_to_string(&file).unwrap();
        let first_line_end = text.find('\n').unwrap();
        text.insert_str(first_line_end + 1, "{\"page_id\": \"broken\"\n");
        std::fs::write(&file, text).unwrap();
    });
    assert!(reason.starts_with("train/part-00000.jsonl:2:"), "{reason}");
}
