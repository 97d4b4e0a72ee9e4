//! The ensemble report that aggregate-metrics writes, and the small summary it returns.
//!
//! Everything here is pure: the function fetches job descriptions and turns them into
//! [`ModelReport`]s; this module decides metric directions, the ensemble's gain over
//! its base models, the quality gate, and what the summary (which flows through the
//! state machine, and becomes the success e-mail) keeps.
//!
//! These types are a compatibility boundary (the report is read by people and tools,
//! the summary by the state machine's `Quality Gate` Choice): add fields, never rename.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::naming::ModelKind;

/// The report format version, bumped on any incompatible change.
pub const REPORT_SCHEMA_VERSION: u32 = 1;
/// Metrics per model (and gains) kept in the summary; the report keeps them all.
/// SageMaker allows 40 metric definitions per job, with names of up to 255 characters:
/// the cap keeps the summary far below Step Functions' 256 KiB payload limit.
pub const MAX_SUMMARY_METRICS: usize = 20;
/// `summary_text` becomes an e-mail body; it stays below 8 KB.
pub const MAX_SUMMARY_TEXT_BYTES: usize = 8000;

/// Metric-name endings (of the part after the last `:` or `_`) that mean lower is
/// better; all other metrics are higher-is-better.
const LOWER_IS_BETTER_SUFFIXES: [&str; 5] = ["loss", "error", "rmse", "mse", "mae"];

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

impl Direction {
    fn words(self) -> &'static str {
        match self {
            Direction::HigherIsBetter => "higher is better",
            Direction::LowerIsBetter => "lower is better",
        }
    }

    /// Whether `value` is at or beyond `bound` in this direction.
    pub fn meets(self, value: f64, bound: f64) -> bool {
        match self {
            Direction::HigherIsBetter => value >= bound,
            Direction::LowerIsBetter => value <= bound,
        }
    }

    /// How much better `value` is than `reference` (positive = better).
    pub fn improvement(self, value: f64, reference: f64) -> f64 {
        match self {
            Direction::HigherIsBetter => value - reference,
            Direction::LowerIsBetter => reference - value,
        }
    }
}

/// `validation:rmse`, `train_loss`, `val:logloss` are lower-is-better;
/// `validation:accuracy`, `validation:macro_f1` are higher-is-better.
pub fn metric_direction(name: &str) -> Direction {
    let last = name
        .rsplit([':', '_'])
        .next()
        .unwrap_or(name)
        .to_ascii_lowercase();
    if LOWER_IS_BETTER_SUFFIXES.iter().any(|s| last.ends_with(s)) {
        Direction::LowerIsBetter
    } else {
        Direction::HigherIsBetter
    }
}

/// SageMaker reports metric values as 32-bit floats: `0.81` arrives as
/// `0.8100000023841858` once widened. This keeps the shortest decimal that round-trips
/// through `f32`, so reports show `0.81`, gains show `0.07`, and a metric of `0.7`
/// meets a threshold of `0.7`.
pub fn tidy(value: f64) -> f64 {
    if !value.is_finite() || value.abs() > f64::from(f32::MAX) {
        return value;
    }
    (value as f32).to_string().parse().unwrap_or(value)
}

/// One value per model of the ensemble, with explicit field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerModel<T> {
    pub text: T,
    pub image: T,
    pub sequence: T,
}

impl<T> PerModel<T> {
    pub fn get(&self, kind: ModelKind) -> &T {
        match kind {
            ModelKind::Text => &self.text,
            ModelKind::Image => &self.image,
            ModelKind::Sequence => &self.sequence,
        }
    }

    pub fn map<U>(&self, mut f: impl FnMut(ModelKind, &T) -> U) -> PerModel<U> {
        PerModel {
            text: f(ModelKind::Text, &self.text),
            image: f(ModelKind::Image, &self.image),
            sequence: f(ModelKind::Sequence, &self.sequence),
        }
    }
}

/// Where a reused model came from: an earlier execution's training job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reuse {
    pub from_execution: String,
    pub training_job_name_prefix: String,
    pub model_name: Option<String>,
}

/// Everything the report keeps about one model (from DescribeTrainingJob).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ModelReport {
    pub training_job_name: String,
    pub training_job_arn: Option<String>,
    /// The earlier execution whose job is reused; `null` when trained in this one.
    pub reused_from: Option<String>,
    pub reuse: Option<Reuse>,
    pub status: String,
    pub secondary_status: Option<String>,
    pub failure_reason: Option<String>,
    pub model_artifacts: Option<String>,
    /// `FinalMetricDataList`, by name (finite values only).
    pub metrics: BTreeMap<String, f64>,
    /// Metrics SageMaker reported as NaN or infinite, with that value spelled out;
    /// JSON cannot carry them as numbers, and they cannot pass a gate.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub non_finite_metrics: BTreeMap<String, String>,
    pub training_time_seconds: Option<i64>,
    pub billable_time_seconds: Option<i64>,
    pub instance_type: Option<String>,
    pub instance_count: Option<i64>,
    pub volume_size_gb: Option<i64>,
    pub hyperparameters: BTreeMap<String, String>,
    /// RFC 3339 timestamps.
    pub creation_time: Option<String>,
    pub training_start_time: Option<String>,
    pub training_end_time: Option<String>,
}

/// The sequence model against the best base model, for one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GainDetail {
    pub direction: Direction,
    pub sequence_value: f64,
    pub best_base_model: String,
    pub best_base_value: f64,
    /// Positive when the ensemble helps.
    pub gain: f64,
}

/// For every metric the sequence model and at least one base model report.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EnsembleGain {
    /// Metric → the base model (`text` or `image`) that did best on it.
    pub best_base_model: BTreeMap<String, String>,
    /// Metric → the sequence model's improvement over that best base model.
    pub metrics: BTreeMap<String, f64>,
    pub details: BTreeMap<String, GainDetail>,
}

/// What the state machine asks of the sequence model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateSpec {
    pub metric: String,
    pub threshold: f64,
}

/// The verdict the `Quality Gate` Choice reads (`passed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityGate {
    pub metric: String,
    pub threshold: f64,
    pub direction: Direction,
    /// The sequence model's value; `null` when it did not report the metric.
    pub value: Option<f64>,
    pub passed: bool,
    pub reason: String,
}

/// The full report written to S3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleReport {
    pub schema_version: u32,
    pub execution_name: String,
    pub report_uri: String,
    /// RFC 3339.
    pub generated_at: String,
    pub models: PerModel<ModelReport>,
    pub ensemble_gain: EnsembleGain,
    pub quality_gate: QualityGate,
}

/// One model in the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub training_job_name: String,
    pub reused_from: Option<String>,
    pub model_artifacts: Option<String>,
    pub metrics: BTreeMap<String, f64>,
    /// How many metrics the summary left out (the report has them); absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub metrics_omitted: usize,
}

/// The gain in the summary: `details` stay in the report.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GainSummary {
    pub best_base_model: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub metrics_omitted: usize,
}

/// What aggregate-metrics returns: small, because it flows through the state machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub execution_name: String,
    pub report_uri: String,
    pub models: PerModel<ModelSummary>,
    pub ensemble_gain: GainSummary,
    pub quality_gate: QualityGate,
    pub summary_text: String,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Compares the sequence model with the best base model on every metric they share.
/// Ties go to the first base model in [`ModelKind::BASE`] order (text, then image).
pub fn ensemble_gain(models: &PerModel<ModelReport>) -> EnsembleGain {
    let mut gain = EnsembleGain::default();
    for (metric, &sequence_value) in &models.sequence.metrics {
        let direction = metric_direction(metric);
        let mut best: Option<(ModelKind, f64)> = None;
        for kind in ModelKind::BASE {
            let Some(&value) = models.get(kind).metrics.get(metric) else {
                continue;
            };
            if best.is_none_or(|(_, b)| direction.improvement(value, b) > 0.0) {
                best = Some((kind, value));
            }
        }
        let Some((best_kind, best_value)) = best else {
            continue;
        };
        let delta = tidy(direction.improvement(sequence_value, best_value));
        gain.best_base_model
            .insert(metric.clone(), best_kind.key().to_string());
        gain.metrics.insert(metric.clone(), delta);
        gain.details.insert(
            metric.clone(),
            GainDetail {
                direction,
                sequence_value,
                best_base_model: best_kind.key().to_string(),
                best_base_value: best_value,
                gain: delta,
            },
        );
    }
    gain
}

/// Passed when the sequence model's gate metric is at or beyond the threshold in the
/// metric's direction; a missing metric does not pass.
pub fn quality_gate(spec: &GateSpec, sequence: &ModelReport) -> QualityGate {
    let direction = metric_direction(&spec.metric);
    let value = sequence.metrics.get(&spec.metric).copied();
    let (passed, reason) = match value {
        None => {
            let why = match sequence.non_finite_metrics.get(&spec.metric) {
                Some(v) => format!("reported {} = {v}", spec.metric),
                None => format!("did not report {}", spec.metric),
            };
            (
                false,
                format!(
                    "not passed: the sequence model (training job {}) {why}",
                    sequence.training_job_name
                ),
            )
        }
        Some(v) => {
            let passed = direction.meets(v, spec.threshold);
            let relation = match (direction, passed) {
                (Direction::HigherIsBetter, true) => "is at or above",
                (Direction::HigherIsBetter, false) => "is below",
                (Direction::LowerIsBetter, true) => "is at or below",
                (Direction::LowerIsBetter, false) => "is above",
            };
            (
                passed,
                format!(
                    "{}: {} = {v} {relation} the threshold {} ({})",
                    if passed { "passed" } else { "not passed" },
                    spec.metric,
                    spec.threshold,
                    direction.words()
                ),
            )
        }
    };
    QualityGate {
        metric: spec.metric.clone(),
        threshold: spec.threshold,
        direction,
        value,
        passed,
        reason,
    }
}

impl EnsembleReport {
    /// Assembles the report: the gain and the gate are computed from `models`.
    pub fn build(
        execution_name: &str,
        report_uri: &str,
        generated_at: &str,
        models: PerModel<ModelReport>,
        gate: &GateSpec,
    ) -> EnsembleReport {
        let ensemble_gain = ensemble_gain(&models);
        let quality_gate = quality_gate(gate, &models.sequence);
        EnsembleReport {
            schema_version: REPORT_SCHEMA_VERSION,
            execution_name: execution_name.to_string(),
            report_uri: report_uri.to_string(),
            generated_at: generated_at.to_string(),
            models,
            ensemble_gain,
            quality_gate,
        }
    }

    /// The small result for the state machine.
    pub fn summary(&self) -> Summary {
        let gate_metric = self.quality_gate.metric.as_str();
        let models = self.models.map(|_, model| {
            let (metrics, metrics_omitted) = capped(&model.metrics, gate_metric);
            ModelSummary {
                training_job_name: model.training_job_name.clone(),
                reused_from: model.reused_from.clone(),
                model_artifacts: model.model_artifacts.clone(),
                metrics,
                metrics_omitted,
            }
        });
        let (metrics, metrics_omitted) = capped(&self.ensemble_gain.metrics, gate_metric);
        let best_base_model = self
            .ensemble_gain
            .best_base_model
            .iter()
            .filter(|(name, _)| metrics.contains_key(*name))
            .map(|(name, model)| (name.clone(), model.clone()))
            .collect();
        Summary {
            execution_name: self.execution_name.clone(),
            report_uri: self.report_uri.clone(),
            models,
            ensemble_gain: GainSummary {
                best_base_model,
                metrics,
                metrics_omitted,
            },
            quality_gate: self.quality_gate.clone(),
            summary_text: self.summary_text(),
        }
    }

    /// The human-readable summary (the success e-mail body), at most
    /// [`MAX_SUMMARY_TEXT_BYTES`]; if longer, it is cut and points to the report.
    pub fn summary_text(&self) -> String {
        let gate = &self.quality_gate;
        let mut text = String::new();
        let _ = writeln!(
            text,
            "Ensemble training {}: quality gate {}",
            self.execution_name,
            if gate.passed { "PASSED" } else { "NOT PASSED" }
        );
        let _ = writeln!(text, "{}", gate.reason);
        let _ = writeln!(text);
        let _ = writeln!(text, "Models:");
        for kind in ModelKind::ALL {
            let model = self.models.get(kind);
            let origin = match &model.reused_from {
                Some(execution) => format!("reused from execution {execution}"),
                None => "trained in this execution".to_string(),
            };
            let _ = writeln!(
                text,
                "  {} ({}; training job {}, {})",
                kind.key(),
                origin,
                model.training_job_name,
                model.status
            );
            if model.metrics.is_empty() && model.non_finite_metrics.is_empty() {
                let _ = writeln!(text, "    (no metrics reported)");
            }
            for (name, value) in &model.metrics {
                let _ = writeln!(text, "    {name} = {value}");
            }
            for (name, value) in &model.non_finite_metrics {
                let _ = writeln!(text, "    {name} = {value}");
            }
        }
        let _ = writeln!(text);
        let _ = writeln!(
            text,
            "Ensemble gain (sequence model vs the best base model):"
        );
        if self.ensemble_gain.details.is_empty() {
            let _ = writeln!(text, "  (no metric reported by both)");
        }
        for (name, detail) in &self.ensemble_gain.details {
            let _ = writeln!(
                text,
                "  {name}: {:+} over {} ({} -> {}, {})",
                detail.gain,
                detail.best_base_model,
                detail.best_base_value,
                detail.sequence_value,
                detail.direction.words()
            );
        }
        let _ = writeln!(text);
        let _ = write!(text, "Full report: {}", self.report_uri);
        cut(
            text,
            MAX_SUMMARY_TEXT_BYTES,
            &format!("\n[... cut; full report: {}]", self.report_uri),
        )
    }
}

/// At most [`MAX_SUMMARY_METRICS`] entries, the gate metric first, then by name.
fn capped(metrics: &BTreeMap<String, f64>, first: &str) -> (BTreeMap<String, f64>, usize) {
    let mut kept = BTreeMap::new();
    let ordered = metrics
        .get_key_value(first)
        .into_iter()
        .chain(metrics.iter().filter(|(name, _)| name.as_str() != first));
    for (name, value) in ordered.take(MAX_SUMMARY_METRICS) {
        kept.insert(name.clone(), *value);
    }
    let omitted = metrics.len() - kept.len();
    (kept, omitted)
}

/// `text` if it fits in `max` bytes, else its longest prefix (on a character
/// boundary) that leaves room for `tail`, followed by `tail`.
fn cut(text: String, max: usize, tail: &str) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max.saturating_sub(tail.len());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = text.get(..end).unwrap_or_default().to_string();
    out.push_str(tail);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(job: &str, metrics: &[(&str, f64)]) -> ModelReport {
        ModelReport {
            training_job_name: job.to_string(),
            status: "Completed".to_string(),
            metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            ..ModelReport::default()
        }
    }

    fn gate(metric: &str, threshold: f64) -> GateSpec {
        GateSpec {
            metric: metric.to_string(),
            threshold,
        }
    }

    #[test]
    fn directions_follow_the_last_name_segment() {
        for lower in [
            "validation:loss",
            "train_loss",
            "validation:RMSE",
            "val:mse",
            "test_mae",
            "validation:error",
            "validation:logloss",
            "validation:mlogloss",
            "loss",
        ] {
            assert_eq!(metric_direction(lower), Direction::LowerIsBetter, "{lower}");
        }
        for higher in [
            "validation:accuracy",
            "validation:macro_f1",
            "validation:auc",
            "loss:accuracy",
            "error_rate_inverse",
            "validation:precision",
            "",
        ] {
            assert_eq!(
                metric_direction(higher),
                Direction::HigherIsBetter,
                "{higher}"
            );
        }
    }

    #[test]
    fn tidy_undoes_f32_widening() {
        assert_eq!(tidy(f64::from(0.81f32)), 0.81);
        assert_eq!(tidy(f64::from(0.7f32)), 0.7);
        assert_eq!(tidy(0.85 - 0.78), 0.07);
        assert_eq!(tidy(1234.5), 1234.5);
        assert!(tidy(f64::NAN).is_nan());
        assert_eq!(tidy(1e300), 1e300);
    }

    #[test]
    fn gain_uses_the_best_base_model_in_each_direction() {
        let models = PerModel {
            text: model(
                "t",
                &[("validation:accuracy", 0.81), ("validation:loss", 0.5)],
            ),
            image: model(
                "i",
                &[("validation:accuracy", 0.74), ("validation:loss", 0.4)],
            ),
            sequence: model(
                "s",
                &[
                    ("validation:accuracy", 0.88),
                    ("validation:loss", 0.45),
                    ("validation:only_sequence", 1.0),
                ],
            ),
        };
        let gain = ensemble_gain(&models);
        assert_eq!(gain.metrics["validation:accuracy"], 0.07);
        assert_eq!(gain.best_base_model["validation:accuracy"], "text");
        // Lower is better: image (0.4) is the best base; the sequence model is worse.
        assert_eq!(gain.metrics["validation:loss"], -0.05);
        assert_eq!(gain.best_base_model["validation:loss"], "image");
        assert_eq!(
            gain.details["validation:loss"].direction,
            Direction::LowerIsBetter
        );
        assert_eq!(gain.details["validation:loss"].best_base_value, 0.4);
        // Reported by the sequence model only: no gain.
        assert!(!gain.metrics.contains_key("validation:only_sequence"));
        assert_eq!(gain.metrics.len(), 2);
    }

    #[test]
    fn gain_with_one_base_model_and_ties() {
        let models = PerModel {
            text: model("t", &[("m", 0.5)]),
            image: model("i", &[("m", 0.5), ("only_image", 2.0)]),
            sequence: model("s", &[("m", 0.6), ("only_image", 1.5)]),
        };
        let gain = ensemble_gain(&models);
        assert_eq!(gain.best_base_model["m"], "text", "ties go to text");
        assert_eq!(gain.best_base_model["only_image"], "image");
        assert_eq!(gain.metrics["only_image"], -0.5);
        assert_eq!(gain.metrics["m"], 0.1);
    }

    #[test]
    fn no_shared_metric_means_no_gain() {
        let models = PerModel {
            text: model("t", &[]),
            image: model("i", &[("a", 1.0)]),
            sequence: model("s", &[("b", 1.0)]),
        };
        assert_eq!(ensemble_gain(&models), EnsembleGain::default());
    }

    #[test]
    fn gate_higher_is_better() {
        let seq = model("s", &[("validation:macro_f1", 0.6)]);
        let at = quality_gate(&gate("validation:macro_f1", 0.6), &seq);
        assert!(at.passed, "at the threshold passes: {}", at.reason);
        assert_eq!(at.value, Some(0.6));
        assert_eq!(at.direction, Direction::HigherIsBetter);
        let below = quality_gate(&gate("validation:macro_f1", 0.61), &seq);
        assert!(!below.passed);
        assert!(
            below.reason.contains("is below the threshold 0.61"),
            "{}",
            below.reason
        );
    }

    #[test]
    fn gate_lower_is_better() {
        let seq = model("s", &[("validation:rmse", 0.3)]);
        let passed = quality_gate(&gate("validation:rmse", 0.5), &seq);
        assert!(passed.passed);
        assert_eq!(passed.direction, Direction::LowerIsBetter);
        assert!(passed.reason.contains("at or below"), "{}", passed.reason);
        let failed = quality_gate(&gate("validation:rmse", 0.25), &seq);
        assert!(!failed.passed);
        assert!(failed.reason.contains("is above"), "{}", failed.reason);
    }

    #[test]
    fn gate_with_a_missing_or_non_finite_metric_does_not_pass() {
        let mut seq = model("seq-job", &[("validation:accuracy", 0.9)]);
        let missing = quality_gate(&gate("validation:macro_f1", 0.1), &seq);
        assert!(!missing.passed);
        assert_eq!(missing.value, None);
        assert!(missing
            .reason
            .contains("did not report validation:macro_f1"));
        assert!(missing.reason.contains("seq-job"));
        seq.non_finite_metrics
            .insert("validation:macro_f1".into(), "NaN".into());
        let nan = quality_gate(&gate("validation:macro_f1", 0.1), &seq);
        assert!(!nan.passed);
        assert!(nan.reason.contains("reported validation:macro_f1 = NaN"));
        let json = serde_json::to_value(&nan).unwrap();
        assert!(json["value"].is_null());
    }

    fn sample_report() -> EnsembleReport {
        let mut image = model("img-a0", &[("validation:accuracy", 0.74)]);
        image.reused_from = Some("nightly-1".into());
        EnsembleReport::build(
            "nightly-2",
            "s3://bkt/r.json",
            "2026-11-27T06:00:00Z",
            PerModel {
                text: model(
                    "txt-a0",
                    &[("validation:accuracy", 0.81), ("validation:macro_f1", 0.78)],
                ),
                image,
                sequence: model(
                    "seq-a1",
                    &[("validation:accuracy", 0.88), ("validation:macro_f1", 0.85)],
                ),
            },
            &gate("validation:macro_f1", 0.6),
        )
    }

    #[test]
    fn summary_keeps_the_contract_fields() {
        let report = sample_report();
        let summary = serde_json::to_value(report.summary()).unwrap();
        assert_eq!(
            summary["models"]["text"]["metrics"]["validation:accuracy"],
            0.81
        );
        assert_eq!(summary["models"]["image"]["reused_from"], "nightly-1");
        assert!(summary["models"]["text"]["reused_from"].is_null());
        assert!(summary["models"]["text"].get("metrics_omitted").is_none());
        assert_eq!(summary["quality_gate"]["passed"], true);
        assert_eq!(summary["quality_gate"]["value"], 0.85);
        assert_eq!(summary["report_uri"], "s3://bkt/r.json");
        assert_eq!(
            summary["ensemble_gain"]["metrics"]["validation:accuracy"],
            0.07
        );
        assert_eq!(
            summary["ensemble_gain"]["best_base_model"]["validation:accuracy"],
            "text"
        );
        assert!(summary["ensemble_gain"].get("details").is_none());
        let text = summary["summary_text"].as_str().unwrap();
        assert!(text.starts_with("Ensemble training nightly-2: quality gate PASSED\n"));
        assert!(text.contains("validation:accuracy: +0.07 over text (0.81 -> 0.88"));
        assert!(text.contains("image (reused from execution nightly-1; training job img-a0"));
        assert!(text.ends_with("Full report: s3://bkt/r.json"));
    }

    #[test]
    fn report_round_trips_through_json() {
        let report = sample_report();
        let json = serde_json::to_string(&report).unwrap();
        let back: EnsembleReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
        let value = serde_json::to_value(&report).unwrap();
        assert_eq!(value["schema_version"], 1);
        assert_eq!(
            value["ensemble_gain"]["details"]["validation:accuracy"]["gain"],
            0.07
        );
    }

    #[test]
    fn summary_stays_small_with_many_long_metrics() {
        let mut report = sample_report();
        let many: Vec<(String, f64)> = (0..40)
            .map(|i| (format!("validation:{i:02}_{}", "m".repeat(240)), 0.5))
            .collect();
        for kind in ModelKind::ALL {
            let m = match kind {
                ModelKind::Text => &mut report.models.text,
                ModelKind::Image => &mut report.models.image,
                ModelKind::Sequence => &mut report.models.sequence,
            };
            m.metrics.extend(many.iter().cloned());
        }
        report.ensemble_gain = ensemble_gain(&report.models);
        let summary = report.summary();
        // The gate metric is kept even though it sorts after the long names.
        assert!(summary
            .models
            .sequence
            .metrics
            .contains_key("validation:macro_f1"));
        assert_eq!(summary.models.sequence.metrics.len(), MAX_SUMMARY_METRICS);
        assert_eq!(
            summary.models.sequence.metrics_omitted,
            42 - MAX_SUMMARY_METRICS
        );
        assert_eq!(summary.ensemble_gain.metrics.len(), MAX_SUMMARY_METRICS);
        assert_eq!(
            summary.ensemble_gain.best_base_model.len(),
            MAX_SUMMARY_METRICS
        );
        assert!(summary.summary_text.len() <= MAX_SUMMARY_TEXT_BYTES);
        assert!(summary
            .summary_text
            .ends_with("[... cut; full report: s3://bkt/r.json]"));
        let bytes = serde_json::to_vec(&summary).unwrap().len();
        assert!(bytes < 40_000, "summary is {bytes} bytes");
    }

    #[test]
    fn cut_respects_character_boundaries() {
        let text = "é".repeat(10); // 20 bytes
        let out = cut(text, 9, "~");
        assert_eq!(out, "éééé~");
        assert_eq!(cut("short".into(), 9, "~"), "short");
    }
}
