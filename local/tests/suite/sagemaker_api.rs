//! The local SageMaker's API as a real client sees it: `aws-sdk-sagemaker` over HTTP
//! against [`LocalSageMaker::serve_api`], with jobs actually run by the local
//! SageMaker (the trainer scripts in `tests/trainers/`, S3 from `local-s3`) or left
//! on disk by an earlier runner. And jobs that outlive the runner that ran them.

use crate::support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use aws_sdk_sagemaker::config::{Credentials, Region};
use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::primitives::DateTime;
use aws_sdk_sagemaker::types::{
    SecondaryStatus, SortBy, SortOrder, TrainingInstanceType, TrainingJobStatus, TransformJobStatus,
};
use serde_json::{json, Value};
use sfn_local::integrations::sagemaker::{errors, JobKind, SageMakerApi};
use support::{setup, training_request, transform_request, Env, ACCOUNT, REGION, ROLE};

const DIED: &str = "sfn-local stopped while the job was running";

/// A client as the aggregate-metrics Lambda builds one from `AWS_ENDPOINT_URL_SAGEMAKER`
/// (any credentials do: the local API checks no signature).
fn client(api: &SageMakerApi) -> aws_sdk_sagemaker::Client {
    aws_sdk_sagemaker::Client::from_conf(
        aws_sdk_sagemaker::Config::builder()
            .behavior_version_latest()
            .region(Region::new(REGION))
            .endpoint_url(api.endpoint())
            .credentials_provider(Credentials::new("any", "thing", None, None, "test"))
            .build(),
    )
}

fn arn(kind: &str, name: &str) -> String {
    format!(
        "arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/{}",
        name.to_lowercase()
    )
}

fn millis(t: Option<&DateTime>) -> i64 {
    t.expect("a timestamp").to_millis().unwrap()
}

/// The SDK's times come from epoch seconds with a fraction: equal to the stored
/// milliseconds up to rounding.
fn assert_time(t: Option<&DateTime>, expected_millis: &Value) {
    let expected = expected_millis.as_i64().expect("epoch milliseconds");
    let got = millis(t);
    assert!((got - expected).abs() <= 1, "{got} != {expected}");
}

/// A training job as an earlier runner leaves it in `work_dir` (epoch milliseconds).
fn write_training(work: &Path, name: &str, status: &str, created: u64) -> Value {
    let d = json!({
        "TrainingJobName": name,
        "TrainingJobArn": arn("training-job", name),
        "TrainingJobStatus": status,
        "SecondaryStatus": status,
        "AlgorithmSpecification": {"TrainingImage": "local/train:1", "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "CreationTime": created,
        "TrainingStartTime": created + 1_000,
        "TrainingEndTime": created + 6_000,
        "LastModifiedTime": created + 6_000,
        "BillableTimeInSeconds": 5,
        "TrainingTimeInSeconds": 5,
    });
    write_description(work, "training", name, &d);
    d
}

fn write_description(work: &Path, kind: &str, name: &str, d: &Value) {
    let dir = work.join(kind).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("description.json"), d.to_string()).unwrap();
}

fn read_description(env: &Env, kind: &str, name: &str) -> Value {
    let text = std::fs::read_to_string(env.job_dir(kind, name).join("description.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Every page of a ListTrainingJobs call, following NextToken as aggregate-metrics
/// does.
async fn list_pages(
    sm: &aws_sdk_sagemaker::Client,
    name_contains: &str,
    status: Option<TrainingJobStatus>,
    sort_by: SortBy,
    order: SortOrder,
    max_results: i32,
) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut next_token = None;
    loop {
        let page = sm
            .list_training_jobs()
            .name_contains(name_contains)
            .set_status_equals(status.clone())
            .sort_by(sort_by.clone())
            .sort_order(order.clone())
            .max_results(max_results)
            .set_next_token(next_token.take())
            .send()
            .await
            .unwrap();
        pages.push(
            page.training_job_summaries()
                .iter()
                .map(|s| s.training_job_name().unwrap().to_string())
                .collect(),
        );
        match page.next_token() {
            Some(token) => next_token = Some(token.to_string()),
            None => return pages,
        }
        assert!(pages.len() < 50, "paging does not end");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_job_is_described_as_the_sdk_expects() {
    let env = setup().await;
    env.training_data().await;
    let result = env
        .sm
        .create_training_job_sync(training_request("api-text-a0", "local/train:1", "ok"))
        .await
        .unwrap();
    let api = env.sm.serve_api().unwrap();
    assert!(api.endpoint().starts_with("http://127.0.0.1:"));
    let sm = client(&api);

    let d = sm
        .describe_training_job()
        .training_job_name("api-text-a0")
        .send()
        .await
        .unwrap();
    assert_eq!(d.training_job_name(), Some("api-text-a0"));
    assert_eq!(
        d.training_job_arn(),
        Some(arn("training-job", "api-text-a0").as_str())
    );
    assert_eq!(d.training_job_status(), Some(&TrainingJobStatus::Completed));
    assert_eq!(d.secondary_status(), Some(&SecondaryStatus::Completed));
    assert_eq!(
        d.model_artifacts().and_then(|a| a.s3_model_artifacts()),
        Some("s3://models/text/api-text-a0/output/model.tar.gz")
    );
    assert_eq!(d.failure_reason(), None);
    let resources = d.resource_config().unwrap();
    assert_eq!(
        resources.instance_type(),
        Some(&TrainingInstanceType::MlM5Xlarge)
    );
    assert_eq!(resources.instance_count(), Some(1));
    assert_eq!(d.hyper_parameters().unwrap()["epochs"], "30");
    assert_eq!(
        d.billable_time_in_seconds().map(i64::from),
        result["BillableTimeInSeconds"].as_i64()
    );

    // The last value of each metric, as the trainer printed them.
    let metrics: BTreeMap<&str, f32> = d
        .final_metric_data_list()
        .iter()
        .map(|m| (m.metric_name().unwrap(), m.value().unwrap()))
        .collect();
    assert_eq!(
        metrics,
        BTreeMap::from([
            ("train:loss", 0.25),
            ("validation:accuracy", 0.875),
            ("validation:macro_f1", 0.75)
        ])
    );
    for (m, stored) in d
        .final_metric_data_list()
        .iter()
        .zip(result["FinalMetricDataList"].as_array().unwrap())
    {
        assert_time(m.timestamp(), &stored["Timestamp"]);
    }

    // Times: epoch seconds on the wire, the same instants as the `.sync` result's
    // milliseconds.
    assert_time(d.creation_time(), &result["CreationTime"]);
    assert_time(d.training_start_time(), &result["TrainingStartTime"]);
    assert_time(d.training_end_time(), &result["TrainingEndTime"]);
    assert_time(d.last_modified_time(), &result["LastModifiedTime"]);
    assert!(millis(d.creation_time()) <= millis(d.training_start_time()));
    assert!(millis(d.training_start_time()) <= millis(d.training_end_time()));
    let transitions = d.secondary_status_transitions();
    let stored = result["SecondaryStatusTransitions"].as_array().unwrap();
    assert_eq!(transitions.len(), stored.len());
    for (t, s) in transitions.iter().zip(stored) {
        assert_eq!(t.status().map(|s| s.as_str()), s["Status"].as_str());
        assert_time(t.start_time(), &s["StartTime"]);
        assert_time(t.end_time(), &s["EndTime"]);
        assert_eq!(t.status_message(), s["StatusMessage"].as_str());
    }

    // The same job in a list, with its summary.
    let list = sm
        .list_training_jobs()
        .name_contains("API-TEXT")
        .send()
        .await
        .unwrap();
    let summaries = list.training_job_summaries();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].training_job_name(), Some("api-text-a0"));
    assert_eq!(
        summaries[0].training_job_status(),
        Some(&TrainingJobStatus::Completed)
    );
    assert_eq!(summaries[0].creation_time(), d.creation_time());
    assert_eq!(summaries[0].training_end_time(), d.training_end_time());
    assert_eq!(list.next_token(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_filter_sort_and_page_over_earlier_and_current_jobs() {
    let mut env = setup().await;
    env.training_data().await;
    // An earlier run's jobs, on disk: the rerun-text-train-a<i> attempts (every third
    // one failed) and unrelated jobs, an hour ago, a second apart.
    let hour_ago = now_millis() - 3_600_000;
    for i in 0..12u64 {
        let status = if i % 3 == 0 { "Failed" } else { "Completed" };
        write_training(
            env.work.path(),
            &format!("rerun-text-train-a{i}"),
            status,
            hour_ago + i * 1_000,
        );
    }
    for i in 0..4u64 {
        write_training(
            env.work.path(),
            &format!("other-job-{i}"),
            "Completed",
            hour_ago + 500 + i * 1_000,
        );
    }
    env.sm = env.next_run();
    assert_eq!(env.sm.jobs().len(), 16);
    // This run's jobs: one completes, one fails.
    env.sm
        .create_training_job_sync(training_request(
            "rerun-text-train-a20",
            "local/train:1",
            "ok",
        ))
        .await
        .unwrap();
    env.sm
        .create_training_job_sync(training_request(
            "rerun-text-train-a21",
            "local/train:1",
            "failure",
        ))
        .await
        .unwrap_err();
    let api = env.sm.serve_api().unwrap();
    let sm = client(&api);

    // What aggregate-metrics asks: Completed attempts, newest first, 100 a page.
    let pages = list_pages(
        &sm,
        "rerun-text-train-a",
        Some(TrainingJobStatus::Completed),
        SortBy::CreationTime,
        SortOrder::Descending,
        100,
    )
    .await;
    let completed = [
        "rerun-text-train-a20",
        "rerun-text-train-a11",
        "rerun-text-train-a10",
        "rerun-text-train-a8",
        "rerun-text-train-a7",
        "rerun-text-train-a5",
        "rerun-text-train-a4",
        "rerun-text-train-a2",
        "rerun-text-train-a1",
    ];
    assert_eq!(pages, [completed.to_vec()]);

    // Five a page: the 14 matching jobs take three pages, and the status filter
    // applies to each page after it is taken (API_ListTrainingJobs), so pages are
    // short but together hold every Completed job once, in order.
    let pages = list_pages(
        &sm,
        "RERUN-Text-Train-A",
        Some(TrainingJobStatus::Completed),
        SortBy::CreationTime,
        SortOrder::Descending,
        5,
    )
    .await;
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert_eq!(pages.concat(), completed);
    assert_eq!(pages[0].len(), 3, "{pages:?}"); // a21 (Failed) and a9 (Failed) left out

    // By name, ascending, four a page, every status.
    let pages = list_pages(&sm, "rerun", None, SortBy::Name, SortOrder::Ascending, 4).await;
    assert_eq!(pages.len(), 4);
    assert!(pages[..3].iter().all(|p| p.len() == 4));
    let names = pages.concat();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(names.len(), 14);

    // The SDK's own paginator follows our tokens too.
    let all = sm
        .list_training_jobs()
        .max_results(3)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 18);
    assert_eq!(all[0].training_job_name(), Some("rerun-text-train-a21"));

    // Creation time bounds are exclusive.
    let after = sm
        .list_training_jobs()
        .creation_time_after(DateTime::from_millis((hour_ago + 9_000) as i64))
        .creation_time_before(DateTime::from_millis((hour_ago + 60_000) as i64))
        .sort_order(SortOrder::Ascending)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = after
        .training_job_summaries()
        .iter()
        .filter_map(|s| s.training_job_name())
        .collect();
    assert_eq!(
        names,
        ["rerun-text-train-a10", "rerun-text-train-a11"],
        "{names:?}"
    );

    // Bad requests are the service's ValidationException, naming the member.
    let err = sm
        .list_training_jobs()
        .max_results(500)
        .send()
        .await
        .unwrap_err();
    let service = err.as_service_error().unwrap();
    assert_eq!(service.code(), Some("ValidationException"));
    assert!(
        service.message().unwrap().contains("'maxResults'"),
        "{service:?}"
    );
    let err = sm
        .list_training_jobs()
        .next_token("not-a-token")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().unwrap().message(),
        Some("Invalid pagination token")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_job_is_not_found_as_the_sdk_sees_it() {
    let env = setup().await;
    let api = env.sm.serve_api().unwrap();
    let sm = client(&api);
    let err = sm
        .describe_training_job()
        .training_job_name("no-such-job")
        .send()
        .await
        .unwrap_err();
    // What aggregate-metrics' is_not_found checks.
    let service = err.as_service_error().expect("a service error");
    assert!(!service.is_resource_not_found());
    assert_eq!(service.code(), Some("ValidationException"));
    assert_eq!(service.message(), Some("Requested resource not found."));
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));

    let err = sm
        .describe_transform_job()
        .transform_job_name("no-such-job")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().unwrap().message(),
        Some("Requested resource not found.")
    );
    let err = sm
        .describe_model()
        .model_name("no-such-model")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().unwrap().message(),
        Some(
            format!(
                "Could not find model \"{}\".",
                arn("model", "no-such-model")
            )
            .as_str()
        )
    );
    let err = sm
        .stop_training_job()
        .training_job_name("no-such-job")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().unwrap().code(),
        Some("ValidationException")
    );
    // An operation the local API does not implement.
    let err = sm.list_endpoints().send().await.unwrap_err();
    assert_eq!(
        err.as_service_error().unwrap().code(),
        Some("UnknownOperationException")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wire_format_without_the_sdk() {
    let env = setup().await;
    let api = env.sm.serve_api().unwrap();
    let address = api.endpoint().trim_start_matches("http://").to_string();
    let exchange = move |target: &str, body: &str| -> String {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: {address}\r\nX-Amz-Target: {target}\r\n\
             Content-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    let answers = tokio::task::spawn_blocking(move || {
        [
            // No Authorization header at all: no signature is checked.
            exchange("SageMaker.ListTrainingJobs", "{}"),
            exchange("SageMaker.ListTrainingJobs", "{not json"),
            exchange("SageMaker.DescribeTrainingJob", "{}"),
        ]
    })
    .await
    .unwrap();
    let [ok, malformed, missing] = answers;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(
        ok.to_ascii_lowercase()
            .contains("content-type: application/x-amz-json-1.1"),
        "{ok}"
    );
    assert!(ok.ends_with("{\"TrainingJobSummaries\":[]}"), "{ok}");
    assert!(malformed.starts_with("HTTP/1.1 400"), "{malformed}");
    assert!(
        malformed.contains("\"__type\":\"ValidationException\""),
        "{malformed}"
    );
    assert!(missing.starts_with("HTTP/1.1 400"), "{missing}");
    assert!(
        missing.contains(
            "Value null at 'trainingJobName' failed to satisfy constraint: Member must not be null"
        ),
        "{missing}"
    );
    // Dropping the handle stops the server.
    let endpoint = api.endpoint();
    drop(api);
    let address = endpoint.trim_start_matches("http://").to_string();
    assert!(std::net::TcpStream::connect(address).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_and_models_outlive_their_runner() {
    let mut env = setup().await;
    env.training_data().await;
    let first = env
        .sm
        .create_training_job_sync(training_request("persist-a0", "local/train:1", "ok"))
        .await
        .unwrap();
    let model = json!({
        "ModelName": "Persist-Model",
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {"Image": "local/serve:1",
                             "ModelDataUrl": first["ModelArtifacts"]["S3ModelArtifacts"]}
    });
    env.sm.create_model(model.clone()).await.unwrap();
    // What is on disk is what `.sync` returned.
    assert_eq!(read_description(&env, "training", "persist-a0"), first);
    assert!(env.work.path().join("models/persist-model.json").is_file());

    // The next run over the same work directory (the first runner is dropped).
    env.sm = env.next_run();
    let jobs = env.sm.jobs();
    assert_eq!(jobs.len(), 1);
    let earlier = &jobs[0];
    assert!(earlier.from_earlier_run);
    assert_eq!(earlier.name, "persist-a0");
    assert_eq!(earlier.kind, JobKind::Training);
    assert_eq!(earlier.status, "Completed");
    assert_eq!(earlier.secondary_status.as_deref(), Some("Completed"));
    assert_eq!(earlier.instance_type, "ml.m5.xlarge");
    assert_eq!(earlier.instance_count, 1);
    assert_eq!(
        Some(earlier.billable_seconds),
        first["BillableTimeInSeconds"].as_u64()
    );
    assert_eq!(earlier.dir, env.job_dir("training", "persist-a0"));
    assert!(env.sm.jobs_of_this_run().is_empty());
    assert_eq!(
        env.sm.describe_training_job("persist-a0").as_ref(),
        Some(&first)
    );

    // SageMaker never forgets a name: reusing it is still ResourceInUse.
    for again in ["persist-a0", "PERSIST-A0"] {
        let err = env
            .sm
            .create_training_job_sync(training_request(again, "local/train:1", "ok"))
            .await
            .unwrap_err();
        assert_eq!(err.error, errors::RESOURCE_IN_USE);
        assert_eq!(err.error, "SageMaker.ResourceInUseException");
        assert!(err.cause.contains(&arn("training-job", "persist-a0")));
    }
    let err = env.sm.create_model(model).await.unwrap_err();
    assert!(
        err.cause
            .starts_with("Cannot create already existing model"),
        "{}",
        err.cause
    );
    // The earlier job's files are untouched.
    assert!(env
        .job_dir("training", "persist-a0")
        .join("logs.txt")
        .is_file());

    // The earlier run's model serves this run's transform job.
    env.put("data", "infer/a.jsonl", b"{\"x\": 1}\n{\"x\": 2}\n")
        .await;
    let transformed = env
        .sm
        .create_transform_job_sync(transform_request(
            "persist-infer-0",
            "persist-model",
            "MultiRecord",
            "Line",
        ))
        .await
        .unwrap();
    assert_eq!(transformed["TransformJobStatus"], "Completed");
    let this_run: Vec<String> = env
        .sm
        .jobs_of_this_run()
        .into_iter()
        .map(|j| j.name)
        .collect();
    assert_eq!(this_run, ["persist-infer-0"]);
    assert_eq!(env.sm.jobs().len(), 2);

    // And a process sees both runs through the API.
    let api = env.sm.serve_api().unwrap();
    let sm = client(&api);
    let d = sm
        .describe_training_job()
        .training_job_name("persist-a0")
        .send()
        .await
        .unwrap();
    assert_eq!(d.training_job_status(), Some(&TrainingJobStatus::Completed));
    assert_time(d.training_end_time(), &first["TrainingEndTime"]);
    let model = sm
        .describe_model()
        .model_name("persist-model")
        .send()
        .await
        .unwrap();
    assert_eq!(model.model_name(), Some("Persist-Model"));
    assert_eq!(
        model.model_arn(),
        Some(arn("model", "persist-model").as_str())
    );
    assert_eq!(
        model.primary_container().and_then(|c| c.image()),
        Some("local/serve:1")
    );
    assert!(model.creation_time().is_some());
    let t = sm
        .describe_transform_job()
        .transform_job_name("persist-infer-0")
        .send()
        .await
        .unwrap();
    assert_eq!(
        t.transform_job_status(),
        Some(&TransformJobStatus::Completed)
    );
    assert!(t
        .model_name()
        .is_some_and(|m| m.eq_ignore_ascii_case("persist-model")));
    assert_time(t.transform_start_time(), &transformed["TransformStartTime"]);
    assert_time(t.transform_end_time(), &transformed["TransformEndTime"]);
    let list = sm
        .list_transform_jobs()
        .name_contains("persist")
        .status_equals(TransformJobStatus::Completed)
        .send()
        .await
        .unwrap();
    let summaries = list.transform_job_summaries();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].transform_job_name(), Some("persist-infer-0"));
    assert_eq!(summaries[0].transform_end_time(), t.transform_end_time());
    assert!(summaries[0].last_modified_time().is_some());

    // A finished job cannot be stopped.
    let err = sm
        .stop_transform_job()
        .transform_job_name("persist-infer-0")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().unwrap().message(),
        Some("The request was rejected because the transform job is in status Completed.")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_running_when_its_runner_died_loads_as_failed() {
    let mut env = setup().await;
    env.training_data().await;
    let work = env.work.path().to_path_buf();
    let started = now_millis() - 60_000;
    let running = json!({
        "TrainingJobName": "dead-a0",
        "TrainingJobArn": arn("training-job", "dead-a0"),
        "TrainingJobStatus": "InProgress",
        "SecondaryStatus": "Training",
        "ResourceConfig": {"InstanceCount": 2, "InstanceType": "ml.g5.xlarge", "VolumeSizeInGB": 30},
        "CreationTime": started - 5_000,
        "TrainingStartTime": started,
        "LastModifiedTime": started + 1_000,
        "SecondaryStatusTransitions": [
            {"Status": "Starting", "StartTime": started - 5_000, "EndTime": started, "StatusMessage": "Preparing the instances for training"},
            {"Status": "Training", "StartTime": started + 1_000, "StatusMessage": "Training image download completed. Training in progress."}
        ]
    });
    write_description(&work, "training", "dead-a0", &running);
    write_description(
        &work,
        "transform",
        "dead-infer-0",
        &json!({
            "TransformJobName": "dead-infer-0",
            "TransformJobArn": arn("transform-job", "dead-infer-0"),
            "TransformJobStatus": "Stopping",
            "ModelName": "m",
            "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.large"},
            "CreationTime": started,
            "TransformStartTime": started + 500,
        }),
    );
    // Files no runner could have written are skipped, not fatal.
    std::fs::create_dir_all(work.join("training/broken-a0")).unwrap();
    std::fs::write(work.join("training/broken-a0/description.json"), "{\"Train").unwrap();
    std::fs::write(work.join("training/broken-a0/stale.txt"), "old").unwrap();
    std::fs::create_dir_all(work.join("models")).unwrap();
    std::fs::write(work.join("models/garbage.json"), "[]").unwrap();

    env.sm = env.next_run();
    let jobs = env.sm.jobs();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    for job in &jobs {
        assert!(job.from_earlier_run);
        assert_eq!(job.status, "Failed");
        assert_eq!(job.failure_reason.as_deref(), Some(DIED));
    }
    let dead = jobs.iter().find(|j| j.name == "dead-a0").unwrap();
    assert_eq!(dead.secondary_status.as_deref(), Some("Failed"));
    assert_eq!(dead.instance_count, 2);
    assert!(dead.billable_seconds >= 1);

    // The description on disk says so too, and the API.
    let on_disk = read_description(&env, "training", "dead-a0");
    assert_eq!(on_disk["TrainingJobStatus"], "Failed");
    assert_eq!(on_disk["FailureReason"], DIED);
    assert_eq!(
        read_description(&env, "transform", "dead-infer-0")["TransformJobStatus"],
        "Failed"
    );
    let api = env.sm.serve_api().unwrap();
    let sm = client(&api);
    let d = sm
        .describe_training_job()
        .training_job_name("dead-a0")
        .send()
        .await
        .unwrap();
    assert_eq!(d.training_job_status(), Some(&TrainingJobStatus::Failed));
    assert_eq!(d.secondary_status(), Some(&SecondaryStatus::Failed));
    assert_eq!(d.failure_reason(), Some(DIED));
    assert!(millis(d.training_end_time()) >= millis(d.training_start_time()));
    assert_eq!(
        d.secondary_status_transitions()
            .last()
            .and_then(|t| t.status())
            .map(|s| s.as_str()),
        Some("Failed")
    );
    let t = sm
        .describe_transform_job()
        .transform_job_name("dead-infer-0")
        .send()
        .await
        .unwrap();
    assert_eq!(t.transform_job_status(), Some(&TransformJobStatus::Failed));
    assert_eq!(t.failure_reason(), Some(DIED));

    // An unreadable description reserves nothing: the name runs, in a clean directory.
    let result = env
        .sm
        .create_training_job_sync(training_request("broken-a0", "local/train:1", "ok"))
        .await
        .unwrap();
    assert_eq!(result["TrainingJobStatus"], "Completed");
    assert_eq!(read_description(&env, "training", "broken-a0"), result);
    assert!(!env
        .job_dir("training", "broken-a0")
        .join("stale.txt")
        .exists());
    assert_eq!(env.sm.jobs_of_this_run().len(), 1);
}
