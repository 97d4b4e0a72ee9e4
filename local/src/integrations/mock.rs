//! Mocked service integrations in Step Functions Local's `MockConfigFile.json` format
//! (docs: sfn-local-mock-cfg-file), so the same test cases run here, in Step Functions
//! Local and in LocalStack.
//!
//! ```json
//! {"StateMachines": {"<machine>": {"TestCases": {"<case>": {"<Task state>": "<response id>"}}}},
//!  "MockedResponses": {"<response id>": {"0": {"Return": ...}, "1-2": {"Throw": {"Error": ..., "Cause": ...}}}}}
//! ```
//!
//! Rules (docs, unless said otherwise):
//! - the keys of a mocked response are invocation numbers, `"0"`, `"1"`, or inclusive
//!   ranges `"0-1"`; a Task state's n-th invocation (0-based, retries included) gets
//!   the response whose key covers n;
//! - "When you mock a Task, you must specify a mocked response for every invocation
//!   [...] If you do not specify a mocked response, the state machine execution will
//!   fail", and for retries "you must denote mocks for retries with consecutive attempt
//!   numbers [...] If you do not specify a mocked response for a specific retry attempt
//!   [...] the state machine execution will fail" (sfn-local-test-sm-exec): an
//!   invocation past the last key fails with `States.Runtime` (which no Retry or Catch
//!   sees, as the execution fails); the last response is not repeated;
//! - each response holds exactly one of `Return` (the task's result, used as is) or
//!   `Throw` (`Error` and `Cause`, both strings);
//! - states that a test case does not name call the real integration (here: the inner
//!   runner), as in the docs' `HybridPath` example.
//!
//! Checked at load, as LocalStack's implementation does at execution start (the docs
//! are silent): the keys of one response are consecutive from `"0"`, with no gap and no
//! overlap; the chosen test case names only responses that exist.

use crate::util::json_type as kind;
use crate::util::lock;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::asl::{names, AslError};
use crate::engine::{BoxFuture, TaskRequest, TaskRunner};

/// The parsed `MockConfigFile.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct MockConfig {
    /// machine name → test case name → Task state name → response id.
    state_machines: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    responses: BTreeMap<String, MockedResponse>,
}

/// One entry of `MockedResponses`: its steps, sorted and consecutive from 0.
#[derive(Debug, Clone, PartialEq)]
pub struct MockedResponse {
    steps: Vec<Step>,
}

/// The response for invocations `first..=last`.
#[derive(Debug, Clone, PartialEq)]
struct Step {
    first: u64,
    last: u64,
    key: String,
    outcome: Outcome,
}

/// What a mocked invocation does.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Return(Value),
    Throw { error: String, cause: String },
}

impl MockedResponse {
    /// The outcome of the `invocation`-th call (0-based), if the response covers it.
    pub fn outcome(&self, invocation: u64) -> Option<&Outcome> {
        self.steps
            .iter()
            .find(|s| s.first <= invocation && invocation <= s.last)
            .map(|s| &s.outcome)
    }

    /// How many invocations the response covers (its last key's end + 1).
    pub fn invocations(&self) -> u64 {
        self.steps.last().map_or(0, |s| s.last.saturating_add(1))
    }

    /// The keys as written, in order: for messages.
    fn keys(&self) -> String {
        let keys: Vec<String> = self.steps.iter().map(|s| format!("{:?}", s.key)).collect();
        keys.join(", ")
    }
}

impl MockConfig {
    /// Parses and checks a whole mock configuration; every error names where it is
    /// (state machine, test case, state, response id, key).
    pub fn from_json(value: &Value) -> Result<MockConfig, String> {
        let root = value.as_object().ok_or_else(|| {
            format!(
                "the mock configuration must be a JSON object, got {}",
                kind(value)
            )
        })?;
        let machines = field_object(root, "StateMachines", "the mock configuration")?;
        let responses = field_object(root, "MockedResponses", "the mock configuration")?;

        let mut state_machines = BTreeMap::new();
        for (machine, body) in machines {
            let at = format!("state machine {machine:?}");
            let body = body.as_object().ok_or_else(|| {
                format!(
                    "{at}: must be an object with \"TestCases\", got {}",
                    kind(body)
                )
            })?;
            let cases = field_object(body, "TestCases", &at)?;
            let mut test_cases = BTreeMap::new();
            for (case, states) in cases {
                let at = format!("{at}, test case {case:?}");
                let states = states.as_object().ok_or_else(|| {
                    format!(
                        "{at}: must map Task state names to mocked response ids, got {}",
                        kind(states)
                    )
                })?;
                let mut mapping = BTreeMap::new();
                for (state, response) in states {
                    let response = response.as_str().ok_or_else(|| {
                        format!(
                            "{at}, state {state:?}: the mocked response id must be a string, got {}",
                            kind(response)
                        )
                    })?;
                    mapping.insert(state.clone(), response.to_string());
                }
                test_cases.insert(case.clone(), mapping);
            }
            state_machines.insert(machine.clone(), test_cases);
        }

        let mut parsed = BTreeMap::new();
        for (id, steps) in responses {
            parsed.insert(id.clone(), parse_response(id, steps)?);
        }
        Ok(MockConfig {
            state_machines,
            responses: parsed,
        })
    }

    /// The names of the state machines the file configures.
    pub fn state_machines(&self) -> Vec<String> {
        self.state_machines.keys().cloned().collect()
    }

    /// The test cases of `state_machine` (empty if it has none).
    pub fn test_cases(&self, state_machine: &str) -> Vec<String> {
        self.state_machines
            .get(state_machine)
            .map(|cases| cases.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn response(&self, id: &str) -> Option<&MockedResponse> {
        self.responses.get(id)
    }

    /// The Task state → mocked response of one test case, every response resolved.
    fn test_case(
        &self,
        state_machine: &str,
        test_case: &str,
    ) -> Result<HashMap<String, (String, MockedResponse)>, String> {
        let cases = self.state_machines.get(state_machine).ok_or_else(|| {
            format!(
                "no state machine {state_machine:?} in the mock configuration (it has: {})",
                list(self.state_machines.keys())
            )
        })?;
        let states = cases.get(test_case).ok_or_else(|| {
            format!(
                "no test case {test_case:?} for state machine {state_machine:?} in the mock configuration (it has: {})",
                list(cases.keys())
            )
        })?;
        let mut resolved = HashMap::new();
        for (state, id) in states {
            let response = self.responses.get(id).ok_or_else(|| {
                format!(
                    "test case {test_case:?}, state {state:?}: mocked response {id:?} is not defined in MockedResponses (defined: {})",
                    list(self.responses.keys())
                )
            })?;
            resolved.insert(state.clone(), (id.clone(), response.clone()));
        }
        Ok(resolved)
    }
}

fn parse_response(id: &str, steps: &Value) -> Result<MockedResponse, String> {
    let at = format!("mocked response {id:?}");
    let steps = steps.as_object().ok_or_else(|| {
        format!(
            "{at}: must map invocation numbers (\"0\", \"1-2\") to responses, got {}",
            kind(steps)
        )
    })?;
    if steps.is_empty() {
        return Err(format!(
            "{at}: defines no invocation; it needs at least \"0\""
        ));
    }
    let mut parsed = Vec::with_capacity(steps.len());
    for (key, step) in steps {
        let (first, last) = parse_range(key).map_err(|e| format!("{at}, key {key:?}: {e}"))?;
        let outcome = parse_outcome(step).map_err(|e| format!("{at}, key {key:?}: {e}"))?;
        parsed.push(Step {
            first,
            last,
            key: key.clone(),
            outcome,
        });
    }
    parsed.sort_by_key(|s| s.first);
    let mut next = 0u64;
    for step in &parsed {
        if step.first != next {
            let problem = if step.first < next {
                "overlaps the previous key"
            } else {
                "leaves a gap"
            };
            return Err(format!(
                "{at}, key {:?}: {problem}; the keys must number the invocations consecutively from \"0\" (expected the next key to start at {next})",
                step.key
            ));
        }
        next = step
            .last
            .checked_add(1)
            .ok_or_else(|| format!("{at}, key {:?}: the range is too large", step.key))?;
    }
    Ok(MockedResponse { steps: parsed })
}

/// `"3"` → (3, 3); `"1-2"` → (1, 2). Digits only: no sign, no spaces.
fn parse_range(key: &str) -> Result<(u64, u64), String> {
    let number = |s: &str| -> Result<u64, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{s:?} is not an invocation number; keys are integers (\"0\") or inclusive ranges (\"1-2\")"
            ));
        }
        s.parse::<u64>()
            .map_err(|_| format!("{s:?} is too large for an invocation number"))
    };
    match key.split_once('-') {
        None => {
            let n = number(key)?;
            Ok((n, n))
        }
        Some((start, end)) => {
            let (first, last) = (number(start)?, number(end)?);
            if last < first {
                return Err(format!(
                    "the range ends ({last}) before it starts ({first})"
                ));
            }
            Ok((first, last))
        }
    }
}

fn parse_outcome(step: &Value) -> Result<Outcome, String> {
    let step = step.as_object().ok_or_else(|| {
        format!(
            "must be an object with \"Return\" or \"Throw\", got {}",
            kind(step)
        )
    })?;
    if let Some(other) = step.keys().find(|k| *k != "Return" && *k != "Throw") {
        return Err(format!(
            "unknown field {other:?}; a response holds exactly one of \"Return\" or \"Throw\""
        ));
    }
    match (step.get("Return"), step.get("Throw")) {
        (Some(_), Some(_)) => {
            Err("holds both \"Return\" and \"Throw\"; a response holds exactly one".into())
        }
        (None, None) => Err("holds neither \"Return\" nor \"Throw\"".into()),
        (Some(value), None) => Ok(Outcome::Return(value.clone())),
        (None, Some(throw)) => {
            let throw = throw.as_object().ok_or_else(|| {
                format!(
                    "\"Throw\" must be an object with \"Error\" and \"Cause\", got {}",
                    kind(throw)
                )
            })?;
            let text = |name: &str| -> Result<String, String> {
                match throw.get(name) {
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(other) => Err(format!(
                        "\"Throw\".{name:?} must be a string, got {}",
                        kind(other)
                    )),
                    None => Err(format!("\"Throw\" needs {name:?} (a string)")),
                }
            };
            Ok(Outcome::Throw {
                error: text("Error")?,
                cause: text("Cause")?,
            })
        }
    }
}

fn field_object<'a>(
    object: &'a Map<String, Value>,
    name: &str,
    at: &str,
) -> Result<&'a Map<String, Value>, String> {
    match object.get(name) {
        Some(Value::Object(map)) => Ok(map),
        Some(other) => Err(format!(
            "{at}: {name:?} must be an object, got {}",
            kind(other)
        )),
        None => Err(format!("{at}: {name:?} is required")),
    }
}

fn list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// Runs one test case of one state machine: the Task states it names get their mocked
/// responses, the others go to `inner`. Counts invocations per state name for the
/// runner's lifetime, so use one runner per execution (like a Step Functions Local
/// execution started with `#<test case>`).
pub struct MockRunner {
    test_case: String,
    states: HashMap<String, (String, MockedResponse)>,
    inner: Arc<dyn TaskRunner>,
    counts: Mutex<HashMap<String, u64>>,
}

impl MockRunner {
    pub fn new(
        config: MockConfig,
        state_machine: &str,
        test_case: &str,
        inner: Arc<dyn TaskRunner>,
    ) -> Result<MockRunner, String> {
        let states = config.test_case(state_machine, test_case)?;
        Ok(MockRunner {
            test_case: test_case.to_string(),
            states,
            inner,
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// How many times each mocked state was invoked so far.
    pub fn invocations(&self) -> BTreeMap<String, u64> {
        lock(&self.counts)
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// The mocked outcome of `state`'s next invocation, or None if the test case does
    /// not mock it.
    fn next(&self, state: &str) -> Option<Result<Value, AslError>> {
        let (id, response) = self.states.get(state)?;
        let invocation = {
            let mut counts = lock(&self.counts);
            let n = counts.entry(state.to_string()).or_insert(0);
            let invocation = *n;
            *n = n.saturating_add(1);
            invocation
        };
        Some(match response.outcome(invocation) {
            Some(Outcome::Return(value)) => Ok(value.clone()),
            Some(Outcome::Throw { error, cause }) => Err(AslError::new(error.clone(), cause.clone())),
            None => Err(AslError::new(
                names::RUNTIME,
                format!(
                    "test case {:?}, state {state:?}: mocked response {id:?} defines no response for invocation {invocation} (0-based; it covers {} invocation(s), keys {}); a mocked Task needs a response for every invocation",
                    self.test_case,
                    response.invocations(),
                    response.keys()
                ),
            )),
        })
    }
}

impl TaskRunner for MockRunner {
    fn run(&self, request: TaskRequest) -> BoxFuture<'_, Result<Value, AslError>> {
        match self.next(&request.state_name) {
            Some(result) => Box::pin(async move { result }),
            None => self.inner.run(request),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The example MockConfigFile of the docs (sfn-local-mock-cfg-file), verbatim;
    /// shared with the integration tests.
    fn docs_example() -> Value {
        serde_json::from_str(include_str!(
            "../../tests/fixtures/mock-config-docs-example.json"
        ))
        .unwrap()
    }

    fn err(value: Value) -> String {
        match MockConfig::from_json(&value) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e,
        }
    }

    fn with_response(steps: Value) -> Value {
        json!({"StateMachines": {}, "MockedResponses": {"R": steps}})
    }

    #[test]
    fn docs_example_parses() {
        let config = MockConfig::from_json(&docs_example()).unwrap();
        assert_eq!(config.state_machines(), vec!["LambdaSQSIntegration"]);
        assert_eq!(
            config.test_cases("LambdaSQSIntegration"),
            vec!["HappyPath", "HybridPath", "RetryPath"]
        );
        assert!(config.test_cases("Other").is_empty());
        assert_eq!(
            config.response("MockedLambdaRetry").unwrap().invocations(),
            4
        );
        assert_eq!(
            config
                .response("MockedLambdaSuccess")
                .unwrap()
                .invocations(),
            1
        );
    }

    #[test]
    fn docs_example_retry_path_attempts() {
        // Docs: "0" throws ResourceNotReady, "1-2" throw Timeout, "3" returns.
        let r = MockConfig::from_json(&docs_example()).unwrap();
        let r = r.response("MockedLambdaRetry").unwrap();
        let throw = |e: &str, c: &str| Outcome::Throw {
            error: e.into(),
            cause: c.into(),
        };
        assert_eq!(
            r.outcome(0),
            Some(&throw(
                "Lambda.ResourceNotReadyException",
                "Lambda resource is not ready."
            ))
        );
        assert_eq!(
            r.outcome(1),
            Some(&throw("Lambda.TimeoutException", "Lambda timed out."))
        );
        assert_eq!(
            r.outcome(2),
            Some(&throw("Lambda.TimeoutException", "Lambda timed out."))
        );
        assert_eq!(
            r.outcome(3),
            Some(&Outcome::Return(
                json!({"StatusCode":200,"Payload":{"StatusCode":200,"body":"Hello from Lambda!"}})
            ))
        );
        assert_eq!(r.outcome(4), None);
        assert_eq!(r.outcome(u64::MAX), None);
    }

    #[test]
    fn docs_field_reference_example_0_2_then_3() {
        // Docs: "the first three times [...] the response specified in "0-2" is
        // returned, and the fourth time [...] the response specified in "3"".
        let c = MockConfig::from_json(&with_response(json!({
            "0-2": {"Throw": {"Error": "E", "Cause": "c"}},
            "3": {"Return": {"ok": true}}
        })))
        .unwrap();
        let r = c.response("R").unwrap();
        for n in 0..3 {
            assert!(matches!(r.outcome(n), Some(Outcome::Throw { .. })), "{n}");
        }
        assert_eq!(r.outcome(3), Some(&Outcome::Return(json!({"ok": true}))));
    }

    #[test]
    fn return_may_be_any_json_value() {
        for v in [json!(null), json!(1), json!("s"), json!([1]), json!({})] {
            let c =
                MockConfig::from_json(&with_response(json!({"0": {"Return": v.clone()}}))).unwrap();
            assert_eq!(
                c.response("R").unwrap().outcome(0),
                Some(&Outcome::Return(v))
            );
        }
    }

    #[test]
    fn keys_out_of_order_are_sorted() {
        let c = MockConfig::from_json(&with_response(json!({
            "2": {"Return": 2}, "0": {"Return": 0}, "1": {"Return": 1}
        })))
        .unwrap();
        let r = c.response("R").unwrap();
        for n in 0..3u64 {
            assert_eq!(r.outcome(n), Some(&Outcome::Return(json!(n))));
        }
    }

    #[test]
    fn single_element_range() {
        let c = MockConfig::from_json(&with_response(json!({"0-0": {"Return": 1}}))).unwrap();
        assert_eq!(c.response("R").unwrap().invocations(), 1);
    }

    #[test]
    fn huge_ranges_are_not_expanded() {
        let c = MockConfig::from_json(&with_response(
            json!({"0-18446744073709551614": {"Return": 1}}),
        ))
        .unwrap();
        let r = c.response("R").unwrap();
        assert_eq!(
            r.outcome(18_446_744_073_709_551_614),
            Some(&Outcome::Return(json!(1)))
        );
    }

    #[test]
    fn range_up_to_u64_max_is_rejected_not_overflowed() {
        let e = err(with_response(
            json!({"0-18446744073709551615": {"Return": 1}}),
        ));
        assert!(e.contains("too large"), "{e}");
    }

    #[test]
    fn gap_is_rejected_naming_response_and_key() {
        let e = err(with_response(
            json!({"0": {"Return": 1}, "2": {"Return": 2}}),
        ));
        assert!(e.contains("mocked response \"R\""), "{e}");
        assert!(e.contains("key \"2\""), "{e}");
        assert!(e.contains("gap"), "{e}");
    }

    #[test]
    fn not_starting_at_zero_is_rejected() {
        let e = err(with_response(json!({"1": {"Return": 1}})));
        assert!(e.contains("key \"1\"") && e.contains("start at 0"), "{e}");
    }

    #[test]
    fn overlap_is_rejected() {
        let e = err(with_response(
            json!({"0-2": {"Return": 1}, "2": {"Return": 2}}),
        ));
        assert!(e.contains("overlaps"), "{e}");
    }

    #[test]
    fn bad_keys_are_rejected() {
        for key in [
            "a",
            "-1",
            "1-",
            "-",
            "",
            " 1",
            "1 ",
            "+1",
            "1.5",
            "1-2-3",
            "0x1",
            "99999999999999999999",
        ] {
            let e = err(with_response(json!({key: {"Return": 1}})));
            assert!(e.contains(&format!("key {key:?}")), "{key}: {e}");
        }
    }

    #[test]
    fn reversed_range_is_rejected() {
        let e = err(with_response(json!({"2-1": {"Return": 1}})));
        assert!(e.contains("ends (1) before it starts (2)"), "{e}");
    }

    #[test]
    fn empty_response_is_rejected() {
        let e = err(with_response(json!({})));
        assert!(
            e.contains("mocked response \"R\"") && e.contains("no invocation"),
            "{e}"
        );
    }

    #[test]
    fn response_must_be_object() {
        let e = err(with_response(json!([1])));
        assert!(
            e.contains("mocked response \"R\"") && e.contains("an array"),
            "{e}"
        );
    }

    #[test]
    fn both_return_and_throw_is_rejected() {
        let e = err(with_response(
            json!({"0": {"Return": 1, "Throw": {"Error": "E", "Cause": "c"}}}),
        ));
        assert!(e.contains("both"), "{e}");
    }

    #[test]
    fn neither_return_nor_throw_is_rejected() {
        let e = err(with_response(json!({"0": {}})));
        assert!(e.contains("neither"), "{e}");
    }

    #[test]
    fn unknown_field_in_step_is_rejected() {
        let e = err(with_response(json!({"0": {"Return": 1, "Retrun": 2}})));
        assert!(e.contains("\"Retrun\""), "{e}");
    }

    #[test]
    fn step_must_be_object() {
        let e = err(with_response(json!({"0": "Return"})));
        assert!(e.contains("key \"0\"") && e.contains("a string"), "{e}");
    }

    #[test]
    fn throw_needs_error_and_cause_strings() {
        let e = err(with_response(json!({"0": {"Throw": {"Cause": "c"}}})));
        assert!(e.contains("\"Error\""), "{e}");
        let e = err(with_response(json!({"0": {"Throw": {"Error": "E"}}})));
        assert!(e.contains("\"Cause\""), "{e}");
        let e = err(with_response(
            json!({"0": {"Throw": {"Error": 1, "Cause": "c"}}}),
        ));
        assert!(
            e.contains("\"Error\" must be a string, got a number"),
            "{e}"
        );
        let e = err(with_response(json!({"0": {"Throw": "E"}})));
        assert!(e.contains("\"Throw\" must be an object"), "{e}");
    }

    #[test]
    fn top_level_fields_are_required_objects() {
        assert!(err(json!([])).contains("JSON object"));
        assert!(err(json!({"MockedResponses": {}})).contains("\"StateMachines\" is required"));
        assert!(err(json!({"StateMachines": {}})).contains("\"MockedResponses\" is required"));
        assert!(
            err(json!({"StateMachines": [], "MockedResponses": {}})).contains("must be an object")
        );
    }

    #[test]
    fn state_machine_needs_test_cases() {
        let e = err(json!({"StateMachines": {"M": {}}, "MockedResponses": {}}));
        assert!(
            e.contains("state machine \"M\"") && e.contains("\"TestCases\" is required"),
            "{e}"
        );
        let e = err(json!({"StateMachines": {"M": 1}, "MockedResponses": {}}));
        assert!(e.contains("state machine \"M\""), "{e}");
    }

    #[test]
    fn test_case_values_must_be_strings() {
        let e = err(
            json!({"StateMachines": {"M": {"TestCases": {"T": {"S": 1}}}}, "MockedResponses": {}}),
        );
        assert!(
            e.contains("test case \"T\"") && e.contains("state \"S\""),
            "{e}"
        );
        let e =
            err(json!({"StateMachines": {"M": {"TestCases": {"T": []}}}, "MockedResponses": {}}));
        assert!(e.contains("test case \"T\""), "{e}");
    }

    /// Answers every request with its state name, so fall-through is visible.
    struct Inner;
    impl TaskRunner for Inner {
        fn run(&self, request: TaskRequest) -> BoxFuture<'_, Result<Value, AslError>> {
            Box::pin(async move { Ok(json!({"inner": request.state_name})) })
        }
    }

    fn request(state: &str) -> TaskRequest {
        TaskRequest {
            state_name: state.to_string(),
            resource: "arn:aws:states:::lambda:invoke".into(),
            parameters: json!({}),
            context: json!({}),
            retry_count: 0,
            timeout: None,
        }
    }

    fn runner(case: &str) -> MockRunner {
        let config = MockConfig::from_json(&docs_example()).unwrap();
        MockRunner::new(config, "LambdaSQSIntegration", case, Arc::new(Inner)).unwrap()
    }

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn happy_path_returns_mocks() {
        let r = runner("HappyPath");
        let out = block(r.run(request("LambdaState"))).unwrap();
        assert_eq!(out["Payload"]["body"], json!("Hello from Lambda!"));
        let out = block(r.run(request("SQSState"))).unwrap();
        assert_eq!(
            out["MessageId"],
            json!("3bcb6e8e-8b51-4375-b0bc-1a59812c6e51")
        );
    }

    #[test]
    fn retry_path_counts_attempts_per_state() {
        let r = runner("RetryPath");
        let errors: Vec<String> = (0..3)
            .map(|_| block(r.run(request("LambdaState"))).unwrap_err().error)
            .collect();
        assert_eq!(
            errors,
            [
                "Lambda.ResourceNotReadyException",
                "Lambda.TimeoutException",
                "Lambda.TimeoutException"
            ]
        );
        let e = block(r.run(request("LambdaState")));
        assert_eq!(e.unwrap()["StatusCode"], json!(200));
        // SQSState has its own counter.
        assert!(block(r.run(request("SQSState"))).is_ok());
        assert_eq!(r.invocations().get("LambdaState"), Some(&4));
        assert_eq!(r.invocations().get("SQSState"), Some(&1));
    }

    #[test]
    fn throw_keeps_error_and_cause() {
        let r = runner("RetryPath");
        let e = block(r.run(request("LambdaState"))).unwrap_err();
        assert_eq!(
            e,
            AslError::new(
                "Lambda.ResourceNotReadyException",
                "Lambda resource is not ready."
            )
        );
    }

    #[test]
    fn invocation_past_the_last_key_fails_the_execution() {
        // Docs: "If you do not specify a mocked response, the state machine execution
        // will fail" — no repetition of the last response.
        let r = runner("HappyPath");
        assert!(block(r.run(request("LambdaState"))).is_ok());
        let e = block(r.run(request("LambdaState"))).unwrap_err();
        assert_eq!(e.error, names::RUNTIME);
        for part in [
            "\"HappyPath\"",
            "\"LambdaState\"",
            "\"MockedLambdaSuccess\"",
            "invocation 1",
        ] {
            assert!(e.cause.contains(part), "{part}: {}", e.cause);
        }
    }

    #[test]
    fn hybrid_path_falls_through_to_inner_runner() {
        let r = runner("HybridPath");
        assert_eq!(
            block(r.run(request("SQSState"))).unwrap(),
            json!({"inner": "SQSState"})
        );
        assert!(block(r.run(request("LambdaState"))).is_ok());
        assert_eq!(r.invocations().get("SQSState"), None);
    }

    #[test]
    fn unknown_state_machine_or_test_case_is_an_error() {
        let config = MockConfig::from_json(&docs_example()).unwrap();
        let e = MockRunner::new(config.clone(), "Other", "HappyPath", Arc::new(Inner))
            .err()
            .unwrap();
        assert!(
            e.contains("\"Other\"") && e.contains("LambdaSQSIntegration"),
            "{e}"
        );
        let e = MockRunner::new(config, "LambdaSQSIntegration", "SadPath", Arc::new(Inner))
            .err()
            .unwrap();
        assert!(
            e.contains("\"SadPath\"") && e.contains("HappyPath, HybridPath, RetryPath"),
            "{e}"
        );
    }

    #[test]
    fn test_case_naming_undefined_response_is_an_error() {
        let config = MockConfig::from_json(&json!({
            "StateMachines": {"M": {"TestCases": {"T": {"S": "Missing"}}}},
            "MockedResponses": {"Present": {"0": {"Return": 1}}}
        }))
        .unwrap();
        let e = MockRunner::new(config, "M", "T", Arc::new(Inner))
            .err()
            .unwrap();
        for part in ["test case \"T\"", "state \"S\"", "\"Missing\"", "Present"] {
            assert!(e.contains(part), "{part}: {e}");
        }
    }

    #[test]
    fn unused_undefined_reference_in_other_test_case_does_not_matter() {
        let config = MockConfig::from_json(&json!({
            "StateMachines": {"M": {"TestCases": {"Good": {"S": "R"}, "Bad": {"S": "Missing"}}}},
            "MockedResponses": {"R": {"0": {"Return": 1}}}
        }))
        .unwrap();
        assert!(MockRunner::new(config, "M", "Good", Arc::new(Inner)).is_ok());
    }

    #[test]
    fn same_response_used_by_two_states_counts_separately() {
        let config = MockConfig::from_json(&json!({
            "StateMachines": {"M": {"TestCases": {"T": {"A": "R", "B": "R"}}}},
            "MockedResponses": {"R": {"0": {"Return": "first"}, "1": {"Return": "second"}}}
        }))
        .unwrap();
        let r = MockRunner::new(config, "M", "T", Arc::new(Inner)).unwrap();
        assert_eq!(block(r.run(request("A"))).unwrap(), json!("first"));
        assert_eq!(block(r.run(request("B"))).unwrap(), json!("first"));
        assert_eq!(block(r.run(request("A"))).unwrap(), json!("second"));
    }
}
