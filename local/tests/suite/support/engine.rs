//! What the interpreter's test crates (`engine*.rs`) share: a scripted task runner,
//! an execution spec, and readers for an [`Outcome`]'s status and history.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use sfn_local::asl::AslError;
use sfn_local::definition::StateMachine;
use sfn_local::engine::{
    BoxFuture, Clock, Engine, ExecutionSpec, Outcome, Status, TaskRequest, TaskRunner,
};

/// A task runner driven by the resource name, `test:<behaviour>`:
/// - `test:echo` returns its parameters;
/// - `test:context` returns the context object it was given;
/// - `test:null` returns JSON null;
/// - `test:fail:<Error>` fails with that error (cause "it failed");
/// - `test:flaky:<n>:<Error>` fails with Error on its first n calls (counted per
///   state name), then returns `{"attempt": <call number>, "retry_count": <n>}`;
/// - `test:seq:<E1>,<E2>,...` fails with E1 on its first call, E2 on the second, ...
///   (per state name), then echoes its parameters;
/// - `test:sleep:<ms>` sleeps, then echoes;
/// - `test:sleepfail:<ms>:<Error>` sleeps, then fails with Error;
/// - `test:slowfirst:<ms>` sleeps on its first call only (per state name), then echoes;
/// - `test:big:<bytes>` returns a string of that many `x`.
///
/// Every call is recorded in `requests` when it starts and its state name in
/// `finished` when it returns (a call dropped by a cancelled branch never does);
/// `max_in_flight` is the most calls that ran at once.
#[derive(Default)]
pub struct Script {
    calls: Mutex<HashMap<String, u64>>,
    pub requests: Mutex<Vec<TaskRequest>>,
    pub finished: Mutex<Vec<String>>,
    in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
}

/// Decrements the in-flight count however the call ends (a drop included).
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Script {
    pub fn new() -> Arc<Script> {
        Arc::new(Script::default())
    }

    /// The parameters of every call so far, in the order the calls started.
    pub fn parameters(&self) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.parameters.clone())
            .collect()
    }

    /// How many calls started for state `name`.
    pub fn calls_of(&self, name: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.state_name == name)
            .count()
    }

    async fn respond(&self, request: TaskRequest, count: u64) -> Result<Value, AslError> {
        let parts: Vec<&str> = request.resource.split(':').collect();
        match parts.as_slice() {
            ["test", "echo"] => Ok(request.parameters),
            ["test", "context"] => Ok(request.context),
            ["test", "null"] => Ok(Value::Null),
            ["test", "fail", error] => Err(AslError::new(*error, "it failed")),
            ["test", "flaky", n, error] => {
                if count <= n.parse::<u64>().unwrap() {
                    Err(AslError::new(*error, format!("attempt {count}")))
                } else {
                    Ok(json!({"attempt": count, "retry_count": request.retry_count}))
                }
            }
            ["test", "seq", errors] => {
                let errors: Vec<&str> = errors.split(',').collect();
                match errors.get(count as usize - 1) {
                    Some(error) => Err(AslError::new(*error, format!("call {count}"))),
                    None => Ok(request.parameters),
                }
            }
            ["test", "sleep", ms] => {
                tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
                Ok(request.parameters)
            }
            ["test", "sleepfail", ms, error] => {
                tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
                Err(AslError::new(*error, "it failed after sleeping"))
            }
            ["test", "slowfirst", ms] => {
                if count == 1 {
                    tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
                }
                Ok(request.parameters)
            }
            ["test", "big", bytes] => Ok(Value::String("x".repeat(bytes.parse().unwrap()))),
            _ => Err(AslError::new("UnknownResource", request.resource.clone())),
        }
    }
}

impl TaskRunner for Script {
    fn run(&self, request: TaskRequest) -> BoxFuture<'_, Result<Value, AslError>> {
        Box::pin(async move {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            let _in_flight = InFlight(&self.in_flight);
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            self.requests.lock().unwrap().push(request.clone());
            let count = {
                let mut calls = self.calls.lock().unwrap();
                let n = calls.entry(request.state_name.clone()).or_default();
                *n += 1;
                *n
            };
            let name = request.state_name.clone();
            let result = self.respond(request, count).await;
            self.finished.lock().unwrap().push(name);
            result
        })
    }
}

pub fn spec(input: Value) -> ExecutionSpec {
    ExecutionSpec {
        name: "exec-1".into(),
        state_machine_name: "machine".into(),
        input,
        region: "us-east-1".into(),
        account: "123456789012".into(),
        role_arn: "arn:aws:iam::123456789012:role/local".into(),
    }
}

/// Runs `definition` on `input` with `script` as the task runner; waits and retry
/// intervals take `scale` × their nominal length.
pub async fn execute_with(
    definition: Value,
    input: Value,
    script: Arc<Script>,
    scale: f64,
) -> Outcome {
    let machine = StateMachine::parse(&definition).unwrap_or_else(|p| panic!("{p:#?}"));
    let engine = Engine {
        runner: script,
        clock: Clock { scale },
        observer: None,
    };
    engine.execute(&machine, &spec(input)).await
}

/// Runs `definition` on `input` with a fresh [`Script`] and no waiting.
pub async fn execute(definition: Value, input: Value) -> Outcome {
    execute_with(definition, input, Script::new(), 0.0).await
}

/// The problems a definition is rejected with, one a line.
pub fn problems(definition: Value) -> String {
    match StateMachine::parse(&definition) {
        Ok(_) => panic!("the definition was accepted: {definition}"),
        Err(problems) => problems.join("\n"),
    }
}

/// Asserts the definition is rejected with a problem containing every fragment.
pub fn assert_rejected(definition: Value, fragments: &[&str]) {
    let text = problems(definition);
    for fragment in fragments {
        assert!(text.contains(fragment), "missing {fragment:?} in:\n{text}");
    }
}

pub fn output(outcome: &Outcome) -> Value {
    match &outcome.status {
        Status::Succeeded { output } => output.clone(),
        other => panic!("expected success, got {other:?}"),
    }
}

/// The (error, cause) of a failed execution.
pub fn failure(outcome: &Outcome) -> (String, String) {
    match &outcome.status {
        Status::Failed { error, cause } => (error.clone(), cause.clone()),
        other => panic!("expected failure, got {other:?}"),
    }
}

/// The error name of a failed execution.
pub fn error_of(outcome: &Outcome) -> String {
    failure(outcome).0
}

/// The (error, cause) of a timed-out execution.
pub fn timed_out(outcome: &Outcome) -> (String, String) {
    match &outcome.status {
        Status::TimedOut { error, cause } => (error.clone(), cause.clone()),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

/// The history's event types, in order.
pub fn types(outcome: &Outcome) -> Vec<String> {
    outcome
        .history
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

/// The history's events of one type, in order.
pub fn events<'a>(outcome: &'a Outcome, kind: &str) -> Vec<&'a Value> {
    outcome
        .history
        .iter()
        .filter(|e| e["type"] == kind)
        .collect()
}

/// How many events of one type the history holds.
pub fn count(outcome: &Outcome, kind: &str) -> usize {
    events(outcome, kind).len()
}

/// The names of the states entered, in order (`stateEnteredEventDetails.name`).
pub fn entered(outcome: &Outcome) -> Vec<String> {
    outcome
        .history
        .iter()
        .filter_map(|e| e["stateEnteredEventDetails"]["name"].as_str())
        .map(str::to_string)
        .collect()
}

/// The `executionFailedEventDetails` of the last event, which must be ExecutionFailed.
pub fn execution_failed_details(outcome: &Outcome) -> Value {
    let last = outcome.history.last().expect("an empty history");
    assert_eq!(last["type"], "ExecutionFailed", "{last}");
    last["executionFailedEventDetails"].clone()
}

/// Parses a JSON text field of an event (`input`, `output`, `parameters`).
pub fn json_field(text: &Value) -> Value {
    serde_json::from_str(text.as_str().expect("a JSON text field")).unwrap()
}

/// A Task state `T` (ending the machine) with `resource` and `extra` fields.
pub fn task(resource: &str, extra: Value) -> Value {
    let mut state = json!({"Type": "Task", "Resource": resource, "End": true});
    for (k, v) in extra.as_object().unwrap() {
        state[k] = v.clone();
    }
    json!({"StartAt": "T", "States": {"T": state}})
}
