//! generate-config driven by its event fixtures.

use std::collections::HashMap;

use integration_tests::asl::{read_repo_file, repo_root};
use lambda_runtime::Diagnostic;
use serde_json::Value;
use shared::generated::Generated;
use shared::naming::is_valid_sagemaker_name;

fn config() -> generate_config::Config {
    let vars: HashMap<String, String> = [
        ("ARTIFACT_BUCKET", "ensemble-artifacts"),
        ("ALLOWED_SOURCE_BUCKETS", "ensemble-raw-data"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    generate_config::Config::from_map(&vars).unwrap()
}

fn fixtures() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("events"))
        .unwrap()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with("generate-config") && name.ends_with(".json") {
            let value = serde_json::from_str(&read_repo_file(&format!("events/{name}"))).unwrap();
            out.push((name, value));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_fixture_drives_the_handler() {
    let fixtures = fixtures();
    assert!(fixtures.len() >= 3, "{fixtures:?}");
    for (name, event) in fixtures {
        let result = generate_config::handle(event, &config());
        if name.contains("invalid") {
            let diagnostic: Diagnostic = result.unwrap_err().into();
            assert_eq!(diagnostic.error_type, "InvalidInput", "{name}");
            assert!(
                diagnostic.error_message.starts_with("$."),
                "{name}: {}",
                diagnostic.error_message
            );
        } else {
            let output = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            let generated: Generated = serde_json::from_value(output).unwrap();
            assert!(is_valid_sagemaker_name(&generated.text_model.model_name));
        }
    }
}

#[test]
fn the_rerun_fixture_reuses_both_base_models() {
    let event: Value =
        serde_json::from_str(&read_repo_file("events/generate-config-rerun.json")).unwrap();
    let output = generate_config::handle(event, &config()).unwrap();
    for model in ["text_model", "image_model"] {
        assert_eq!(output[model]["train"], false);
        assert_eq!(
            output[model]["reuse"]["from_execution"],
            "nightly-2026-11-26"
        );
        assert!(output[model]["model_name"]
            .as_str()
            .unwrap()
            .starts_with("nightly-2026-11-26-"));
    }
    assert_eq!(
        output["sequence_model"]["HyperParameters"]["context_pages"],
        "3"
    );
}

#[test]
fn a_source_outside_the_allow_list_is_refused_with_its_own_name() {
    let mut event: Value =
        serde_json::from_str(&read_repo_file("events/generate-config.json")).unwrap();
    event["input_data"] = "s3://not-allowed-bucket/data/".into();
    let diagnostic: Diagnostic = generate_config::handle(event, &config())
        .unwrap_err()
        .into();
    assert_eq!(diagnostic.error_type, "SourceNotAllowed");
}

#[test]
fn a_missing_setting_is_a_configuration_error() {
    let diagnostic: Diagnostic = generate_config::Config::from_map(&HashMap::new())
        .unwrap_err()
        .into();
    assert_eq!(diagnostic.error_type, "ConfigurationError");
    assert!(diagnostic.error_message.contains("ARTIFACT_BUCKET"));
}
