//! Jobs and models that outlive one run: each job's description is kept in
//! `<job dir>/description.json` and each model's in `work_dir/models/<name>.json`,
//! and a [`super::LocalSageMaker`] created over the same `work_dir` loads them.
//!
//! SageMaker job names are unique in an account and region for ever (jobs cannot be
//! deleted: API_CreateTrainingJob), and a rerun finds an earlier run's Completed jobs
//! through ListTrainingJobs: both need the jobs of earlier runs, so they live on disk.
//!
//! Files are written whole to a temporary name and renamed over the old one, so a
//! runner that dies mid-write leaves the previous description, never half of one. A
//! job found `InProgress` or `Stopping` on load belonged to a runner that died: it is
//! recorded as `Failed` (nothing runs it any more), and its file rewritten.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use serde_json::{json, Map, Value};

use super::{seconds_between, JobKind, JobRecord, Model};

/// The file in a job's directory that holds its description (epoch milliseconds).
pub(crate) const DESCRIPTION_FILE: &str = "description.json";
/// The `FailureReason` of a job whose runner died while it ran.
pub(crate) const DIED_REASON: &str = "sfn-local stopped while the job was running";
/// Every status a training or transform job can have (API_DescribeTrainingJob,
/// API_DescribeTransformJob).
pub(crate) const STATUSES: [&str; 5] = ["InProgress", "Completed", "Failed", "Stopping", "Stopped"];

/// The members that differ between the two kinds of description.
pub(crate) struct Fields {
    pub name: &'static str,
    pub arn: &'static str,
    pub status: &'static str,
    pub start: &'static str,
    pub end: &'static str,
    pub resources: &'static str,
}

pub(crate) fn fields(kind: JobKind) -> Fields {
    match kind {
        JobKind::Training => Fields {
            name: "TrainingJobName",
            arn: "TrainingJobArn",
            status: "TrainingJobStatus",
            start: "TrainingStartTime",
            end: "TrainingEndTime",
            resources: "ResourceConfig",
        },
        JobKind::Transform => Fields {
            name: "TransformJobName",
            arn: "TransformJobArn",
            status: "TransformJobStatus",
            start: "TransformStartTime",
            end: "TransformEndTime",
            resources: "TransformResources",
        },
    }
}

/// `work_dir/training` or `work_dir/transform`: where the jobs of a kind have their
/// directories.
pub(crate) fn jobs_root(work_dir: &Path, kind: JobKind) -> PathBuf {
    work_dir.join(match kind {
        JobKind::Training => "training",
        JobKind::Transform => "transform",
    })
}

/// `work_dir/models/<lower-cased name>.json` (model names are unique without case).
pub(crate) fn model_path(work_dir: &Path, name: &str) -> PathBuf {
    work_dir
        .join("models")
        .join(format!("{}.json", name.to_lowercase()))
}

/// An epoch-millisecond time as the descriptions hold it.
pub(crate) fn millis(value: Option<&Value>) -> Option<u64> {
    let value = value?;
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            // Saturating: a float beyond u64 means a broken file, not a time to keep.
            .map(|f| f as u64)
    })
}

/// Writes `value` to `path` through a temporary file in the same directory and a
/// rename, creating the directory if needed.
pub(crate) fn write_json_atomic(path: &Path, value: &Value) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("the path has no directory"))?;
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path has no file name"))?
        .to_string_lossy();
    std::fs::create_dir_all(dir)?;
    // Unique per process and write, so two writers never share a temporary file.
    let temporary = dir.join(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let text = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

/// Empties a job directory an earlier runner may have left under this name (one
/// whose description could not be loaded), keeping the description this job's
/// reservation has just written.
pub(crate) fn clear_job_dir(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name() == DESCRIPTION_FILE {
            continue;
        }
        let path = entry.path();
        // file_type() does not follow symbolic links: a link is removed, not its target.
        let removed = match entry.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
        if let Err(e) = removed {
            tracing::warn!(path = %path.display(), "cannot clear an old job file: {e}");
        }
    }
}

/// A job read back from its directory.
#[derive(Debug)]
pub(crate) struct LoadedJob {
    pub record: JobRecord,
    pub description: Value,
    /// The description changed on load (the job was marked `Failed`): save it.
    pub rewritten: bool,
}

/// Every job description under `work_dir`, oldest first. Files that cannot be read
/// or make no sense are skipped with a warning; a directory without a description
/// is not a job (or a job whose reservation never reached the disk) and is skipped.
pub(crate) fn load_jobs(work_dir: &Path) -> Vec<LoadedJob> {
    let mut jobs = Vec::new();
    for kind in [JobKind::Training, JobKind::Transform] {
        let root = jobs_root(work_dir, kind);
        let entries = match std::fs::read_dir(&root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                tracing::warn!(dir = %root.display(), "cannot list earlier SageMaker jobs: {e}");
                continue;
            }
        };
        for entry in entries.flatten() {
            let dir = entry.path();
            if !dir.is_dir() {
                continue;
            }
            let file = dir.join(DESCRIPTION_FILE);
            let text = match std::fs::read(&file) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    tracing::warn!(file = %file.display(), "skipping an unreadable job description: {e}");
                    continue;
                }
            };
            let description = match serde_json::from_slice::<Value>(&text) {
                Ok(description) => description,
                Err(e) => {
                    tracing::warn!(file = %file.display(), "skipping a job description that is not JSON: {e}");
                    continue;
                }
            };
            let last_seen = [file.clone(), dir.join("logs.txt")]
                .iter()
                .filter_map(|p| modified_millis(p))
                .max()
                .unwrap_or(0);
            match restore(kind, dir, description, last_seen, super::now_millis()) {
                Ok(job) => jobs.push(job),
                Err(e) => {
                    tracing::warn!(file = %file.display(), "skipping a job description: {e}");
                }
            }
        }
    }
    jobs.sort_by(|a, b| {
        let created = |j: &LoadedJob| millis(j.description.get("CreationTime")).unwrap_or(0);
        created(a)
            .cmp(&created(b))
            .then_with(|| a.record.name.cmp(&b.record.name))
    });
    jobs
}

fn modified_millis(path: &Path) -> Option<u64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let since = modified.duration_since(UNIX_EPOCH).ok()?;
    u64::try_from(since.as_millis()).ok()
}

/// A job's record from its description. A job still running by its description was
/// left by a runner that died: it becomes `Failed`, ending at the last sign of life
/// (`last_seen`: when its files were last written, or its own latest time).
pub(crate) fn restore(
    kind: JobKind,
    dir: PathBuf,
    mut description: Value,
    last_seen: u64,
    now: u64,
) -> Result<LoadedJob, String> {
    let f = fields(kind);
    let d = description
        .as_object_mut()
        .ok_or("the description is not a JSON object")?;
    let text = |d: &Map<String, Value>, key: &str| -> Result<String, String> {
        d.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("{key} is missing or not a string"))
    };
    let name = text(d, f.name)?;
    let arn = text(d, f.arn)?;
    let status = text(d, f.status)?;
    if !STATUSES.contains(&status.as_str()) {
        return Err(format!("{} {status:?} is not a job status", f.status));
    }
    let rewritten = matches!(status.as_str(), "InProgress" | "Stopping");
    if rewritten {
        mark_died(kind, d, last_seen, now);
    }
    let resources = d.get(f.resources);
    let start = millis(d.get(f.start));
    let end = millis(d.get(f.end));
    let billable = d
        .get("BillableTimeInSeconds")
        .and_then(Value::as_u64)
        .or_else(|| Some(seconds_between(start?, end?)))
        .unwrap_or(0);
    let record = JobRecord {
        name,
        arn,
        kind,
        instance_type: resources
            .and_then(|r| r.get("InstanceType"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        instance_count: resources
            .and_then(|r| r.get("InstanceCount"))
            .and_then(Value::as_u64)
            .unwrap_or(1),
        billable_seconds: billable,
        status: text(d, f.status)?,
        secondary_status: match kind {
            JobKind::Training => d
                .get("SecondaryStatus")
                .and_then(Value::as_str)
                .map(str::to_string),
            JobKind::Transform => None,
        },
        failure_reason: d
            .get("FailureReason")
            .and_then(Value::as_str)
            .map(str::to_string),
        dir,
        from_earlier_run: true,
    };
    Ok(LoadedJob {
        record,
        description,
        rewritten,
    })
}

/// Turns a running job's description into a `Failed` one, as the training and
/// transform modules end a failed job.
fn mark_died(kind: JobKind, d: &mut Map<String, Value>, last_seen: u64, now: u64) {
    let f = fields(kind);
    let transitions_start = d
        .get("SecondaryStatusTransitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| millis(t.get("StartTime")))
        .max();
    let end = [
        millis(d.get("CreationTime")),
        millis(d.get(f.start)),
        millis(d.get("LastModifiedTime")),
        transitions_start,
        Some(last_seen),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(now);
    d.insert(f.status.into(), json!("Failed"));
    d.insert("FailureReason".into(), json!(DIED_REASON));
    d.insert(f.end.into(), json!(end));
    if kind == JobKind::Training {
        d.insert("SecondaryStatus".into(), json!("Failed"));
        d.insert("LastModifiedTime".into(), json!(now.max(end)));
        let transitions = d
            .entry("SecondaryStatusTransitions")
            .or_insert_with(|| json!([]));
        if !transitions.is_array() {
            *transitions = json!([]);
        }
        if let Some(list) = transitions.as_array_mut() {
            if let Some(open) = list
                .last_mut()
                .and_then(Value::as_object_mut)
                .filter(|t| !t.contains_key("EndTime"))
            {
                open.insert("EndTime".into(), json!(end));
            }
            list.push(json!({
                "Status": "Failed",
                "StartTime": end,
                "EndTime": end,
                "StatusMessage": "Training job failed",
            }));
        }
        if let Some(start) = millis(d.get(f.start)) {
            let seconds = seconds_between(start, end);
            d.insert("TrainingTimeInSeconds".into(), json!(seconds));
            d.insert("BillableTimeInSeconds".into(), json!(seconds));
        }
    }
}

/// Every model under `work_dir/models/`, with its DescribeModel description.
pub(crate) fn load_models(work_dir: &Path) -> Vec<(Model, Value)> {
    let root = work_dir.join("models");
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            tracing::warn!(dir = %root.display(), "cannot list earlier SageMaker models: {e}");
            return Vec::new();
        }
    };
    let mut models = Vec::new();
    for entry in entries.flatten() {
        let file = entry.path();
        if file.extension().is_none_or(|e| e != "json")
            || entry.file_name().to_string_lossy().starts_with('.')
        {
            continue;
        }
        let loaded = std::fs::read(&file)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_slice::<Value>(&text).map_err(|e| e.to_string()))
            .and_then(|description| Ok((model_of(&description)?, description)));
        match loaded {
            Ok(model) => models.push(model),
            Err(e) => tracing::warn!(file = %file.display(), "skipping a model description: {e}"),
        }
    }
    models.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    models
}

/// The model a DescribeModel description defines (its one container).
pub(crate) fn model_of(description: &Value) -> Result<Model, String> {
    let name = description
        .get("ModelName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("ModelName is missing or not a string")?;
    let container = description
        .get("PrimaryContainer")
        .or_else(|| description.get("Containers").and_then(|c| c.get(0)))
        .ok_or("the description has no container")?;
    let image = container
        .get("Image")
        .and_then(Value::as_str)
        .ok_or("the container has no Image")?;
    let environment = container
        .get("Environment")
        .and_then(Value::as_object)
        .map(|env| {
            env.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Ok(Model {
        name: name.to_string(),
        image: image.to_string(),
        model_data_url: container
            .get("ModelDataUrl")
            .and_then(Value::as_str)
            .map(str::to_string),
        environment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running_training() -> Value {
        json!({
            "TrainingJobName": "Job-A0",
            "TrainingJobArn": "arn:aws:sagemaker:eu-central-1:123456789012:training-job/job-a0",
            "TrainingJobStatus": "InProgress",
            "SecondaryStatus": "Training",
            "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30},
            "CreationTime": 1_000,
            "TrainingStartTime": 2_000,
            "LastModifiedTime": 3_000,
            "SecondaryStatusTransitions": [
                {"Status": "Starting", "StartTime": 1_000, "EndTime": 2_000, "StatusMessage": "a"},
                {"Status": "Training", "StartTime": 3_000, "StatusMessage": "b"}
            ]
        })
    }

    #[test]
    fn a_completed_job_is_restored_as_it_was() {
        let mut d = running_training();
        d["TrainingJobStatus"] = json!("Completed");
        d["SecondaryStatus"] = json!("Completed");
        d["TrainingEndTime"] = json!(9_000);
        d["BillableTimeInSeconds"] = json!(7);
        let job = restore(
            JobKind::Training,
            PathBuf::from("/w/training/Job-A0"),
            d.clone(),
            0,
            50_000,
        )
        .unwrap();
        assert!(!job.rewritten);
        assert_eq!(job.description, d);
        let r = &job.record;
        assert_eq!(r.name, "Job-A0");
        assert_eq!(r.status, "Completed");
        assert_eq!(r.secondary_status.as_deref(), Some("Completed"));
        assert_eq!(r.instance_type, "ml.m5.xlarge");
        assert_eq!(r.instance_count, 2);
        assert_eq!(r.billable_seconds, 7);
        assert!(r.from_earlier_run);
        assert_eq!(r.dir, Path::new("/w/training/Job-A0"));
    }

    #[test]
    fn billable_seconds_fall_back_to_the_start_and_end_times() {
        let d = json!({
            "TransformJobName": "t", "TransformJobArn": "arn:t", "TransformJobStatus": "Stopped",
            "TransformResources": {"InstanceType": "ml.c5.large", "InstanceCount": 1},
            "CreationTime": 0, "TransformStartTime": 1_000, "TransformEndTime": 4_500
        });
        let job = restore(JobKind::Transform, PathBuf::new(), d, 0, 0).unwrap();
        assert_eq!(job.record.billable_seconds, 4);
        assert_eq!(job.record.secondary_status, None);
        assert_eq!(job.record.instance_type, "ml.c5.large");
    }

    #[test]
    fn a_running_training_job_becomes_failed_at_its_last_sign_of_life() {
        let job = restore(
            JobKind::Training,
            PathBuf::new(),
            running_training(),
            8_000,
            60_000,
        )
        .unwrap();
        assert!(job.rewritten);
        let d = &job.description;
        assert_eq!(d["TrainingJobStatus"], "Failed");
        assert_eq!(d["SecondaryStatus"], "Failed");
        assert_eq!(d["FailureReason"], DIED_REASON);
        assert_eq!(d["TrainingEndTime"], 8_000);
        assert_eq!(d["LastModifiedTime"], 60_000);
        assert_eq!(d["BillableTimeInSeconds"], 6);
        assert_eq!(d["TrainingTimeInSeconds"], 6);
        let transitions = d["SecondaryStatusTransitions"].as_array().unwrap();
        assert_eq!(transitions[1]["EndTime"], 8_000);
        assert_eq!(
            transitions[2],
            json!({"Status": "Failed", "StartTime": 8_000, "EndTime": 8_000, "StatusMessage": "Training job failed"})
        );
        let r = &job.record;
        assert_eq!(r.status, "Failed");
        assert_eq!(r.secondary_status.as_deref(), Some("Failed"));
        assert_eq!(r.failure_reason.as_deref(), Some(DIED_REASON));
        assert_eq!(r.billable_seconds, 6);
    }

    #[test]
    fn without_file_times_the_latest_recorded_time_ends_the_job() {
        let mut d = running_training();
        d["TrainingJobStatus"] = json!("Stopping");
        let job = restore(JobKind::Training, PathBuf::new(), d, 0, 60_000).unwrap();
        assert_eq!(job.description["TrainingEndTime"], 3_000);
        assert_eq!(job.record.status, "Failed");
    }

    #[test]
    fn a_running_transform_job_becomes_failed() {
        let d = json!({
            "TransformJobName": "t", "TransformJobArn": "arn:t", "TransformJobStatus": "InProgress",
            "CreationTime": 1_000, "TransformStartTime": 1_500
        });
        let job = restore(JobKind::Transform, PathBuf::new(), d, 0, 9_000).unwrap();
        assert_eq!(job.description["TransformJobStatus"], "Failed");
        assert_eq!(job.description["TransformEndTime"], 1_500);
        assert_eq!(job.description["FailureReason"], DIED_REASON);
        assert!(job.description.get("SecondaryStatus").is_none());
        assert_eq!(job.record.billable_seconds, 1);
    }

    #[test]
    fn nonsense_descriptions_are_refused() {
        for (d, expected) in [
            (json!([]), "not a JSON object"),
            (
                json!({"TrainingJobArn": "a", "TrainingJobStatus": "Completed"}),
                "TrainingJobName",
            ),
            (
                json!({"TrainingJobName": "n", "TrainingJobStatus": "Completed"}),
                "TrainingJobArn",
            ),
            (
                json!({"TrainingJobName": "n", "TrainingJobArn": "a", "TrainingJobStatus": "Done"}),
                "not a job status",
            ),
            (
                json!({"TrainingJobName": 5, "TrainingJobArn": "a", "TrainingJobStatus": "Completed"}),
                "TrainingJobName",
            ),
        ] {
            let e = restore(JobKind::Training, PathBuf::new(), d, 0, 0).unwrap_err();
            assert!(e.contains(expected), "{e}");
        }
    }

    #[test]
    fn loading_skips_what_it_cannot_read_and_sorts_by_creation() {
        let work = tempfile::tempdir().unwrap();
        let write = |kind: JobKind, name: &str, text: &str| {
            let dir = jobs_root(work.path(), kind).join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(DESCRIPTION_FILE), text).unwrap();
        };
        let job = |name: &str, created: u64| {
            json!({"TrainingJobName": name, "TrainingJobArn": format!("arn:{name}"),
                   "TrainingJobStatus": "Completed", "CreationTime": created})
            .to_string()
        };
        write(JobKind::Training, "late", &job("late", 20));
        write(JobKind::Training, "early", &job("early", 10));
        write(JobKind::Training, "broken", "{not json");
        write(JobKind::Training, "odd", "[1, 2]");
        std::fs::create_dir_all(jobs_root(work.path(), JobKind::Training).join("empty")).unwrap();
        std::fs::write(
            jobs_root(work.path(), JobKind::Training).join("stray-file"),
            "x",
        )
        .unwrap();
        write(
            JobKind::Transform,
            "t",
            &json!({"TransformJobName": "t", "TransformJobArn": "arn:t",
                    "TransformJobStatus": "Completed", "CreationTime": 15})
            .to_string(),
        );
        let names: Vec<String> = load_jobs(work.path())
            .into_iter()
            .map(|j| j.record.name)
            .collect();
        assert_eq!(names, ["early", "t", "late"]);
        assert!(load_jobs(&work.path().join("nothing-here")).is_empty());
    }

    #[test]
    fn atomic_writes_replace_the_file_and_leave_no_temporary() {
        let work = tempfile::tempdir().unwrap();
        let path = work.path().join("a/b").join(DESCRIPTION_FILE);
        write_json_atomic(&path, &json!({"v": 1})).unwrap();
        write_json_atomic(&path, &json!({"v": 2})).unwrap();
        let read: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(read, json!({"v": 2}));
        let files: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(files, [DESCRIPTION_FILE]);
    }

    #[test]
    fn clearing_a_job_dir_keeps_the_description() {
        let work = tempfile::tempdir().unwrap();
        let root = work.path();
        std::fs::create_dir_all(root.join("model/sub")).unwrap();
        std::fs::write(root.join("model/sub/w"), "x").unwrap();
        std::fs::write(root.join("logs.txt"), "x").unwrap();
        std::fs::write(root.join(DESCRIPTION_FILE), "{}").unwrap();
        clear_job_dir(root);
        let left: Vec<_> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [DESCRIPTION_FILE]);
        clear_job_dir(&root.join("missing"));
    }

    #[test]
    fn models_round_trip_through_their_descriptions() {
        let work = tempfile::tempdir().unwrap();
        let d = json!({
            "ModelName": "Text-Model",
            "ModelArn": "arn:aws:sagemaker:eu-central-1:123456789012:model/text-model",
            "PrimaryContainer": {"Image": "repo/serve:1", "ModelDataUrl": "s3://b/m.tar.gz",
                                 "Environment": {"A": "1"}},
            "CreationTime": 5
        });
        write_json_atomic(&model_path(work.path(), "Text-Model"), &d).unwrap();
        std::fs::write(work.path().join("models/bad.json"), "nope").unwrap();
        std::fs::write(
            work.path().join("models/no-image.json"),
            json!({"ModelName": "x", "PrimaryContainer": {}}).to_string(),
        )
        .unwrap();
        let models = load_models(work.path());
        assert_eq!(models.len(), 1);
        let (model, description) = &models[0];
        assert_eq!(description, &d);
        assert_eq!(model.name, "Text-Model");
        assert_eq!(model.image, "repo/serve:1");
        assert_eq!(model.model_data_url.as_deref(), Some("s3://b/m.tar.gz"));
        assert_eq!(model.environment["A"], "1");
        assert!(work.path().join("models/text-model.json").is_file());
        let one = model_of(&json!({"ModelName": "m", "Containers": [{"Image": "i"}]})).unwrap();
        assert_eq!(one.image, "i");
    }
}
