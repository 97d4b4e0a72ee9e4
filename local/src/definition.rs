//! A state machine definition, read and checked once before it runs: every field of
//! every state type with its type, defaults and the rules of the Amazon States
//! Language specification (states-language.net) and the Step Functions docs, so the
//! interpreter never meets a malformed definition at run time. Problems are reported
//! all at once, each with the JSON Pointer of the offending field.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Map, Value};

use crate::asl::{choice, intrinsics, path, template};

/// State names are at most 80 characters (docs: limits of state machine definitions).
const MAX_STATE_NAME_CHARS: usize = 80;
/// The largest IntervalSeconds and MaxAttempts of a retrier (docs:
/// concepts-error-handling).
const MAX_RETRY_FIELD: u64 = 99_999_999;
/// The largest MaxDelaySeconds: "less than 31622401" (docs: concepts-error-handling).
const MAX_DELAY_SECONDS: u64 = 31_622_400;
/// Parallel branches and Map processors nest at most this deep here (AWS sets no
/// documented limit; the bound keeps a hostile definition from exhausting the stack).
const MAX_NESTING: usize = 32;

/// A whole definition, or one Parallel branch / Map processor.
#[derive(Debug, Clone)]
pub struct StateMachine {
    pub start_at: String,
    pub states: BTreeMap<String, State>,
    pub comment: Option<String>,
    /// The top level's `TimeoutSeconds` (execution timeout).
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct State {
    pub name: String,
    pub comment: Option<String>,
    pub input_path: PathField,
    pub output_path: PathField,
    pub transition: Transition,
    pub kind: Kind,
}

pub use crate::asl::path::{PathField, ResultPath};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    Next(String),
    End,
    /// Choice, Succeed and Fail: no Next/End of their own.
    None,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Pass {
        result: Option<Value>,
        parameters: Option<Value>,
        result_path: ResultPath,
    },
    Task(Box<Task>),
    Choice {
        choices: Vec<choice::Rule>,
        default: Option<String>,
    },
    Wait(WaitFor),
    Succeed,
    Fail {
        error: Option<Expr>,
        cause: Option<Expr>,
    },
    Parallel(Box<Parallel>),
    Map(Box<MapState>),
}

/// A literal or a path (`ErrorPath`, `SecondsPath`, ...) whose value is read at run time.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Value),
    Path(String),
}

#[derive(Debug, Clone)]
pub struct Task {
    pub resource: String,
    pub parameters: Option<Value>,
    pub result_selector: Option<Value>,
    pub result_path: ResultPath,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    pub timeout_seconds: Option<Expr>,
    pub heartbeat_seconds: Option<Expr>,
}

#[derive(Debug, Clone)]
pub struct Parallel {
    pub branches: Vec<StateMachine>,
    pub parameters: Option<Value>,
    pub result_selector: Option<Value>,
    pub result_path: ResultPath,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

#[derive(Debug, Clone)]
pub struct MapState {
    pub processor: StateMachine,
    pub items_path: PathField,
    /// `ItemSelector`, or the legacy `Parameters` of a Map state.
    pub item_selector: Option<Value>,
    /// 0 means no limit.
    pub max_concurrency: Expr,
    pub result_selector: Option<Value>,
    pub result_path: ResultPath,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

#[derive(Debug, Clone)]
pub enum WaitFor {
    Seconds(u64),
    Timestamp(String),
    SecondsPath(String),
    TimestampPath(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    Full,
    None,
}

#[derive(Debug, Clone)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: u64,
    pub max_attempts: u64,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    pub jitter: Jitter,
}

#[derive(Debug, Clone)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    pub result_path: ResultPath,
}

impl StateMachine {
    /// Reads and checks a definition; on failure, every problem found, each as
    /// `"<JSON pointer>: <problem>"`.
    pub fn parse(definition: &Value) -> Result<StateMachine, Vec<String>> {
        let mut problems = Vec::new();
        let machine = read_machine(definition, "", 0, true, &mut problems);
        match machine {
            Some(machine) if problems.is_empty() => Ok(machine),
            _ => {
                if problems.is_empty() {
                    problems.push("/: not a valid state machine".to_string());
                }
                Err(problems)
            }
        }
    }

    /// Reads a definition from JSON text.
    pub fn from_json(text: &str) -> Result<StateMachine, Vec<String>> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| vec![format!("/: not valid JSON: {e}")])?;
        StateMachine::parse(&value)
    }

    pub fn state(&self, name: &str) -> Option<&State> {
        self.states.get(name)
    }
}

/// JSON Pointer escaping (RFC 6901) of one reference token.
fn token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

struct Fields<'a> {
    object: &'a Map<String, Value>,
    at: String,
    allowed: BTreeSet<&'static str>,
}

impl<'a> Fields<'a> {
    fn new(object: &'a Map<String, Value>, at: &str) -> Fields<'a> {
        Fields {
            object,
            at: at.to_string(),
            allowed: BTreeSet::new(),
        }
    }

    fn here(&self, field: &str) -> String {
        format!("{}/{}", self.at, token(field))
    }

    fn any(&mut self, field: &'static str) -> Option<&'a Value> {
        self.allowed.insert(field);
        self.object.get(field)
    }

    fn string(&mut self, field: &'static str, problems: &mut Vec<String>) -> Option<String> {
        match self.any(field) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                problems.push(format!("{}: must be a string", self.here(field)));
                None
            }
        }
    }

    fn required_string(
        &mut self,
        field: &'static str,
        problems: &mut Vec<String>,
    ) -> Option<String> {
        let value = self.string(field, problems);
        if value.is_none() && !self.object.contains_key(field) {
            problems.push(format!("{}: required", self.here(field)));
        }
        value
    }

    fn unsigned(
        &mut self,
        field: &'static str,
        min: u64,
        problems: &mut Vec<String>,
    ) -> Option<u64> {
        self.bounded(field, min, u64::MAX, problems)
    }

    /// A whole number from `min` to `max`, both included.
    fn bounded(
        &mut self,
        field: &'static str,
        min: u64,
        max: u64,
        problems: &mut Vec<String>,
    ) -> Option<u64> {
        match self.any(field) {
            None => None,
            Some(value) => match value.as_u64().filter(|n| (min..=max).contains(n)) {
                Some(n) => Some(n),
                None => {
                    problems.push(if max == u64::MAX {
                        format!(
                            "{}: must be a whole number of at least {min}",
                            self.here(field)
                        )
                    } else {
                        format!(
                            "{}: must be a whole number from {min} to {max}",
                            self.here(field)
                        )
                    });
                    None
                }
            },
        }
    }

    fn bool(&mut self, field: &'static str, problems: &mut Vec<String>) -> Option<bool> {
        match self.any(field) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                problems.push(format!("{}: must be true or false", self.here(field)));
                None
            }
        }
    }

    /// A JSONPath field, checked.
    fn path(&mut self, field: &'static str, problems: &mut Vec<String>) -> Option<String> {
        let text = self.string(field, problems)?;
        // ErrorPath and CausePath also take an intrinsic function (docs: state-fail).
        let checked =
            if matches!(field, "ErrorPath" | "CausePath") && intrinsics::is_intrinsic_call(&text) {
                intrinsics::parse(&text).map(|_| ())
            } else {
                path::Path::parse(&text).map(|_| ())
            };
        if let Err(problem) = checked {
            problems.push(format!("{}: {problem}", self.here(field)));
        }
        Some(text)
    }

    fn path_field(&mut self, field: &'static str, problems: &mut Vec<String>) -> PathField {
        let value = self.any(field);
        PathField::from_definition(field, value).unwrap_or_else(|problem| {
            problems.push(format!("{}: {problem}", self.here(field)));
            PathField::Absent
        })
    }

    fn result_path(&mut self, problems: &mut Vec<String>) -> ResultPath {
        let value = self.any("ResultPath");
        ResultPath::from_definition(value).unwrap_or_else(|problem| {
            problems.push(format!("{}: {problem}", self.here("ResultPath")));
            ResultPath::Absent
        })
    }

    /// A payload template (Parameters, ResultSelector, ItemSelector): an object.
    fn template(&mut self, field: &'static str, problems: &mut Vec<String>) -> Option<Value> {
        let value = self.any(field)?;
        let at = self.here(field);
        check_template(&at, value, problems);
        Some(value.clone())
    }

    /// A literal field or its `...Path` twin (exactly one of them, if any).
    fn expr(
        &mut self,
        literal: &'static str,
        path_field: &'static str,
        check_literal: impl Fn(&Value) -> Option<String>,
        problems: &mut Vec<String>,
    ) -> Option<Expr> {
        let lit = self.any(literal);
        let path = self.any(path_field);
        match (lit, path) {
            (Some(_), Some(_)) => {
                problems.push(format!(
                    "{}: {literal} and {path_field} are mutually exclusive",
                    self.at
                ));
                None
            }
            (Some(value), None) => match check_literal(value) {
                Some(problem) => {
                    problems.push(format!("{}: {problem}", self.here(literal)));
                    None
                }
                None => Some(Expr::Literal(value.clone())),
            },
            (None, Some(_)) => self.path(path_field, problems).map(Expr::Path),
            (None, None) => None,
        }
    }

    /// Fields present that the state type does not define.
    fn finish(self, what: &str, problems: &mut Vec<String>) {
        for key in self.object.keys() {
            if !self.allowed.contains(key.as_str()) {
                problems.push(format!(
                    "{}: field {key:?} is not supported in {what}",
                    self.at
                ));
            }
        }
    }
}

fn check_template(at: &str, value: &Value, problems: &mut Vec<String>) {
    if !value.is_object() {
        problems.push(format!("{at}: must be an object"));
        return;
    }
    let check_intrinsic = |expr: &str| intrinsics::parse(expr).map(|_| ());
    if let Err(problem) = template::validate(value, &check_intrinsic) {
        problems.push(format!("{at}: {problem}"));
    }
}

fn read_machine(
    value: &Value,
    at: &str,
    depth: usize,
    top_level: bool,
    problems: &mut Vec<String>,
) -> Option<StateMachine> {
    if depth > MAX_NESTING {
        problems.push(format!(
            "{at}: branches and processors nest deeper than {MAX_NESTING} levels"
        ));
        return None;
    }
    let Some(object) = value.as_object() else {
        problems.push(format!(
            "{}: must be an object",
            if at.is_empty() { "/" } else { at }
        ));
        return None;
    };
    let mut fields = Fields::new(object, at);
    let start_at = fields.required_string("StartAt", problems);
    let comment = fields.string("Comment", problems);
    let mut timeout_seconds = None;
    if top_level {
        timeout_seconds = fields.unsigned("TimeoutSeconds", 1, problems);
        if let Some(version) = fields.string("Version", problems) {
            if version != "1.0" {
                problems.push(format!("{at}/Version: only \"1.0\" is defined"));
            }
        }
        if let Some(language) = fields.string("QueryLanguage", problems) {
            if language != "JSONPath" {
                problems.push(format!(
                    "{at}/QueryLanguage: only JSONPath is supported (not {language:?})"
                ));
            }
        }
    } else if let Some(config) = fields.any("ProcessorConfig") {
        // Map's processor: INLINE runs here; DISTRIBUTED reads items from S3 and
        // runs child executions, which this runner does not do.
        match config.get("Mode").and_then(Value::as_str) {
            None | Some("INLINE") => {}
            Some(mode) => problems.push(format!(
                "{at}/ProcessorConfig/Mode: {mode:?} is not supported (only INLINE)"
            )),
        }
    }
    let states_at = format!("{at}/States");
    let mut states = BTreeMap::new();
    match fields.any("States") {
        Some(Value::Object(map)) if !map.is_empty() => {
            for (name, state) in map {
                let state_at = format!("{states_at}/{}", token(name));
                if name.chars().count() > MAX_STATE_NAME_CHARS {
                    problems.push(format!(
                        "{state_at}: state names are at most {MAX_STATE_NAME_CHARS} characters"
                    ));
                }
                if let Some(state) = read_state(name, state, &state_at, depth, problems) {
                    states.insert(name.clone(), state);
                }
            }
        }
        Some(_) => problems.push(format!("{states_at}: must be a non-empty object")),
        None => problems.push(format!("{states_at}: required")),
    }
    fields.finish(
        if top_level {
            "a state machine"
        } else {
            "a branch"
        },
        problems,
    );
    let start_at = start_at?;
    let machine = StateMachine {
        start_at,
        states,
        comment,
        timeout_seconds,
    };
    check_transitions(&machine, value, at, problems);
    Some(machine)
}

/// Every target exists in the same scope, and every state is reachable from StartAt.
fn check_transitions(machine: &StateMachine, raw: &Value, at: &str, problems: &mut Vec<String>) {
    let names: BTreeSet<&str> = raw
        .get("States")
        .and_then(Value::as_object)
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    if !names.contains(machine.start_at.as_str()) {
        problems.push(format!(
            "{at}/StartAt: {:?} is not a state of this scope",
            machine.start_at
        ));
        return;
    }
    let mut reached: BTreeSet<&str> = BTreeSet::new();
    let mut queue: VecDeque<&str> = VecDeque::from([machine.start_at.as_str()]);
    while let Some(name) = queue.pop_front() {
        if !reached.insert(name) {
            continue;
        }
        let Some(state) = machine.states.get(name) else {
            continue;
        };
        for (field, target) in targets(state) {
            if names.contains(target) {
                queue.push_back(target);
            } else {
                problems.push(format!(
                    "{at}/States/{}/{field}: {target:?} is not a state of this scope",
                    token(name)
                ));
            }
        }
    }
    for name in &names {
        if !reached.contains(name) {
            problems.push(format!(
                "{at}/States/{}: not reachable from StartAt {:?}",
                token(name),
                machine.start_at
            ));
        }
    }
}

/// Where a state may go next, with the field that says so.
pub fn targets(state: &State) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    if let Transition::Next(next) = &state.transition {
        out.push(("Next".to_string(), next.as_str()));
    }
    let catchers = match &state.kind {
        Kind::Task(task) => task.catch.as_slice(),
        Kind::Parallel(parallel) => parallel.catch.as_slice(),
        Kind::Map(map) => map.catch.as_slice(),
        Kind::Choice { choices, default } => {
            for (i, rule) in choices.iter().enumerate() {
                if let Some(next) = rule.next() {
                    out.push((format!("Choices/{i}/Next"), next));
                }
            }
            if let Some(default) = default {
                out.push(("Default".to_string(), default.as_str()));
            }
            &[]
        }
        _ => &[],
    };
    for (i, catcher) in catchers.iter().enumerate() {
        // A catcher without Next is reported as such when it is read.
        if !catcher.next.is_empty() {
            out.push((format!("Catch/{i}/Next"), catcher.next.as_str()));
        }
    }
    out
}

fn read_state(
    name: &str,
    value: &Value,
    at: &str,
    depth: usize,
    problems: &mut Vec<String>,
) -> Option<State> {
    let Some(object) = value.as_object() else {
        problems.push(format!("{at}: must be an object"));
        return None;
    };
    let mut f = Fields::new(object, at);
    let kind_name = f.required_string("Type", problems)?;
    let comment = f.string("Comment", problems);
    let flows = !matches!(kind_name.as_str(), "Choice" | "Succeed" | "Fail");
    let filters = kind_name != "Fail";
    let (input_path, output_path) = if filters {
        (
            f.path_field("InputPath", problems),
            f.path_field("OutputPath", problems),
        )
    } else {
        (PathField::Absent, PathField::Absent)
    };
    let transition = if flows {
        let next = f.string("Next", problems);
        let end = f.bool("End", problems);
        match (next, end) {
            (Some(next), None | Some(false)) => Transition::Next(next),
            (None, Some(true)) => Transition::End,
            (Some(_), Some(true)) => {
                problems.push(format!("{at}: Next and End are mutually exclusive"));
                Transition::End
            }
            (None, _) => {
                problems.push(format!("{at}: needs Next, or End: true"));
                Transition::End
            }
        }
    } else {
        Transition::None
    };
    let kind = match kind_name.as_str() {
        "Pass" => Kind::Pass {
            result: f.any("Result").cloned(),
            parameters: f.template("Parameters", problems),
            result_path: f.result_path(problems),
        },
        "Task" => {
            let resource = f.required_string("Resource", problems).unwrap_or_default();
            let parameters = f.template("Parameters", problems);
            let result_selector = f.template("ResultSelector", problems);
            let result_path = f.result_path(problems);
            let retry = read_retry(&mut f, problems);
            let catch = read_catch(&mut f, problems);
            let positive = |v: &Value| {
                v.as_u64().filter(|n| *n >= 1).map_or(
                    Some("must be a whole number of at least 1".to_string()),
                    |_| None,
                )
            };
            let timeout_seconds =
                f.expr("TimeoutSeconds", "TimeoutSecondsPath", positive, problems);
            let heartbeat_seconds = f.expr(
                "HeartbeatSeconds",
                "HeartbeatSecondsPath",
                positive,
                problems,
            );
            if let (Some(Expr::Literal(t)), Some(Expr::Literal(h))) =
                (&timeout_seconds, &heartbeat_seconds)
            {
                if h.as_u64() >= t.as_u64() {
                    problems.push(format!(
                        "{at}/HeartbeatSeconds: must be smaller than TimeoutSeconds"
                    ));
                }
            }
            // Accepted and ignored: they only matter to AWS's own IAM.
            f.any("Credentials");
            Kind::Task(Box::new(Task {
                resource,
                parameters,
                result_selector,
                result_path,
                retry,
                catch,
                timeout_seconds,
                heartbeat_seconds,
            }))
        }
        "Choice" => {
            let mut choices = Vec::new();
            match f.any("Choices") {
                Some(Value::Array(rules)) if !rules.is_empty() => {
                    for (i, rule) in rules.iter().enumerate() {
                        match choice::parse_rule(rule, true) {
                            Ok(rule) => choices.push(rule),
                            Err(problem) => problems.push(format!("{at}/Choices/{i}: {problem}")),
                        }
                    }
                }
                _ => problems.push(format!("{at}/Choices: must be a non-empty array")),
            }
            Kind::Choice {
                choices,
                default: f.string("Default", problems),
            }
        }
        "Wait" => {
            let seconds = f.unsigned("Seconds", 0, problems);
            let timestamp = f.string("Timestamp", problems);
            let seconds_path = f.path("SecondsPath", problems);
            let timestamp_path = f.path("TimestampPath", problems);
            let given = [
                seconds.map(WaitFor::Seconds),
                timestamp.map(WaitFor::Timestamp),
                seconds_path.map(WaitFor::SecondsPath),
                timestamp_path.map(WaitFor::TimestampPath),
            ];
            let mut given = given.into_iter().flatten();
            match (given.next(), given.next()) {
                (Some(wait), None) => {
                    if let WaitFor::Timestamp(t) = &wait {
                        if choice::parse_timestamp(t).is_none() {
                            problems.push(format!(
                                "{at}/Timestamp: {t:?} is not an RFC 3339 timestamp"
                            ));
                        }
                    }
                    Kind::Wait(wait)
                }
                _ => {
                    problems.push(format!(
                        "{at}: exactly one of Seconds, Timestamp, SecondsPath, TimestampPath"
                    ));
                    Kind::Wait(WaitFor::Seconds(0))
                }
            }
        }
        "Succeed" => Kind::Succeed,
        "Fail" => {
            let string = |v: &Value| (!v.is_string()).then(|| "must be a string".to_string());
            Kind::Fail {
                error: f.expr("Error", "ErrorPath", string, problems),
                cause: f.expr("Cause", "CausePath", string, problems),
            }
        }
        "Parallel" => {
            let mut branches = Vec::new();
            match f.any("Branches") {
                Some(Value::Array(list)) if !list.is_empty() => {
                    for (i, branch) in list.iter().enumerate() {
                        if let Some(machine) = read_machine(
                            branch,
                            &format!("{at}/Branches/{i}"),
                            depth + 1,
                            false,
                            problems,
                        ) {
                            branches.push(machine);
                        }
                    }
                }
                _ => problems.push(format!("{at}/Branches: must be a non-empty array")),
            }
            Kind::Parallel(Box::new(Parallel {
                branches,
                parameters: f.template("Parameters", problems),
                result_selector: f.template("ResultSelector", problems),
                result_path: f.result_path(problems),
                retry: read_retry(&mut f, problems),
                catch: read_catch(&mut f, problems),
            }))
        }
        "Map" => {
            let processor_field = match (f.any("ItemProcessor"), f.any("Iterator")) {
                (Some(_), Some(_)) => {
                    problems.push(format!(
                        "{at}: ItemProcessor and Iterator are mutually exclusive"
                    ));
                    None
                }
                (Some(p), None) => Some(("ItemProcessor", p)),
                (None, Some(p)) => Some(("Iterator", p)),
                (None, None) => {
                    problems.push(format!("{at}/ItemProcessor: required"));
                    None
                }
            };
            let processor = processor_field.and_then(|(field, p)| {
                read_machine(p, &format!("{at}/{field}"), depth + 1, false, problems)
            });
            let item_selector = match (
                f.template("ItemSelector", problems),
                f.template("Parameters", problems),
            ) {
                (Some(_), Some(_)) => {
                    problems.push(format!(
                        "{at}: ItemSelector and Parameters are mutually exclusive"
                    ));
                    None
                }
                (a, b) => a.or(b),
            };
            for unsupported in ["ItemReader", "ResultWriter", "ItemBatcher", "Label"] {
                if f.any(unsupported).is_some() {
                    problems.push(format!(
                        "{at}/{unsupported}: Distributed Map is not supported by this runner"
                    ));
                }
            }
            // The failure thresholds are Distributed Map fields (docs:
            // state-map-distributed, "Distributed Map state fields"); the inline
            // Map's field list has none, and an inline Map fails as soon as one
            // iteration fails (docs: state-map-inline). Accepting them here would
            // promise a tolerance the run never grants.
            for distributed_only in [
                "ToleratedFailureCount",
                "ToleratedFailureCountPath",
                "ToleratedFailurePercentage",
                "ToleratedFailurePercentagePath",
            ] {
                if f.any(distributed_only).is_some() {
                    problems.push(format!(
                        "{at}/{distributed_only}: only a Distributed Map tolerates failed \
                         items; an inline Map fails on its first failed iteration"
                    ));
                }
            }
            let whole = |v: &Value| {
                v.as_u64()
                    .map_or(Some("must be a whole number".to_string()), |_| None)
            };
            let max_concurrency = f
                .expr("MaxConcurrency", "MaxConcurrencyPath", whole, problems)
                .unwrap_or(Expr::Literal(Value::from(0)));
            let items_path = f.path_field("ItemsPath", problems);
            let result_selector = f.template("ResultSelector", problems);
            let result_path = f.result_path(problems);
            let retry = read_retry(&mut f, problems);
            let catch = read_catch(&mut f, problems);
            match processor {
                Some(processor) => Kind::Map(Box::new(MapState {
                    processor,
                    items_path,
                    item_selector,
                    max_concurrency,
                    result_selector,
                    result_path,
                    retry,
                    catch,
                })),
                None => return None,
            }
        }
        other => {
            problems.push(format!(
                "{at}/Type: {other:?} is not a state type (Task, Pass, Choice, Wait, \
                 Succeed, Fail, Parallel, Map)"
            ));
            return None;
        }
    };
    f.finish(&format!("a {kind_name} state"), problems);
    Some(State {
        name: name.to_string(),
        comment,
        input_path,
        output_path,
        transition,
        kind,
    })
}

fn error_equals(value: Option<&Value>, at: &str, problems: &mut Vec<String>) -> Vec<String> {
    match value {
        Some(Value::Array(names)) if !names.is_empty() => {
            let names: Vec<String> = names
                .iter()
                .filter_map(|n| match n.as_str() {
                    Some(s) => Some(s.to_string()),
                    None => {
                        problems.push(format!("{at}/ErrorEquals: error names are strings"));
                        None
                    }
                })
                .collect();
            if names.len() > 1 && names.iter().any(|n| n == crate::asl::names::ALL) {
                problems.push(format!("{at}/ErrorEquals: States.ALL must appear alone"));
            }
            names
        }
        _ => {
            problems.push(format!("{at}/ErrorEquals: must be a non-empty array"));
            Vec::new()
        }
    }
}

/// `States.ALL` may only be in the last retrier or catcher.
fn check_all_is_last(lists: &[Vec<String>], at: &str, field: &str, problems: &mut Vec<String>) {
    let count = lists.len();
    for (i, names) in lists.iter().enumerate() {
        if i + 1 < count && names.iter().any(|n| n == crate::asl::names::ALL) {
            problems.push(format!(
                "{at}/{field}/{i}: States.ALL must be in the last {}",
                if field == "Retry" {
                    "retrier"
                } else {
                    "catcher"
                }
            ));
        }
    }
}

fn read_retry(f: &mut Fields<'_>, problems: &mut Vec<String>) -> Vec<Retrier> {
    let at = f.here("Retry");
    let Some(value) = f.any("Retry") else {
        return Vec::new();
    };
    let Some(list) = value.as_array() else {
        problems.push(format!("{at}: must be an array"));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let item_at = format!("{at}/{i}");
        let Some(object) = item.as_object() else {
            problems.push(format!("{item_at}: must be an object"));
            continue;
        };
        let mut r = Fields::new(object, &item_at);
        let names = error_equals(r.any("ErrorEquals"), &item_at, problems);
        // Bounds and defaults from the docs (concepts-error-handling, "Retrier
        // fields"): IntervalSeconds 1 by default, at most 99999999; MaxAttempts 3
        // by default, at most 99999999; MaxDelaySeconds "greater than 0 and less
        // than 31622401".
        let interval_seconds = r
            .bounded("IntervalSeconds", 1, MAX_RETRY_FIELD, problems)
            .unwrap_or(1);
        let max_attempts = r
            .bounded("MaxAttempts", 0, MAX_RETRY_FIELD, problems)
            .unwrap_or(3);
        let backoff_rate = match r.any("BackoffRate") {
            None => 2.0,
            Some(v) => match v.as_f64().filter(|b| *b >= 1.0) {
                Some(b) => b,
                None => {
                    problems.push(format!(
                        "{item_at}/BackoffRate: must be a number of at least 1.0"
                    ));
                    2.0
                }
            },
        };
        let max_delay_seconds = r.bounded("MaxDelaySeconds", 1, MAX_DELAY_SECONDS, problems);
        let jitter = match r.string("JitterStrategy", problems).as_deref() {
            None | Some("NONE") => Jitter::None,
            Some("FULL") => Jitter::Full,
            Some(other) => {
                problems.push(format!(
                    "{item_at}/JitterStrategy: {other:?} is not FULL or NONE"
                ));
                Jitter::None
            }
        };
        r.any("Comment");
        r.finish("a retrier", problems);
        out.push(Retrier {
            error_equals: names,
            interval_seconds,
            max_attempts,
            backoff_rate,
            max_delay_seconds,
            jitter,
        });
    }
    let lists: Vec<Vec<String>> = out.iter().map(|r| r.error_equals.clone()).collect();
    check_all_is_last(&lists, &f.at, "Retry", problems);
    out
}

fn read_catch(f: &mut Fields<'_>, problems: &mut Vec<String>) -> Vec<Catcher> {
    let at = f.here("Catch");
    let Some(value) = f.any("Catch") else {
        return Vec::new();
    };
    let Some(list) = value.as_array() else {
        problems.push(format!("{at}: must be an array"));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let item_at = format!("{at}/{i}");
        let Some(object) = item.as_object() else {
            problems.push(format!("{item_at}: must be an object"));
            continue;
        };
        let mut c = Fields::new(object, &item_at);
        let names = error_equals(c.any("ErrorEquals"), &item_at, problems);
        let next = c.required_string("Next", problems).unwrap_or_default();
        let result_path = c.result_path(problems);
        c.any("Comment");
        c.finish("a catcher", problems);
        out.push(Catcher {
            error_equals: names,
            next,
            result_path,
        });
    }
    let lists: Vec<Vec<String>> = out.iter().map(|c| c.error_equals.clone()).collect();
    check_all_is_last(&lists, &f.at, "Catch", problems);
    out
}
