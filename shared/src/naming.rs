//! Names of SageMaker and Batch resources.
//!
//! Training and transform job names are unique in an account and region for ever, and
//! a Step Functions `Retry` re-sends the same parameters. So every job name is a
//! per-execution prefix that the state machine completes with `$$.State.RetryCount`:
//! `States.Format('{}{}', prefix, $$.State.RetryCount)` gives `...-text-train-a0`,
//! `...-a1`, and so on. Model names carry no attempt number: the rerun path reuses an
//! earlier execution's model by name (see ARCHITECTURE.md).

use sha2::{Digest, Sha256};

/// SageMaker's limit for job and model names.
pub const SAGEMAKER_NAME_MAX: usize = 63;
/// Room kept for the attempt number the state machine appends (`RetryCount` is at
/// most the sum of a state's `MaxAttempts`, which the ASL tests bound to 4 digits).
pub const ATTEMPT_DIGITS_MAX: usize = 4;
/// What job-name prefixes end with; the state machine appends the attempt number.
pub const ATTEMPT_MARKER: &str = "-a";
/// AWS Batch's limit for job names.
pub const BATCH_JOB_NAME_MAX: usize = 128;

/// The resources an execution names, one per use so that no two collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    TrainingJob(ModelKind),
    TransformJob(ModelKind),
    Model(ModelKind),
    PreprocessJob,
}

/// The three models of the ensemble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModelKind {
    Text,
    Image,
    Sequence,
}

impl ModelKind {
    pub const ALL: [ModelKind; 3] = [ModelKind::Text, ModelKind::Image, ModelKind::Sequence];
    pub const BASE: [ModelKind; 2] = [ModelKind::Text, ModelKind::Image];

    /// The short name used in keys, names and reports: `text`, `image`, `sequence`.
    pub fn key(self) -> &'static str {
        match self {
            ModelKind::Text => "text",
            ModelKind::Image => "image",
            ModelKind::Sequence => "sequence",
        }
    }

    /// The execution-input and `generated` field: `text_model`, ...
    pub fn field(self) -> &'static str {
        match self {
            ModelKind::Text => "text_model",
            ModelKind::Image => "image_model",
            ModelKind::Sequence => "sequence_model",
        }
    }

    fn name_part(self) -> &'static str {
        match self {
            ModelKind::Text => "text",
            ModelKind::Image => "image",
            ModelKind::Sequence => "seq",
        }
    }
}

impl Resource {
    fn suffix(self) -> String {
        match self {
            Resource::TrainingJob(m) => format!("{}-train{ATTEMPT_MARKER}", m.name_part()),
            Resource::TransformJob(m) => format!("{}-xform{ATTEMPT_MARKER}", m.name_part()),
            Resource::Model(m) => format!("{}-model", m.name_part()),
            Resource::PreprocessJob => format!("preprocess{ATTEMPT_MARKER}"),
        }
    }

    fn max_len(self) -> usize {
        match self {
            Resource::TrainingJob(_) | Resource::TransformJob(_) => {
                SAGEMAKER_NAME_MAX - ATTEMPT_DIGITS_MAX
            }
            Resource::Model(_) => SAGEMAKER_NAME_MAX,
            Resource::PreprocessJob => BATCH_JOB_NAME_MAX - ATTEMPT_DIGITS_MAX,
        }
    }
}

/// The name (for a model) or name prefix (for a job) of `resource` in the execution
/// named `execution_name`: `<readable slug>-<8 hex of SHA-256(execution)>-<suffix>`.
///
/// The slug keeps names readable in the console; the hash keeps them unique when two
/// execution names differ only in characters the slug drops or truncates.
pub fn resource_name(execution_name: &str, resource: Resource) -> String {
    let digest = Sha256::digest(execution_name.as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let suffix = resource.suffix();
    let room = resource.max_len() - hash.len() - suffix.len() - 2;
    let mut slug = slug(execution_name);
    slug.truncate(room);
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        format!("x-{hash}-{suffix}")
    } else {
        format!("{slug}-{hash}-{suffix}")
    }
}

/// ASCII letters and digits kept, every other run of characters turned into one `-`.
fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// SageMaker's rule for job and model names: 1-63 characters,
/// `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`.
pub fn is_valid_sagemaker_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= SAGEMAKER_NAME_MAX
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
}

/// AWS Batch's rule for job names: 1-128 letters, digits, hyphens and underscores,
/// starting with a letter or digit.
pub fn is_valid_batch_job_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= BATCH_JOB_NAME_MAX
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

/// Step Functions' rule for execution names: 1-80 characters, none of whitespace,
/// brackets, wildcards, `" # % \ ^ | ~ ` $ & , ; : /` or control characters.
pub fn execution_name_problem(name: &str) -> Option<String> {
    let len = name.chars().count();
    if !(1..=80).contains(&len) {
        return Some(format!("must be 1 to 80 characters long, got {len}"));
    }
    let forbidden = |c: char| {
        c.is_whitespace()
            || c.is_control()
            || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c)
            || ('\u{7f}'..='\u{9f}').contains(&c)
    };
    name.chars()
        .find(|c| forbidden(*c))
        .map(|c| format!("must not contain {c:?} (Step Functions execution-name rules)"))
}

/// The job name the state machine builds for attempt `retry_count`: mirrors
/// `States.Format('{}{}', prefix, $$.State.RetryCount)` so tests can check it.
pub fn job_name_for_attempt(prefix: &str, retry_count: u32) -> String {
    format!("{prefix}{retry_count}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn all_resources() -> Vec<Resource> {
        let mut all = vec![Resource::PreprocessJob];
        for m in ModelKind::ALL {
            all.extend([
                Resource::TrainingJob(m),
                Resource::TransformJob(m),
                Resource::Model(m),
            ]);
        }
        all
    }

    fn check_all_names(execution: &str) {
        for resource in all_resources() {
            let base = resource_name(execution, resource);
            let name = match resource {
                Resource::Model(_) => base.clone(),
                _ => job_name_for_attempt(&base, 9999),
            };
            match resource {
                Resource::PreprocessJob => assert!(is_valid_batch_job_name(&name), "{name}"),
                _ => assert!(
                    is_valid_sagemaker_name(&name),
                    "{execution:?} → {name} ({} chars)",
                    name.len()
                ),
            }
        }
    }

    #[test]
    fn names_are_valid_for_awkward_execution_names() {
        let long = "x".repeat(80);
        let unicode = "préparation-données-été-2026-ünïcødé-名前";
        for execution in [
            "a",
            "run-1",
            "ensemble_training.2026-11-27T06:37",
            long.as_str(),
            unicode,
            "----",
            "___",
            "名前",
            "9-starts-with-a-digit",
        ] {
            check_all_names(execution);
        }
    }

    #[test]
    fn names_are_unique_across_models_resources_executions_and_attempts() {
        let executions = [
            "run-1",
            "run_1",
            "run.1",
            "run-2",
            &"y".repeat(80),
            &format!("{}z", "y".repeat(79)),
        ];
        let mut seen = HashSet::new();
        for execution in executions {
            for resource in all_resources() {
                let base = resource_name(execution, resource);
                match resource {
                    Resource::Model(_) => assert!(seen.insert(base), "duplicate model name"),
                    _ => {
                        for attempt in 0..12 {
                            let name = job_name_for_attempt(&base, attempt);
                            assert!(seen.insert(name.clone()), "duplicate: {name}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn names_are_stable_and_readable() {
        let name = resource_name("nightly-2026-11-27", Resource::TrainingJob(ModelKind::Text));
        assert_eq!(
            name,
            resource_name("nightly-2026-11-27", Resource::TrainingJob(ModelKind::Text))
        );
        assert!(name.starts_with("nightly-2026-11-27-"), "{name}");
        assert!(name.ends_with("-text-train-a"), "{name}");
        assert_eq!(
            resource_name("nightly", Resource::Model(ModelKind::Image)),
            format!(
                "nightly-{}-image-model",
                &resource_name("nightly", Resource::Model(ModelKind::Image))[8..16]
            )
        );
    }

    #[test]
    fn attempt_numbers_never_let_a_name_overflow() {
        let base = resource_name(&"z".repeat(80), Resource::TransformJob(ModelKind::Sequence));
        assert_eq!(base.len() + ATTEMPT_DIGITS_MAX, SAGEMAKER_NAME_MAX);
        assert!(!is_valid_sagemaker_name(&job_name_for_attempt(
            &base, 10_000
        )));
    }

    #[test]
    fn sagemaker_name_rule() {
        assert!(is_valid_sagemaker_name("a"));
        assert!(is_valid_sagemaker_name("a--b"));
        assert!(!is_valid_sagemaker_name(""));
        assert!(!is_valid_sagemaker_name("-a"));
        assert!(!is_valid_sagemaker_name("a-"));
        assert!(!is_valid_sagemaker_name("a_b"));
        assert!(!is_valid_sagemaker_name(&"a".repeat(64)));
    }

    #[test]
    fn execution_name_rule() {
        assert_eq!(execution_name_problem("run-1"), None);
        assert!(execution_name_problem("").is_some());
        assert!(execution_name_problem(&"a".repeat(81)).is_some());
        for bad in ["a b", "a/b", "a:b", "a\"b", "a$b", "a\u{1}b"] {
            assert!(execution_name_problem(bad).is_some(), "{bad:?}");
        }
    }
}
