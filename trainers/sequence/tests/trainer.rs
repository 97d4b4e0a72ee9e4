//! The sequence trainer end to end on a generated dataset: the base models are fitted
//! on their own sets (as the pipeline's base training jobs do), predict every sequence
//! page (as batch transform does), and the sequence model learns from those
//! predictions. Checks the ensemble gain, then the container contract through the
//! real binary (train, serve, failures).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Instant;

use dataset::{ImagePage, SequenceImage, SequenceLabel, SequenceText, TextPage};
use image_trainer::{ImageModel, ImageParams};
use sequence_trainer::{
    fit_and_evaluate, Evaluation, SequenceDataset, SequenceParams, SequenceRequest,
    SequenceResponse,
};
use text_trainer::{TextModel, TextParams};
use trainer_kit::Prediction;
use trainer_testkit::{metric, records, Job, Serve};

const BIN: &str = env!("CARGO_BIN_EXE_sequence-trainer");
/// Pages of the generated dataset: 45% of them form the sequence set, 20% of which
/// is validation (~230 pages at 2,500).
const PAGES: usize = 2_500;

/// The base models' predictions on every sequence page, and the labels.
struct Fixture {
    labels: Vec<SequenceLabel>,
    text: Vec<Prediction>,
    image: Vec<Prediction>,
}

/// Generates a dataset, fits both base models on their train sets and predicts every
/// sequence page with them.
fn build_fixture(options: &dataset::Options) -> Fixture {
    let started = Instant::now();
    let (files, _) = dataset::generate(options).unwrap();
    let text_train: Vec<TextPage> = records(&files, "text/train");
    let image_train: Vec<ImagePage> = records(&files, "image/train");
    let text_model = TextModel::fit(&text_train, &TextParams::default()).unwrap();
    let image_model = ImageModel::fit(&image_train, &ImageParams::default()).unwrap();
    let text = records::<SequenceText>(&files, "sequence/text")
        .iter()
        .map(|p| text_model.predict(&p.page_id, &p.text))
        .collect();
    let image = records::<SequenceImage>(&files, "sequence/image")
        .iter()
        .map(|p| {
            let pixels = dataset::decode_pixels(&p.pixels, p.width, p.height).unwrap();
            image_model
                .predict(&p.page_id, p.width, p.height, &pixels)
                .unwrap()
        })
        .collect();
    let labels = records(&files, "sequence/labels");
    eprintln!(
        "fixture: {} pages (seed {}) generated, base models fitted and run in {:.1?}",
        options.pages,
        options.seed,
        started.elapsed()
    );
    Fixture {
        labels,
        text,
        image,
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        build_fixture(&dataset::Options {
            pages: PAGES,
            ..Default::default()
        })
    })
}

fn print_evaluation(split: &str, e: &Evaluation) {
    eprintln!(
        "{split}: {} pages, {} documents; accuracy {:.4} (text {:.4}, image {:.4}); macro F1 {:.4} (text {:.4}, image {:.4}); boundary F1 {:.4}; document accuracy {:.4}",
        e.pages,
        e.documents,
        e.accuracy,
        e.text_accuracy,
        e.image_accuracy,
        e.macro_f1,
        e.text_macro_f1,
        e.image_macro_f1,
        e.boundary_f1,
        e.document_accuracy
    );
}

#[test]
fn the_ensemble_beats_the_better_base_model() {
    let f = fixture();
    let dataset = SequenceDataset::join(f.labels.clone(), f.text.clone(), f.image.clone()).unwrap();
    let started = Instant::now();
    let outcome = fit_and_evaluate(&dataset, &SequenceParams::default()).unwrap();
    let v = &outcome.validation;
    eprintln!(
        "sequence model fitted in {:.1?}; validation: {} pages, {} documents",
        started.elapsed(),
        v.pages,
        v.documents
    );
    print_evaluation("validation", v);
    if let Some(t) = &outcome.test {
        print_evaluation("test", t);
    }
    eprintln!("train loss {:.4}", outcome.train_loss);
    assert!(v.pages >= 150, "validation too small to measure: {v:?}");
    let best_accuracy = v.text_accuracy.max(v.image_accuracy);
    let best_f1 = v.text_macro_f1.max(v.image_macro_f1);
    assert!(
        v.accuracy >= best_accuracy + 0.03,
        "accuracy {:.4} vs better base model {best_accuracy:.4}",
        v.accuracy
    );
    assert!(
        v.macro_f1 >= best_f1 + 0.03,
        "macro F1 {:.4} vs better base model {best_f1:.4}",
        v.macro_f1
    );
    // Boundaries: far better than "every page starts a document".
    assert!(v.boundary_f1 >= 0.8, "{v:?}");
    assert!(v.document_accuracy >= 0.5, "{v:?}");
}

// ---- the container contract ---------------------------------------------------------

fn jsonl<T: serde::Serialize>(records: &[T]) -> String {
    let mut out = String::new();
    for r in records {
        out.push_str(&serde_json::to_string(r).unwrap());
        out.push('\n');
    }
    out
}

/// A job with the three channels as the pipeline lays them out (the predictions as
/// batch transform's `<input file>.out`).
fn new_job(hyperparameters: &[(&str, &str)]) -> Job {
    channels(Job::new(hyperparameters), fixture())
}

/// Adds the fixture's labels and the base models' predictions as the three channels.
fn channels(job: Job, f: &Fixture) -> Job {
    job.channel("labels", "part-00000.jsonl", jsonl(&f.labels))
        .channel("text_predictions", "part-00000.jsonl.out", jsonl(&f.text))
        .channel("image_predictions", "part-00000.jsonl.out", jsonl(&f.image))
}

/// Runs `train`, which must fail with exit code 1, and returns the failure reason.
fn failure(job: &Job) -> String {
    let output = job.train(BIN);
    assert_eq!(
        output.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    job.failure().expect("output/failure")
}

/// The validation sequences as serve requests, pages in order.
fn requests(n: usize) -> Vec<SequenceRequest> {
    let f = fixture();
    let dataset = SequenceDataset::join(f.labels.clone(), f.text.clone(), f.image.clone()).unwrap();
    dataset
        .split("validation")
        .into_iter()
        .take(n)
        .map(SequenceRequest::from)
        .collect()
}

#[test]
fn train_then_serve_through_the_binary() {
    let job = new_job(&[("context_pages", "2"), ("epochs", "150")]);
    let output = job.train(BIN);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    eprintln!("{stdout}");
    assert!(
        stderr.contains("train:"),
        "counts per split on stderr: {stderr}"
    );
    let model_dir = job.root().join("model");
    assert!(model_dir.join("model.json").is_file());
    let metrics: BTreeMap<String, f64> =
        serde_json::from_str(&std::fs::read_to_string(model_dir.join("metrics.json")).unwrap())
            .unwrap();
    // train:loss first, then the validation line, then the test line.
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("train:loss="), "{stdout}");
    assert!(lines.iter().any(|l| l.starts_with("validation:accuracy=")));
    assert!(lines.iter().any(|l| l.starts_with("test:accuracy=")));
    for name in [
        "train:loss",
        "validation:accuracy",
        "validation:macro_f1",
        "validation:boundary_f1",
        "validation:document_accuracy",
        "validation:text_accuracy",
        "validation:image_accuracy",
        "test:accuracy",
        "test:macro_f1",
    ] {
        let printed = metric(&stdout, name).unwrap_or_else(|| panic!("{name} not on stdout"));
        let saved = metrics[name];
        // stdout has 6 significant digits
        assert!(
            (printed - saved).abs() <= 1e-5 * saved.abs().max(1.0),
            "{name}: {printed} vs {saved}"
        );
    }

    let server = Serve::start(BIN, job.root());
    let requests = requests(3);
    assert_eq!(requests.len(), 3);
    let body = jsonl(&requests);
    let (status, response) = server.post("/invocations", &body);
    assert_eq!(status, 200, "{response}");
    let lines: Vec<&str> = response.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 3, "{response}");
    for (request, line) in requests.iter().zip(lines) {
        let answer: SequenceResponse = serde_json::from_str(line).unwrap();
        assert_eq!(answer.sequence_id, request.sequence_id);
        let ids: Vec<&str> = answer.pages.iter().map(|p| p.page_id.as_str()).collect();
        let wanted: Vec<&str> = request
            .pages
            .iter()
            .map(|p| p.page_id.as_deref().unwrap())
            .collect();
        assert_eq!(ids, wanted);
        for page in &answer.pages {
            let sum: f64 = page.probabilities.values().sum();
            assert!((sum - 1.0).abs() < 1e-6, "{line}");
        }
        assert!(answer.pages[0].starts_document);
        let in_documents: Vec<&str> = answer
            .documents
            .iter()
            .flat_map(|d| d.pages.iter().map(String::as_str))
            .collect();
        assert_eq!(in_documents, wanted);
    }

    // A bad second line -> 400 naming line 2.
    let body = format!(
        "{}\n{{\"sequence_id\": 5}}\n",
        serde_json::to_string(&requests[0]).unwrap()
    );
    let (status, response) = server.post("/invocations", &body);
    assert_eq!(status, 400, "{response}");
    assert!(response.contains("line 2"), "{response}");

    // Predictions of two different pages on one page -> 400 naming the page.
    let mut mixed = requests[0].clone();
    mixed.pages[1].text = requests[0].pages[0].text.clone();
    let (status, response) = server.post("/invocations", serde_json::to_string(&mixed).unwrap());
    assert_eq!(status, 400, "{response}");
    let page = mixed.pages[1].page_id.clone().unwrap();
    assert!(response.contains(&page), "{response}");
}

#[test]
fn failures_name_what_is_wrong() {
    // epochs = 0
    let job = new_job(&[("epochs", "0")]);
    let reason = failure(&job);
    assert!(reason.starts_with("hyperparameter `epochs`"), "{reason}");

    // a typo in a hyperparameter name
    let job = new_job(&[("context_page", "3")]);
    let reason = failure(&job);
    assert!(reason.contains("context_page"), "{reason}");

    // boundary_threshold outside (0, 1)
    let job = new_job(&[("boundary_threshold", "1")]);
    let reason = failure(&job);
    assert!(
        reason.starts_with("hyperparameter `boundary_threshold`"),
        "{reason}"
    );

    // a missing channel
    let job = new_job(&[]);
    std::fs::remove_dir_all(job.root().join("input/data/image_predictions")).unwrap();
    let reason = failure(&job);
    assert!(reason.contains("image_predictions"), "{reason}");

    // a malformed record: file and line
    let job = new_job(&[]);
    let labels = job.root().join("input/data/labels/part-00000.jsonl");
    let mut lines: Vec<String> = std::fs::read_to_string(&labels)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.insert(
        2,
        "{\"page_id\": \"x\", \"position\": \"three\"}".to_owned(),
    );
    let body = lines.join("\n");
    std::fs::write(&labels, body).unwrap();
    let reason = failure(&job);
    assert!(reason.contains("part-00000.jsonl:3"), "{reason}");

    // a labelled page without an image prediction
    let f = fixture();
    let dropped = &f.image[10].page_id;
    let kept: Vec<&Prediction> = f.image.iter().filter(|p| &p.page_id != dropped).collect();
    let job = new_job(&[]).channel("image_predictions", "part-00000.jsonl.out", jsonl(&kept));
    let reason = failure(&job);
    assert!(reason.contains(dropped.as_str()), "{reason}");
    assert!(reason.contains("`image_predictions`"), "{reason}");
    assert!(!job.root().join("model/model.json").exists());
}

/// The figures of trainers/README.md: the default 3,000-page dataset and a small
/// hyperparameter grid on three seeds, then `train` through the binary (timed).
/// `cargo test -p sequence-trainer --test trainer -- --ignored --nocapture`
#[test]
#[ignore = "slow: three 3,000-page datasets; run by hand for the README figures"]
fn default_dataset_figures_and_tuning() {
    let mut fixtures = Vec::new();
    for seed in [2026, 7, 11] {
        fixtures.push(build_fixture(&dataset::Options {
            seed,
            ..Default::default()
        }));
    }
    let datasets: Vec<SequenceDataset> = fixtures
        .iter()
        .map(|f| SequenceDataset::join(f.labels.clone(), f.text.clone(), f.image.clone()).unwrap())
        .collect();
    let defaults = SequenceParams::default();
    let outcome = fit_and_evaluate(&datasets[0], &defaults).unwrap();
    eprintln!(
        "default dataset (seed 2026), default hyperparameters, train loss {:.4}",
        outcome.train_loss
    );
    print_evaluation("validation", &outcome.validation);
    if let Some(t) = &outcome.test {
        print_evaluation("test", t);
    }
    let mut grid = Vec::new();
    for context_pages in [0, 1, 2, 3, 5] {
        for l2 in [0.1, 1.0, 10.0] {
            for epochs in [50, 200] {
                grid.push(SequenceParams {
                    context_pages,
                    l2,
                    epochs,
                    ..SequenceParams::default()
                });
            }
        }
    }
    for threshold in [0.3, 0.7] {
        grid.push(SequenceParams {
            boundary_threshold: threshold,
            ..SequenceParams::default()
        });
    }
    for params in grid {
        // mean over seeds of validation+test (more pages than validation alone)
        let (mut accuracy, mut f1, mut documents) = (0.0, 0.0, 0.0);
        for dataset in &datasets {
            let o = fit_and_evaluate(dataset, &params).unwrap();
            let t = o.test.unwrap();
            accuracy += (o.validation.accuracy + t.accuracy) / 6.0;
            f1 += (o.validation.macro_f1 + t.macro_f1) / 6.0;
            documents += (o.validation.document_accuracy + t.document_accuracy) / 6.0;
        }
        eprintln!(
            "context {} l2 {:>4} epochs {:>3} threshold {}: accuracy {accuracy:.4} macro F1 {f1:.4} document accuracy {documents:.4}",
            params.context_pages, params.l2, params.epochs, params.boundary_threshold
        );
    }

    // The training job itself on the default dataset, timed (debug build).
    // No hyperparameters.json at all.
    let job = channels(Job::new(&[]), &fixtures[0]);
    std::fs::remove_file(job.root().join("input/config/hyperparameters.json")).unwrap();
    let started = Instant::now();
    let output = job.train(BIN);
    assert!(output.status.success());
    eprintln!(
        "`sequence-trainer train` on the default dataset: {:.2?}\n{}",
        started.elapsed(),
        String::from_utf8_lossy(&output.stdout)
    );
}
