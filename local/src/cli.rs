//! The `sfn-local` command line: `execute` any definition, `validate` it, draw it as
//! a `graph`. Results go to stdout (one JSON object for `execute`), progress to
//! stderr. Exit codes: 0 the execution succeeded (or the command did its job), 1 the
//! execution failed or timed out, 2 an invalid definition or invalid usage.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};

use crate::definition::StateMachine;
use crate::engine::{Clock, Engine, ExecutionSpec, Outcome, Status, TaskRunner};
use crate::graph;
use crate::integrations::mock::{MockConfig, MockRunner};
use crate::integrations::router::Router;

pub const EXIT_SUCCEEDED: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_INVALID: i32 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "sfn-local",
    version,
    about = "Runs AWS Step Functions state machines (Amazon States Language, JSONPath) on one machine",
    long_about = "Runs AWS Step Functions state machines (Amazon States Language, JSONPath) on one \
machine.\n\nExit codes: 0 the execution succeeded (or the command did its job), 1 the \
execution failed or timed out, 2 an invalid definition or invalid usage."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the project's state machine (from its SAM template) with every resource
    /// local: the Lambda binaries, an embedded S3, SageMaker training and batch
    /// transform under the container contract, an SNS outbox. Progress on stderr; a
    /// summary (status, metrics, artifacts, transitions, AWS cost estimate) on stdout.
    Run(crate::run::RunArgs),
    /// Runs any definition; prints exactly one JSON object on stdout:
    /// {"status": "SUCCEEDED", "output": ...} or {"status": "FAILED", "error": ..., "cause": ...}.
    Execute(ExecuteArgs),
    /// Checks a definition: every problem, each with the JSON pointer of its field;
    /// then warns where it departs from the practices of a reliable workflow (every
    /// failure caught and ending in Fail, Lambda service errors retried, SageMaker
    /// job names per retry, .sync results trimmed).
    Validate {
        /// The definition (ASL JSON).
        file: PathBuf,
        /// Warnings fail the command too (exit 2).
        #[arg(long)]
        strict: bool,
    },
    /// Draws a definition as a Mermaid flowchart (or DOT), with an execution's path
    /// highlighted when given its history.
    Graph {
        file: PathBuf,
        /// A history written by `execute --history`.
        #[arg(long)]
        history: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}

#[derive(Debug, clap::Args)]
pub struct ExecuteArgs {
    /// The definition (ASL JSON).
    #[arg(long)]
    pub definition: PathBuf,
    /// The execution input (JSON); `{}` when absent.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// The execution name (`$$.Execution.Name`).
    #[arg(long, default_value = "local-execution")]
    pub name: String,
    /// The state machine name (`$$.StateMachine.Name`).
    #[arg(long, default_value = "local-state-machine")]
    pub state_machine_name: String,
    /// Writes the execution history (GetExecutionHistory's events) to this file.
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// Multiplies every Wait and retry interval (1 = real time, 0 = no waiting).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    #[command(flatten)]
    pub mocks: MockArgs,
    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Mocked responses in AWS's MockConfigFile format (as Step Functions Local reads it):
/// the test case's Task states get their mocked `Return` / `Throw`, the others run.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MockArgs {
    /// A MockConfigFile.json (`StateMachines` → `TestCases`, `MockedResponses`).
    #[arg(long, requires = "test_case")]
    pub mock_config: Option<PathBuf>,
    /// The test case to run (of the state machine, by its name).
    #[arg(long, requires = "mock_config")]
    pub test_case: Option<String>,
}

impl MockArgs {
    /// `inner`, or `inner` behind the test case's mocks. `names` are the names the
    /// config may use for this state machine, the first found wins.
    pub fn wrap(
        &self,
        inner: Arc<dyn TaskRunner>,
        names: &[&str],
    ) -> Result<Arc<dyn TaskRunner>, String> {
        let (Some(path), Some(test_case)) = (&self.mock_config, &self.test_case) else {
            return Ok(inner);
        };
        let config = MockConfig::from_json(&read_json(path, "--mock-config")?)
            .map_err(|e| format!("--mock-config {}: {e}", path.display()))?;
        let known = config.state_machines();
        let name = names
            .iter()
            .find(|n| known.iter().any(|k| k == *n))
            .ok_or_else(|| {
                format!(
                    "--mock-config {}: no test cases for the state machine {} (it has: {})",
                    path.display(),
                    names.join(" or "),
                    known.join(", ")
                )
            })?;
        let runner = MockRunner::new(config, name, test_case, inner)
            .map_err(|e| format!("--mock-config {}: {e}", path.display()))?;
        Ok(Arc::new(runner))
    }
}

/// What a command produced: the exit code, and what goes to stdout.
pub struct Report {
    pub code: i32,
    pub stdout: String,
}

pub(crate) fn read_json(path: &Path, what: &str) -> Result<Value, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{what} {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{what} {}: not JSON: {e}", path.display()))
}

fn load_definition(path: &Path) -> Result<StateMachine, String> {
    let value = read_json(path, "definition")?;
    StateMachine::parse(&value).map_err(|problems| {
        let mut text = format!(
            "{}: invalid definition ({} problems)",
            path.display(),
            problems.len()
        );
        for problem in problems {
            text.push_str("\n  ");
            text.push_str(&problem);
        }
        text
    })
}

/// The one JSON object `execute` (and `run --json`) prints.
pub fn result_json(outcome: &Outcome) -> Value {
    match &outcome.status {
        Status::Succeeded { output } => json!({"status": "SUCCEEDED", "output": output}),
        Status::Failed { error, cause } => {
            json!({"status": "FAILED", "error": error, "cause": cause})
        }
        Status::TimedOut { error, cause } => {
            json!({"status": "TIMED_OUT", "error": error, "cause": cause})
        }
    }
}

pub fn exit_code(outcome: &Outcome) -> i32 {
    match outcome.status {
        Status::Succeeded { .. } => EXIT_SUCCEEDED,
        _ => EXIT_FAILED,
    }
}

pub async fn execute(
    args: &ExecuteArgs,
    runner: Arc<dyn TaskRunner>,
) -> Result<Report, (i32, String)> {
    let machine = load_definition(&args.definition).map_err(|e| (EXIT_INVALID, e))?;
    let input = match &args.input {
        Some(path) => read_json(path, "input").map_err(|e| (EXIT_INVALID, e))?,
        None => json!({}),
    };
    if !(args.time_scale.is_finite() && args.time_scale >= 0.0) {
        return Err((
            EXIT_INVALID,
            format!("--time-scale {}: must be a number ≥ 0", args.time_scale),
        ));
    }
    let runner = args
        .mocks
        .wrap(runner, &[&args.state_machine_name])
        .map_err(|e| (EXIT_INVALID, e))?;
    let engine = Engine {
        runner,
        clock: Clock {
            scale: args.time_scale,
        },
        observer: (!args.quiet).then(crate::run::run_progress),
    };
    let spec = ExecutionSpec {
        name: args.name.clone(),
        state_machine_name: args.state_machine_name.clone(),
        input,
        region: "us-east-1".into(),
        account: "123456789012".into(),
        role_arn: "arn:aws:iam::123456789012:role/sfn-local".into(),
    };
    let outcome = engine.execute(&machine, &spec).await;
    if let Some(path) = &args.history {
        let text = serde_json::to_string_pretty(&outcome.history).unwrap_or_default();
        std::fs::write(path, text + "\n")
            .map_err(|e| (EXIT_INVALID, format!("--history {}: {e}", path.display())))?;
    }
    Ok(Report {
        code: exit_code(&outcome),
        stdout: result_json(&outcome).to_string(),
    })
}

/// The definition's problems (exit 2), then the practices it does not follow
/// (warnings; exit 2 with `strict`).
pub fn validate(file: &Path, strict: bool) -> Result<Report, (i32, String)> {
    let machine = load_definition(file).map_err(|e| (EXIT_INVALID, e))?;
    let count = count_states(&machine);
    let findings = crate::lint::lint(&machine);
    let mut text = format!(
        "{}: valid ({count} states), {} warning{}",
        file.display(),
        findings.len(),
        if findings.len() == 1 { "" } else { "s" }
    );
    for finding in &findings {
        text.push_str(&format!("\n  warning: {}: {}", finding.at, finding.message));
    }
    let code = if strict && !findings.is_empty() {
        EXIT_INVALID
    } else {
        EXIT_SUCCEEDED
    };
    Ok(Report { code, stdout: text })
}

fn count_states(machine: &StateMachine) -> usize {
    use crate::definition::Kind;
    machine
        .states
        .values()
        .map(|state| {
            1 + match &state.kind {
                Kind::Parallel(p) => p.branches.iter().map(count_states).sum(),
                Kind::Map(m) => count_states(&m.processor),
                _ => 0,
            }
        })
        .sum()
}

pub fn graph(
    file: &Path,
    history: Option<&Path>,
    format: GraphFormat,
) -> Result<Report, (i32, String)> {
    let machine = load_definition(file).map_err(|e| (EXIT_INVALID, e))?;
    let visits = match history {
        Some(path) => {
            let events = read_json(path, "history").map_err(|e| (EXIT_INVALID, e))?;
            let Value::Array(events) = events else {
                return Err((
                    EXIT_INVALID,
                    format!("history {}: must be a JSON array of events", path.display()),
                ));
            };
            Some(graph::Visits::from_history(&events))
        }
        None => None,
    };
    let text = match format {
        GraphFormat::Mermaid => graph::mermaid(&machine, visits.as_ref()),
        GraphFormat::Dot => graph::dot(&machine, visits.as_ref()),
    };
    Ok(Report {
        code: EXIT_SUCCEEDED,
        stdout: text.trim_end().to_string(),
    })
}

/// Runs a parsed command line.
pub async fn main_with(cli: Cli) -> i32 {
    let result = match &cli.command {
        // No project resources: every Task fails with a clear error naming what it needs.
        Command::Execute(args) => execute(args, Arc::new(Router::default())).await,
        Command::Run(args) => crate::run::run(args).await,
        Command::Validate { file, strict } => validate(file, *strict),
        Command::Graph {
            file,
            history,
            format,
        } => graph(file, history.as_deref(), *format),
    };
    match result {
        Ok(report) => {
            // A closed pipe (`| head`) is the reader's choice, not an error to panic on.
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{}", report.stdout).and_then(|()| stdout.flush());
            report.code
        }
        Err((code, message)) => {
            eprintln!("sfn-local: {message}");
            code
        }
    }
}
