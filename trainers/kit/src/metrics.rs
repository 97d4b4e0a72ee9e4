//! Evaluation metrics and the metric lines SageMaker reads: a training job's
//! `MetricDefinitions` are regexes matched against the algorithm's log lines
//! (developer guide, training-metrics: "define the metrics ... as regular
//! expressions"); ours are `<name>=([-+0-9.eE]+)`, see
//! statemachine/ensemble-training.asl.json.
//!
//! Class labels are indices `0..n_classes`. Inputs of different lengths are compared
//! over the shorter one (no panic on bad input; callers pass equal lengths).

use std::io::Write;

/// Fraction of equal pairs; 0.0 for empty input.
pub fn accuracy(truth: &[usize], predicted: &[usize]) -> f64 {
    let n = truth.len().min(predicted.len());
    if n == 0 {
        return 0.0;
    }
    let equal = truth.iter().zip(predicted).filter(|(t, p)| t == p).count();
    equal as f64 / n as f64
}

/// Unweighted mean over classes 0..n_classes of per-class F1; a class with no true
/// and no predicted sample is left out of the mean. 0.0 when no class is left.
pub fn macro_f1(truth: &[usize], predicted: &[usize], n_classes: usize) -> f64 {
    let mut tp = vec![0usize; n_classes];
    let mut fp = vec![0usize; n_classes];
    let mut fn_ = vec![0usize; n_classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        if t == p {
            if let Some(x) = tp.get_mut(t) {
                *x += 1;
            }
        } else {
            if let Some(x) = fn_.get_mut(t) {
                *x += 1;
            }
            if let Some(x) = fp.get_mut(p) {
                *x += 1;
            }
        }
    }
    let scores: Vec<f64> = (0..n_classes)
        .filter_map(|c| f1(tp[c], fp[c], fn_[c]))
        .collect();
    if scores.is_empty() {
        0.0
    } else {
        scores.iter().sum::<f64>() / scores.len() as f64
    }
}

/// F1 from counts; None when the class never occurs (neither true nor predicted).
fn f1(tp: usize, fp: usize, fn_: usize) -> Option<f64> {
    let denominator = 2 * tp + fp + fn_;
    (denominator > 0).then(|| 2.0 * tp as f64 / denominator as f64)
}

/// F1 of the positive class for booleans (document boundaries); 0.0 when there is
/// no positive at all (as scikit-learn's default zero_division).
pub fn binary_f1(truth: &[bool], predicted: &[bool]) -> f64 {
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for (&t, &p) in truth.iter().zip(predicted) {
        match (t, p) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fn_ += 1,
            (false, false) => {}
        }
    }
    f1(tp, fp, fn_).unwrap_or(0.0)
}

/// Mean cross-entropy of the true class under `probabilities` (rows), each
/// probability clamped to [1e-12, 1] (a missing or NaN entry counts as 1e-12).
/// 0.0 for empty input.
pub fn log_loss(truth: &[usize], probabilities: &[Vec<f64>]) -> f64 {
    let n = truth.len().min(probabilities.len());
    if n == 0 {
        return 0.0;
    }
    let total: f64 = truth
        .iter()
        .zip(probabilities)
        .map(|(&t, row)| {
            // clamp would keep NaN; a NaN probability counts as the floor.
            let p = row.get(t).copied().filter(|p| !p.is_nan()).unwrap_or(0.0);
            let p = p.clamp(1e-12, 1.0);
            -p.ln()
        })
        .sum();
    total / n as f64
}

/// The majority-class accuracy on `truth` (the baseline a model must beat); labels
/// outside 0..n_classes never win but count in the total. 0.0 for empty input.
pub fn majority_baseline(truth: &[usize], n_classes: usize) -> f64 {
    if truth.is_empty() {
        return 0.0;
    }
    let mut counts = vec![0usize; n_classes];
    for &t in truth {
        if let Some(c) = counts.get_mut(t) {
            *c += 1;
        }
    }
    counts.into_iter().max().unwrap_or(0) as f64 / truth.len() as f64
}

/// `value` with 6 significant digits, in a form the regex `[-+0-9.eE]+` matches
/// whole and every float parser reads: fixed notation for ordinary magnitudes,
/// exponent notation for tiny or huge ones. None for NaN and infinities.
pub fn format_value(value: f64) -> Option<String> {
    if !value.is_finite() {
        return None;
    }
    if value == 0.0 {
        return Some("0".to_string());
    }
    let magnitude = value.abs().log10().floor();
    if (-4.0..6.0).contains(&magnitude) {
        // The cast is in range: magnitude is in [-4, 5].
        let decimals = (5 - magnitude as i32).max(0) as usize;
        Some(format!("{value:.decimals$}"))
    } else {
        Some(format!("{value:.5e}"))
    }
}

/// The metric line for `metrics`: `name=value name2=value2 ...`; non-finite values
/// are left out (returned separately) since no metric regex can read them.
pub fn metrics_line<'a>(metrics: &[(&'a str, f64)]) -> (String, Vec<&'a str>) {
    let mut parts = Vec::new();
    let mut skipped = Vec::new();
    for &(name, value) in metrics {
        match format_value(value) {
            Some(v) => parts.push(format!("{name}={v}")),
            None => skipped.push(name),
        }
    }
    (parts.join(" "), skipped)
}

/// Prints one stdout line `name=value name2=value2 ...` (values with 6 significant
/// digits) and flushes: SageMaker's MetricDefinitions regexes
/// `validation:accuracy=([-+0-9.eE]+)` read it. A non-finite value is skipped with
/// a warning on stderr.
pub fn log_metrics(metrics: &[(&str, f64)]) {
    let (line, skipped) = metrics_line(metrics);
    for name in skipped {
        eprintln!("warning: metric {name} is not a finite number; not logged");
    }
    if line.is_empty() {
        return;
    }
    // A closed stdout must not panic the trainer (println! would).
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn accuracy_counts_equal_pairs() {
        assert!(close(accuracy(&[0, 1, 2, 1], &[0, 1, 1, 1]), 0.75));
        assert_eq!(accuracy(&[], &[]), 0.0);
    }

    #[test]
    fn macro_f1_leaves_out_absent_classes() {
        // Class 0: tp 1, fp 1 (the 1 predicted 0), fn 0 -> 2/3.
        // Class 1: tp 1, fp 0, fn 1 -> 2/3.
        // Class 2: tp 0, fp 0, fn 0 -> absent, left out; class 3: tp 1 -> 1.
        let truth = [0, 1, 1, 3];
        let predicted = [0, 1, 0, 3];
        let expected = (2.0 / 3.0 + 2.0 / 3.0 + 1.0) / 3.0;
        assert!(close(macro_f1(&truth, &predicted, 4), expected));
        // A class only predicted (never true) counts, with F1 0:
        // class 0: tp 0, fp 1, fn 0 -> 0; class 1: tp 1, fp 0, fn 1 -> 2/3.
        assert!(close(
            macro_f1(&[1, 1], &[0, 1], 2),
            (0.0 + 2.0 / 3.0) / 2.0
        ));
        assert_eq!(macro_f1(&[], &[], 3), 0.0);
        // Labels outside the classes do not panic.
        assert!(close(macro_f1(&[0, 7], &[7, 0], 1), 0.0));
    }

    #[test]
    fn binary_f1_of_the_positive_class() {
        // tp 2, fp 1, fn 1 -> 4 / 6.
        let truth = [true, true, true, false, false];
        let predicted = [true, true, false, true, false];
        assert!(close(binary_f1(&truth, &predicted), 4.0 / 6.0));
        assert_eq!(binary_f1(&[false, false], &[false, false]), 0.0);
        assert!(close(binary_f1(&[true], &[true]), 1.0));
    }

    #[test]
    fn log_loss_is_the_mean_negative_log_probability() {
        let probabilities = vec![vec![0.5, 0.5], vec![0.1, 0.9], vec![1.0, 0.0]];
        let expected = (-(0.5f64).ln() - (0.9f64).ln() + 0.0) / 3.0;
        assert!(close(log_loss(&[0, 1, 0], &probabilities), expected));
        // A zero (or missing, or NaN) probability is clamped at 1e-12.
        let clamped = -(1e-12f64).ln();
        assert!(close(log_loss(&[1], &[vec![1.0, 0.0]]), clamped));
        assert!(close(log_loss(&[5], &[vec![1.0]]), clamped));
        assert!(close(log_loss(&[0], &[vec![f64::NAN]]), clamped));
        assert_eq!(log_loss(&[], &[]), 0.0);
    }

    #[test]
    fn majority_baseline_is_the_largest_class_share() {
        assert!(close(majority_baseline(&[0, 1, 1, 2, 1], 3), 0.6));
        assert_eq!(majority_baseline(&[], 3), 0.0);
    }

    #[test]
    fn values_have_six_significant_digits_and_match_the_metric_regex() {
        assert_eq!(format_value(0.93).as_deref(), Some("0.930000"));
        assert_eq!(format_value(0.123456789).as_deref(), Some("0.123457"));
        assert_eq!(format_value(1.5).as_deref(), Some("1.50000"));
        assert_eq!(format_value(-12.25).as_deref(), Some("-12.2500"));
        assert_eq!(format_value(123456.7).as_deref(), Some("123457"));
        assert_eq!(format_value(0.0).as_deref(), Some("0"));
        assert_eq!(format_value(0.00012345).as_deref(), Some("0.000123450"));
        assert_eq!(format_value(1.5e-7).as_deref(), Some("1.50000e-7"));
        assert_eq!(format_value(2.5e9).as_deref(), Some("2.50000e9"));
        assert_eq!(format_value(f64::NAN), None);
        assert_eq!(format_value(f64::INFINITY), None);
        for v in [0.93, -12.25, 1.5e-7, 2.5e9, 27.631021115928547] {
            let text = format_value(v).unwrap();
            assert!(
                text.chars().all(|c| "-+0123456789.eE".contains(c)),
                "{text}"
            );
            let back: f64 = text.parse().unwrap();
            assert!(((back - v) / v).abs() < 1e-5, "{text}");
        }
    }

    #[test]
    fn the_metrics_line_skips_non_finite_values() {
        let (line, skipped) = metrics_line(&[
            ("validation:accuracy", 0.9),
            ("validation:bad", f64::NAN),
            ("validation:macro_f1", 0.85),
        ]);
        assert_eq!(
            line,
            "validation:accuracy=0.900000 validation:macro_f1=0.850000"
        );
        assert_eq!(skipped, vec!["validation:bad"]);
    }
}
