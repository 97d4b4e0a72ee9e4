//! A project as `sfn-local run` sees it: the SAM template, the state machine it
//! deploys, and a small config (`sfn-local.json`) saying what AWS would have had: the
//! deploy parameters, which local command plays each container image, which command
//! plays each Batch job definition, and where the Lambda binaries are.
//!
//! The state machine's `DefinitionSubstitutions` are evaluated from the template (see
//! [`template`]), so the definition that runs is the one `sam deploy` would create, with
//! local names in place of AWS's. Each `AWS::Serverless::Function` becomes a local
//! function: the binary named by its `Metadata.BuildProperties.Binary` (cargo-lambda's
//! build method), its `Environment`, `Timeout` and `MemorySize` (with SAM's `Globals`).
//!
//! ```json
//! {
//!   "template": "template.yaml",
//!   "state_machine": "EnsembleTrainingStateMachine",
//!   "stack_name": "ensemble-training",
//!   "parameters": {"AllowedSourceBuckets": "ensemble-raw-data", "TextTrainingImage": "..."},
//!   "buckets": ["ensemble-raw-data"],
//!   "uploads": [{"from": "examples/sample-data", "to": "s3://ensemble-raw-data/documents/v1/"}],
//!   "images": [{"image": "...", "command": ["target/debug/text-model"]}],
//!   "batch_job_definitions": [{"job_definition": "ensemble-preprocess", "command": ["..."]}],
//!   "functions_dir": "target/debug"
//! }
//! ```
//! Relative paths are relative to the config file's directory (the project root).

pub mod template;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::integrations::lambda::FunctionSpec;
use crate::integrations::sagemaker::ImageMap;
use template::{Stack, StackSettings, Template};

/// The config file `sfn-local run` reads from the project root by default.
pub const CONFIG_FILE: &str = "sfn-local.json";

/// SAM's defaults for a function (docs: sam-resource-function).
const SAM_DEFAULT_TIMEOUT_SECONDS: u64 = 3;
const SAM_DEFAULT_MEMORY_MB: u32 = 128;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(rename = "$comment", default)]
    pub comment: Option<Value>,
    #[serde(default = "default_template")]
    pub template: PathBuf,
    /// The logical ID of the state machine; optional when the template has one.
    #[serde(default)]
    pub state_machine: Option<String>,
    #[serde(default = "default_stack_name")]
    pub stack_name: String,
    #[serde(default = "default_region")]
    pub region: String,
    #[serde(default = "default_account")]
    pub account: String,
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// Local physical names for some resources (logical ID → name).
    #[serde(default)]
    pub physical_names: BTreeMap<String, String>,
    /// Buckets to create besides the template's (e.g. where input data comes from).
    #[serde(default)]
    pub buckets: Vec<String>,
    /// Local directories put into S3 before every run (only changed files are sent).
    #[serde(default)]
    pub uploads: Vec<Upload>,
    /// The image map (see `integrations::sagemaker::ImageMap`).
    #[serde(default)]
    pub images: Option<Value>,
    /// The Batch job definitions (see `integrations::batch`).
    #[serde(default)]
    pub batch_job_definitions: Option<Value>,
    /// Where the Lambda binaries are; default: beside the `sfn-local` executable
    /// (cargo puts a workspace's binaries in one directory).
    #[serde(default)]
    pub functions_dir: Option<PathBuf>,
}

/// `{"from": "examples/sample-data", "to": "s3://bucket/prefix/"}`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    pub from: PathBuf,
    pub to: String,
}

fn default_template() -> PathBuf {
    PathBuf::from("template.yaml")
}
fn default_stack_name() -> String {
    "sfn-local".to_string()
}
fn default_region() -> String {
    "us-east-1".to_string()
}
fn default_account() -> String {
    "123456789012".to_string()
}

/// One Lambda function of the template, made local.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectFunction {
    pub logical_id: String,
    /// The cargo binary (`Metadata.BuildProperties.Binary`).
    pub binary_name: String,
    pub spec: FunctionSpec,
    pub arn: String,
}

/// Everything a run needs from the project, resolved.
pub struct Project {
    pub root: PathBuf,
    pub config_path: PathBuf,
    pub config: Config,
    pub template_path: PathBuf,
    pub state_machine_id: String,
    /// The physical name (`$$.StateMachine.Name`).
    pub state_machine_name: String,
    pub definition_path: PathBuf,
    /// The definition with its substitutions applied.
    pub definition: Value,
    pub substitutions: BTreeMap<String, String>,
    pub functions: Vec<ProjectFunction>,
    /// The template's buckets and the config's, to create.
    pub buckets: Vec<String>,
    /// The template's bucket resources (logical ID, local name).
    pub template_buckets: Vec<(String, String)>,
    pub topics: Vec<String>,
    pub images: ImageMap,
    pub settings: StackSettings,
}

fn read(path: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{what} {}: {e}", path.display()))
}

impl Config {
    pub fn from_file(path: &Path) -> Result<Config, String> {
        let text = read(path, "the sfn-local config")?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

impl Project {
    /// Reads the config at `config_path` and resolves the project it describes.
    pub fn load(config_path: &Path) -> Result<Project, String> {
        let config = Config::from_file(config_path)?;
        // Absolute, because commands and paths from the project are used by processes
        // that run in other directories (a job's directory, say).
        let config_path = std::path::absolute(config_path)
            .map_err(|e| format!("{}: {e}", config_path.display()))?;
        let root = config_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        Project::resolve(config, config_path, root)
    }

    pub fn resolve(config: Config, config_path: PathBuf, root: PathBuf) -> Result<Project, String> {
        let template_path = root.join(&config.template);
        let template = Template::parse(&read(&template_path, "the template")?)
            .map_err(|e| format!("{}: {e}", template_path.display()))?;
        let settings = StackSettings {
            stack_name: config.stack_name.clone(),
            region: config.region.clone(),
            account: config.account.clone(),
            parameters: config.parameters.clone(),
            physical_names: config.physical_names.clone(),
        };
        let stack = Stack {
            template: &template,
            settings: &settings,
        };
        let in_template = |e: String| format!("{}: {e}", template_path.display());

        let state_machine_id =
            pick_state_machine(&template, config.state_machine.as_deref()).map_err(in_template)?;
        let machine = template
            .resource(&state_machine_id)
            .and_then(|r| r.get("Properties"))
            .cloned()
            .unwrap_or(Value::Null);
        let definition_uri = machine
            .get("DefinitionUri")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                in_template(format!(
                    "{state_machine_id}: sfn-local runs a state machine whose DefinitionUri names \
                     a local file (an inline Definition is not supported)"
                ))
            })?;
        let template_dir = template_path.parent().unwrap_or(Path::new("."));
        let definition_path = template_dir.join(definition_uri);
        let definition_text = read(&definition_path, "the state machine definition")?;
        let mut substitutions = BTreeMap::new();
        if let Some(Value::Object(map)) = machine.get("DefinitionSubstitutions") {
            for (key, value) in map {
                let resolved = stack.eval_string(value).map_err(|e| {
                    in_template(format!(
                        "{state_machine_id}.DefinitionSubstitutions.{key}: {e}"
                    ))
                })?;
                substitutions.insert(key.clone(), resolved);
            }
        }
        let substituted = substitute(&definition_text, &substitutions);
        let definition: Value = serde_json::from_str(&substituted)
            .map_err(|e| format!("{}: not JSON: {e}", definition_path.display()))?;
        if let Some(left) = unresolved_placeholder(&definition) {
            return Err(format!(
                "{}: ${{{left}}} has no DefinitionSubstitutions entry in {state_machine_id}",
                definition_path.display()
            ));
        }

        let functions_dir = match &config.functions_dir {
            Some(dir) => root.join(dir),
            None => default_functions_dir(),
        };
        let mut functions = Vec::new();
        let mut template_buckets = Vec::new();
        let mut topics = Vec::new();
        for (logical_id, resource) in template.resources() {
            match resource.get("Type").and_then(Value::as_str) {
                Some("AWS::Serverless::Function") => functions.push(
                    function(&stack, logical_id, resource, &functions_dir)
                        .map_err(|e| in_template(format!("{logical_id}: {e}")))?,
                ),
                Some("AWS::S3::Bucket") => {
                    template_buckets.push((logical_id.to_string(), stack.physical_name(logical_id)))
                }
                Some("AWS::SNS::Topic") => topics.push(
                    stack
                        .eval_string(&serde_json::json!({ "Ref": logical_id }))
                        .map_err(in_template)?,
                ),
                _ => {}
            }
        }
        let mut buckets: Vec<String> = template_buckets.iter().map(|(_, b)| b.clone()).collect();
        for bucket in &config.buckets {
            if !buckets.contains(bucket) {
                buckets.push(bucket.clone());
            }
        }
        let images = match &config.images {
            Some(value) => ImageMap::from_json(value, &root)
                .map_err(|e| format!("{}: images: {e}", config_path.display()))?
                .with_source(&config_path),
            None => ImageMap::default().with_source(&config_path),
        };
        let state_machine_name = stack.physical_name(&state_machine_id);
        Ok(Project {
            root,
            config_path,
            template_path,
            state_machine_id,
            state_machine_name,
            definition_path,
            definition,
            substitutions,
            functions,
            buckets,
            template_buckets,
            topics,
            images,
            settings,
            config,
        })
    }

    /// Functions whose binary is not there, with the command that builds them.
    pub fn missing_binaries(&self) -> Option<String> {
        let missing: Vec<&ProjectFunction> = self
            .functions
            .iter()
            .filter(|f| !f.spec.binary.is_file())
            .collect();
        if missing.is_empty() {
            return None;
        }
        let list = missing
            .iter()
            .map(|f| format!("{} ({})", f.logical_id, f.spec.binary.display()))
            .collect::<Vec<_>>()
            .join(", ");
        let build = missing
            .iter()
            .map(|f| format!("--bin {}", f.binary_name))
            .collect::<Vec<_>>()
            .join(" ");
        Some(format!(
            "the Lambda binaries are missing: {list}. Build them with `cargo build {build}` \
             (the same profile as sfn-local), or set \"functions_dir\" in {}",
            self.config_path.display()
        ))
    }
}

/// The state machine to run: the one named, or the template's only one.
fn pick_state_machine(template: &Template, wanted: Option<&str>) -> Result<String, String> {
    let machines: Vec<&str> = template
        .resources()
        .filter(|(_, r)| {
            matches!(
                r.get("Type").and_then(Value::as_str),
                Some("AWS::Serverless::StateMachine")
            )
        })
        .map(|(id, _)| id)
        .collect();
    match wanted {
        Some(id) if machines.contains(&id) => Ok(id.to_string()),
        Some(id) => Err(format!(
            "no AWS::Serverless::StateMachine named {id} (the template has: {})",
            machines.join(", ")
        )),
        None => match machines.as_slice() {
            [only] => Ok(only.to_string()),
            [] => Err("the template has no AWS::Serverless::StateMachine".to_string()),
            many => Err(format!(
                "the template has {} state machines ({}): name one with \"state_machine\"",
                many.len(),
                many.join(", ")
            )),
        },
    }
}

fn default_functions_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

fn function(
    stack: &Stack<'_>,
    logical_id: &str,
    resource: &Value,
    functions_dir: &Path,
) -> Result<ProjectFunction, String> {
    let binary_name = resource
        .pointer("/Metadata/BuildProperties/Binary")
        .and_then(Value::as_str)
        .ok_or(
            "sfn-local runs functions built with cargo-lambda: Metadata.BuildProperties.Binary \
             must name the binary",
        )?
        .to_string();
    let properties = resource.get("Properties").cloned().unwrap_or(Value::Null);
    let property = |name: &str| {
        properties
            .get(name)
            .or_else(|| stack.template.global("Function", name))
    };
    let timeout = match property("Timeout") {
        Some(value) => stack
            .eval_string(value)?
            .parse::<u64>()
            .map_err(|_| "Timeout must be a whole number of seconds".to_string())?,
        None => SAM_DEFAULT_TIMEOUT_SECONDS,
    };
    let memory_mb = match property("MemorySize") {
        Some(value) => stack
            .eval_string(value)?
            .parse::<u32>()
            .map_err(|_| "MemorySize must be a whole number of MB".to_string())?,
        None => SAM_DEFAULT_MEMORY_MB,
    };
    // Globals' variables first; the function's own override them (SAM merges maps).
    let mut env = BTreeMap::new();
    let globals = stack
        .template
        .global("Function", "Environment")
        .and_then(|e| e.get("Variables"));
    let own = properties
        .get("Environment")
        .and_then(|e| e.get("Variables"));
    for variables in [globals, own].into_iter().flatten() {
        let evaluated = stack.eval(variables)?;
        if let Value::Object(map) = evaluated {
            for (key, value) in map {
                let text = match value {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        return Err(format!(
                            "Environment.Variables.{key} must be a string, got {other}"
                        ))
                    }
                };
                env.insert(key, text);
            }
        }
    }
    let name = stack.physical_name(logical_id);
    let arn = stack.eval_string(&serde_json::json!({"Fn::GetAtt": [logical_id, "Arn"]}))?;
    Ok(ProjectFunction {
        logical_id: logical_id.to_string(),
        spec: FunctionSpec {
            name,
            binary: functions_dir.join(&binary_name),
            env: env.into_iter().collect(),
            timeout: Duration::from_secs(timeout),
            memory_mb,
        },
        binary_name,
        arn,
    })
}

/// `${Name}` → its value, as SAM applies `DefinitionSubstitutions` to the file's text.
fn substitute(text: &str, substitutions: &BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    for (key, value) in substitutions {
        // The values land inside JSON strings: escape them as JSON would.
        let escaped = serde_json::to_string(value).unwrap_or_default();
        let inner = escaped
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(value);
        out = out.replace(&format!("${{{key}}}"), inner);
    }
    out
}

/// A `${Name}` left in a string of the definition after substitution.
fn unresolved_placeholder(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => {
            let start = s.find("${")?;
            let rest = &s[start + 2..];
            let end = rest.find('}')?;
            let name = &rest[..end];
            let is_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
            is_name.then(|| name.to_string())
        }
        Value::Array(items) => items.iter().find_map(unresolved_placeholder),
        Value::Object(map) => map.values().find_map(unresolved_placeholder),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn repo_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
    }

    fn project_config() -> Config {
        serde_json::from_value(json!({
            "stack_name": "ensemble-training",
            "parameters": {
                "AllowedSourceBuckets": "ensemble-raw-data,other-data",
                "TextTrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/ensemble-text:local",
                "ImageTrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/ensemble-image:local",
                "SequenceTrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/ensemble-sequence:local"
            },
            "buckets": ["ensemble-raw-data"],
            "functions_dir": "target/debug"
        }))
        .unwrap()
    }

    #[test]
    fn the_projects_template_resolves_to_local_resources() {
        let root = repo_root();
        let project =
            Project::resolve(project_config(), root.join(CONFIG_FILE), root.clone()).unwrap();
        assert_eq!(project.state_machine_id, "EnsembleTrainingStateMachine");
        assert_eq!(
            project.substitutions["GenerateConfigFunctionArn"],
            "arn:aws:lambda:us-east-1:123456789012:function:ensemble-training-GenerateConfigFunction"
        );
        assert_eq!(
            project.substitutions["PreprocessJobDefinitionArn"],
            "arn:aws:batch:us-east-1:123456789012:job-definition/ensemble-preprocess"
        );
        assert_eq!(
            project.substitutions["TextTrainingImage"],
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/ensemble-text:local"
        );
        let text = project.definition.to_string();
        assert!(!text.contains("${"), "a placeholder is left: {text}");
        assert!(crate::definition::StateMachine::parse(&project.definition).is_ok());

        let copy = project
            .functions
            .iter()
            .find(|f| f.logical_id == "CopyExecutionDataFunction")
            .unwrap();
        assert_eq!(copy.binary_name, "copy-execution-data");
        assert_eq!(
            copy.spec.binary,
            root.join("target/debug/copy-execution-data")
        );
        assert_eq!(copy.spec.timeout, Duration::from_secs(900));
        assert_eq!(copy.spec.memory_mb, 1024);
        let env: BTreeMap<_, _> = copy.spec.env.iter().cloned().collect();
        assert_eq!(env["ARTIFACT_BUCKET"], "ensemble-training-artifactbucket");
        assert_eq!(
            env["ALLOWED_SOURCE_BUCKETS"],
            "ensemble-raw-data,other-data"
        );
        let generate = project
            .functions
            .iter()
            .find(|f| f.logical_id == "GenerateConfigFunction")
            .unwrap();
        // Globals.Function: Timeout 60, MemorySize 256.
        assert_eq!(generate.spec.timeout, Duration::from_secs(60));
        assert_eq!(generate.spec.memory_mb, 256);
        assert_eq!(project.functions.len(), 4);
        assert_eq!(
            project.buckets,
            ["ensemble-training-artifactbucket", "ensemble-raw-data"]
        );
        assert_eq!(
            project.topics,
            ["arn:aws:sns:us-east-1:123456789012:ensemble-training-NotificationTopic"]
        );
    }

    #[test]
    fn a_missing_parameter_is_named() {
        let root = repo_root();
        let mut config = project_config();
        config.parameters.remove("TextTrainingImage");
        let err = Project::resolve(config, root.join(CONFIG_FILE), root)
            .err()
            .unwrap();
        assert!(err.contains("TextTrainingImage has no Default"), "{err}");
        assert!(
            err.contains("DefinitionSubstitutions.TextTrainingImage"),
            "{err}"
        );
    }

    #[test]
    fn missing_binaries_say_how_to_build_them() {
        let root = repo_root();
        let mut config = project_config();
        config.functions_dir = Some(PathBuf::from("no/such/dir"));
        let project = Project::resolve(config, root.join(CONFIG_FILE), root).unwrap();
        let message = project.missing_binaries().unwrap();
        assert!(message.contains("--bin generate-config"), "{message}");
    }

    #[test]
    fn substitution_escapes_for_json_and_leftovers_are_found() {
        let subs = BTreeMap::from([("A".to_string(), "x\"y".to_string())]);
        let text = substitute(r#"{"k": "${A}", "l": "${B}"}"#, &subs);
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["k"], "x\"y");
        assert_eq!(unresolved_placeholder(&value).as_deref(), Some("B"));
        assert_eq!(unresolved_placeholder(&json!({"k": "$.a ${"})), None);
    }

    #[test]
    fn config_fields_are_checked() {
        let err = serde_json::from_value::<Config>(json!({"parameter": {}})).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `parameter`"),
            "{err}"
        );
    }
}
