//! EventBridge, as far as `sfn-local run` needs it: the "Step Functions Execution Status
//! Change" event an execution sends to the default bus when it ends, the event-pattern
//! language that rules select events with, and the template's rules that invoke a
//! function (SAM `Events` of `Type: EventBridgeRule`, or its older name
//! `CloudWatchEvent`). On AWS this is how a failure that no Catch sees
//! (`States.Runtime`, `States.DataLimitExceeded`, a timeout, a failure inside the
//! failure path) is still told; locally the runner builds the event after the
//! execution, runs every rule's pattern over it, and invokes the matching functions.
//!
//! # The event
//!
//! The shape of the docs' examples (step-functions `cw-events`) and of the project's
//! fixtures (`events/format-failure-eventbridge*.json`): `version` "0", a random `id`,
//! `detail-type`, `source` `aws.states`, `account`, `time` (RFC 3339 to the second),
//! `region`, `resources` [the execution ARN], and a `detail` with what
//! DescribeExecution tells: `executionArn`, `stateMachineArn`, `name`, `status`,
//! `startDate` and `stopDate` (epoch milliseconds, as numbers), `input` and `output`
//! (JSON text, or null), `inputDetails` / `outputDetails` (`{"included": bool}`, or
//! null where there is no output), `error` and `cause` (null when absent, as the
//! fixtures show), and the redrive fields DescribeExecution gained in 2023
//! (`redriveCount` 0, `redriveDate` null, `redriveStatus`, `redriveStatusReason`,
//! and `stateMachineVersionArn` / `stateMachineAliasArn` null: a local execution is
//! never redriven and runs no version or alias). The docs: "If the combined escaped
//! input and escaped output sent to EventBridge exceeds 248KB, then the input will be
//! excluded. Similarly, if the escaped output exceeds 248KB, then the output will be
//! excluded", and `inputDetails` / `outputDetails` tell which.
//!
//! # Patterns
//!
//! What the docs say (eb-event-patterns, eb-event-patterns-arrays,
//! eb-event-patterns-null-values, eb-event-patterns-content-based-filtering,
//! eb-create-pattern-operators), and where they are silent, what `aws/event-ruler` (the
//! matcher EventBridge runs) does:
//!
//! - A pattern is an object; its leaves are arrays of match values, any of which may
//!   match; every field named must match (AND), `$or` (an array of at least two
//!   patterns) takes any one of its patterns. Fields the pattern does not name are
//!   ignored.
//! - Exact values: strings character by character; `true`, `false`, `null`; numbers
//!   by their representation ("300, 300.0, and 3.0e2 are not considered equal": here
//!   an integer never equals a decimal). `null` and `""` differ.
//! - An array in the event matches if any element matches; nested arrays are walked.
//!   Fields under one array of objects must match in the same element (event-ruler's
//!   "array consistency").
//! - A field missing from the event fails every match except `{"exists": false}`.
//!   Exists looks at leaves only: a field whose value is an object (or an empty array)
//!   does not exist for it; `null` is a value, so it exists.
//! - `prefix` and `suffix` (a string, or `{"equals-ignore-case": string}`),
//!   `equals-ignore-case` and `wildcard` (`*` for any run of characters, `\*` and `\\`
//!   for the characters themselves, no `**`) match strings only.
//! - `numeric`: `["=", n]`, or a lower bound (`>`/`>=`) and/or an upper bound
//!   (`<`/`<=`), lower first; numbers only.
//! - `anything-but`: a string or a number, a list of strings or of numbers, or
//!   `{"prefix"|"suffix"|"equals-ignore-case"|"wildcard": string or list}`. It matches a
//!   present value that is not excluded; event-ruler's compiled matcher only excludes
//!   values of the listed type, so `null`, booleans and (for strings) numbers pass.
//! - Anything else is refused as EventBridge refuses it on PutRule: an empty array or
//!   object, a match expression with more than one key, an unknown operator. `cidr`
//!   is known to EventBridge but not supported here, and says so.
//!
//! # Rules from the template
//!
//! Every `AWS::Serverless::Function`'s `Events` entry of `Type: EventBridgeRule` or
//! `CloudWatchEvent` is a rule invoking that function, with its `Pattern` evaluated as
//! CloudFormation would (`!Ref` of the state machine is its local ARN), `Input` or
//! `InputPath` applied to what the function receives. A rule on another bus (Step
//! Functions sends to the default one), a disabled rule, an `InputTransformer` (not
//! supported here) or a function whose `Condition` is false is skipped with a note.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::asl::path::Path as JsonPath;
use crate::engine::{iso, ExecutionSpec, Outcome, Status};
use crate::project::template::{Stack, StackSettings, Template};
use crate::project::Project;
use crate::util::json_type;

/// The event's `source` and `detail-type` (docs: events-ref-states).
pub const SOURCE: &str = "aws.states";
pub const DETAIL_TYPE: &str = "Step Functions Execution Status Change";
/// Escaped input + output above this are left out of the event (docs: cw-events, 248KB).
pub const MAX_PAYLOAD_BYTES: usize = 248 * 1024;
/// A pattern's `$or`s multiply out into alternatives; past this many the pattern is
/// refused rather than matched slowly (EventBridge limits pattern complexity too).
const MAX_ALTERNATIVES: usize = 1024;

/// What a status change event says, field by field.
#[derive(Debug, Clone, Copy)]
pub struct StatusChange<'a> {
    pub execution_arn: &'a str,
    pub state_machine_arn: &'a str,
    pub name: &'a str,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: &'a str,
    pub start_ms: u64,
    /// None while running.
    pub stop_ms: Option<u64>,
    /// The execution input; None when it is left out.
    pub input: Option<&'a Value>,
    /// The output of a succeeded execution.
    pub output: Option<&'a Value>,
    pub error: Option<&'a str>,
    pub cause: Option<&'a str>,
    pub region: &'a str,
    pub account: &'a str,
}

/// The "Step Functions Execution Status Change" event as EventBridge delivers it to a
/// target (see the module docs for the fields and their sources).
pub fn status_change_event(change: &StatusChange<'_>) -> Value {
    let input_text = change.input.map(Value::to_string);
    let output_text = change.output.map(Value::to_string);
    // The output is dropped first when too large, then the input if both do not fit.
    let output_size = output_text.as_deref().map_or(0, escaped_len);
    let output_included = output_size <= MAX_PAYLOAD_BYTES;
    let kept_output_size = if output_included { output_size } else { 0 };
    let input_included = input_text
        .as_deref()
        .is_some_and(|text| escaped_len(text) + kept_output_size <= MAX_PAYLOAD_BYTES);
    let (output, output_details) = match output_text {
        Some(text) if output_included => (json!(text), json!({"included": true})),
        Some(_) => (Value::Null, json!({"included": false})),
        None => (Value::Null, Value::Null),
    };
    let input = match input_text {
        Some(text) if input_included => json!(text),
        _ => Value::Null,
    };
    // RedriveExecution accepts FAILED, TIMED_OUT and ABORTED executions; the reason is
    // given for the others, in DescribeExecution's words.
    let (redrive_status, redrive_reason) = match change.status {
        "FAILED" | "TIMED_OUT" | "ABORTED" => ("REDRIVABLE", Value::Null),
        other => (
            "NOT_REDRIVABLE",
            json!(format!("Execution is {other} and cannot be redriven")),
        ),
    };
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": change.account,
        "time": event_time(change.stop_ms.unwrap_or(change.start_ms)),
        "region": change.region,
        "resources": [change.execution_arn],
        "detail": {
            "executionArn": change.execution_arn,
            "stateMachineArn": change.state_machine_arn,
            "name": change.name,
            "status": change.status,
            "startDate": change.start_ms,
            "stopDate": change.stop_ms,
            "input": input,
            "inputDetails": {"included": input_included},
            "output": output,
            "outputDetails": output_details,
            "error": change.error,
            "cause": change.cause,
            "stateMachineVersionArn": null,
            "stateMachineAliasArn": null,
            "redriveCount": 0,
            "redriveDate": null,
            "redriveStatus": redrive_status,
            "redriveStatusReason": redrive_reason,
        },
    })
}

/// The status change event of a finished local execution: the status, error, cause
/// and output from the outcome, the dates from its history's first and last events.
pub fn outcome_event(spec: &ExecutionSpec, outcome: &Outcome) -> Value {
    let (status, output, error, cause) = match &outcome.status {
        Status::Succeeded { output } => ("SUCCEEDED", Some(output), "", ""),
        Status::Failed { error, cause } => ("FAILED", None, error.as_str(), cause.as_str()),
        Status::TimedOut { error, cause } => ("TIMED_OUT", None, error.as_str(), cause.as_str()),
    };
    let stamp = |event: Option<&Value>| {
        event
            .and_then(|e| e.get("timestamp"))
            .and_then(Value::as_str)
            .and_then(epoch_ms)
    };
    let now = crate::util::now_millis();
    let stop_ms = stamp(outcome.history.last()).unwrap_or(now);
    let start_ms = stamp(outcome.history.first()).unwrap_or(stop_ms);
    let execution_arn = spec.execution_arn();
    let state_machine_arn = spec.state_machine_arn();
    status_change_event(&StatusChange {
        execution_arn: &execution_arn,
        state_machine_arn: &state_machine_arn,
        name: &spec.name,
        status,
        start_ms,
        stop_ms: Some(stop_ms),
        input: Some(&spec.input),
        output,
        error: non_empty(error),
        cause: non_empty(cause),
        region: &spec.region,
        account: &spec.account,
    })
}

/// A Fail state without Error or Cause leaves them empty here; Step Functions reports
/// them as absent (ExecutionFailedEventDetails: both optional), the event as null.
fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// The length of `text` once escaped as a JSON string (without the quotes).
fn escaped_len(text: &str) -> usize {
    serde_json::to_string(text)
        .map(|s| s.len().saturating_sub(2))
        .unwrap_or(text.len())
}

/// `2026-11-27T14:00:00Z`: EventBridge's `time`, to the second.
fn event_time(ms: u64) -> String {
    let stamp = iso(UNIX_EPOCH + Duration::from_millis(ms));
    format!("{}Z", stamp.get(..19).unwrap_or(&stamp))
}

/// `2026-11-27T14:00:00.123Z` (the history's timestamps) → epoch milliseconds.
fn epoch_ms(stamp: &str) -> Option<u64> {
    let number = |range: std::ops::Range<usize>| stamp.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let millis = match stamp.get(19..20) {
        Some(".") => number(20..23)?,
        _ => 0,
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms = ((days * 86_400 + hour * 3600 + minute * 60 + second) * 1000) + millis;
    u64::try_from(ms).ok()
}

// ---------------------------------------------------------------------------------
// Patterns
// ---------------------------------------------------------------------------------

/// Whether `event` matches `pattern`. Err for a pattern EventBridge would refuse (or
/// one using what is not supported here), naming what is wrong.
pub fn matches(pattern: &Value, event: &Value) -> Result<bool, String> {
    let alternatives = compile(pattern)?;
    if !event.is_object() {
        return Err(format!(
            "an event must be a JSON object, got {}",
            json_type(event)
        ));
    }
    let leaves = flatten(event);
    Ok(alternatives
        .iter()
        .any(|fields| alternative_matches(fields, &leaves)))
}

/// One leaf of a pattern: its path from the root and the values any of which matches.
#[derive(Debug, Clone)]
struct Field {
    path: Vec<String>,
    conditions: Vec<Condition>,
}

#[derive(Debug, Clone)]
enum Condition {
    /// A string, number, boolean or null, compared as JSON values.
    Exact(Value),
    Prefix {
        text: String,
        ignore_case: bool,
    },
    Suffix {
        text: String,
        ignore_case: bool,
    },
    EqualsIgnoreCase(String),
    Wildcard(Vec<Glob>),
    AnythingBut(Exclusion),
    Numeric(Range),
    Exists(bool),
}

#[derive(Debug, Clone)]
enum Exclusion {
    /// All strings or all numbers.
    Values(Vec<Value>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    IgnoreCase(Vec<String>),
    Wildcards(Vec<Vec<Glob>>),
}

/// A wildcard pattern, parsed.
#[derive(Debug, Clone, PartialEq)]
enum Glob {
    Char(char),
    Any,
}

#[derive(Debug, Clone, Copy)]
struct Bound {
    value: f64,
    inclusive: bool,
}

#[derive(Debug, Clone, Copy)]
enum Range {
    Equals(f64),
    Between {
        lower: Option<Bound>,
        upper: Option<Bound>,
    },
}

/// The pattern as alternatives (its `$or`s multiplied out): the event matches if
/// every field of one alternative does.
fn compile(pattern: &Value) -> Result<Vec<Vec<Field>>, String> {
    match pattern {
        Value::Object(map) => compile_object(map, &[]),
        other => Err(format!(
            "a pattern must be a JSON object, got {}",
            json_type(other)
        )),
    }
}

fn compile_object(map: &Map<String, Value>, prefix: &[String]) -> Result<Vec<Vec<Field>>, String> {
    let at = |key: &str| {
        let mut path = prefix.to_vec();
        path.push(key.to_string());
        path
    };
    if map.is_empty() {
        return Err(format!(
            "{}: empty objects are not allowed",
            display_path(prefix)
        ));
    }
    let mut alternatives: Vec<Vec<Field>> = vec![Vec::new()];
    for (key, value) in map {
        let part = if key == "$or" {
            let items = value
                .as_array()
                .filter(|items| items.len() >= 2 && items.iter().all(Value::is_object))
                .ok_or_else(|| {
                    format!(
                        "{}: $or must be an array of at least two pattern objects",
                        display_path(&at(key))
                    )
                })?;
            let mut any = Vec::new();
            for item in items {
                if let Value::Object(inner) = item {
                    any.extend(compile_object(inner, prefix)?);
                }
            }
            any
        } else {
            match value {
                Value::Object(inner) => compile_object(inner, &at(key))?,
                Value::Array(items) => vec![vec![Field {
                    path: at(key),
                    conditions: compile_values(items)
                        .map_err(|e| format!("{}: {e}", display_path(&at(key))))?,
                }]],
                other => {
                    return Err(format!(
                        "{}: must be an object or an array of match values, got {}",
                        display_path(&at(key)),
                        json_type(other)
                    ))
                }
            }
        };
        let mut product = Vec::with_capacity(alternatives.len() * part.len());
        for left in &alternatives {
            for right in &part {
                let mut both = left.clone();
                both.extend(right.iter().cloned());
                product.push(both);
            }
        }
        if product.len() > MAX_ALTERNATIVES {
            return Err(format!(
                "the pattern has more than {MAX_ALTERNATIVES} combinations of $or branches"
            ));
        }
        alternatives = product;
    }
    for fields in &alternatives {
        for (i, field) in fields.iter().enumerate() {
            if fields[..i].iter().any(|f| f.path == field.path) {
                // event-ruler's own refusal ("Path ... cannot be allowed multiple times").
                return Err(format!(
                    "{}: the field is matched twice in one branch of the pattern",
                    display_path(&field.path)
                ));
            }
        }
    }
    Ok(alternatives)
}

fn display_path(path: &[String]) -> String {
    if path.is_empty() {
        "the pattern".to_string()
    } else {
        path.join(".")
    }
}

fn compile_values(items: &[Value]) -> Result<Vec<Condition>, String> {
    if items.is_empty() {
        return Err("empty arrays are not allowed".to_string());
    }
    items
        .iter()
        .map(|item| match item {
            Value::Object(expression) => compile_operator(expression),
            Value::Array(_) => Err(
                "a match value must be a string, number, true, false, null or a match expression, got an array"
                    .to_string(),
            ),
            scalar => Ok(Condition::Exact(scalar.clone())),
        })
        .collect()
}

const OPERATORS: &str =
    "prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, exists";

fn compile_operator(expression: &Map<String, Value>) -> Result<Condition, String> {
    let mut entries = expression.iter();
    let (Some((name, argument)), None) = (entries.next(), entries.next()) else {
        return Err(format!(
            "a match expression has exactly one operator, got {{{}}}",
            expression.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    };
    let string = |what: &str| {
        argument
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{what} takes a string, got {}", json_type(argument)))
    };
    match name.as_str() {
        "prefix" | "suffix" => {
            let (text, ignore_case) = match argument {
                Value::String(text) => (text.clone(), false),
                Value::Object(inner) => match (inner.len(), inner.get("equals-ignore-case")) {
                    (1, Some(Value::String(text))) => (text.clone(), true),
                    _ => {
                        return Err(format!(
                            "{name} takes a string or {{\"equals-ignore-case\": string}}"
                        ))
                    }
                },
                other => {
                    return Err(format!(
                        "{name} takes a string or {{\"equals-ignore-case\": string}}, got {}",
                        json_type(other)
                    ))
                }
            };
            Ok(if name == "prefix" {
                Condition::Prefix { text, ignore_case }
            } else {
                Condition::Suffix { text, ignore_case }
            })
        }
        "equals-ignore-case" => Ok(Condition::EqualsIgnoreCase(string(name)?)),
        "wildcard" => Ok(Condition::Wildcard(parse_glob(&string(name)?)?)),
        "anything-but" => compile_anything_but(argument).map(Condition::AnythingBut),
        "numeric" => compile_numeric(argument).map(Condition::Numeric),
        "exists" => match argument {
            Value::Bool(b) => Ok(Condition::Exists(*b)),
            other => Err(format!(
                "exists takes true or false, got {}",
                json_type(other)
            )),
        },
        "cidr" => Err(
            "cidr (IP address matching) is an EventBridge operator sfn-local does not support"
                .to_string(),
        ),
        other => Err(format!(
            "unknown match operator {other:?} (sfn-local knows {OPERATORS})"
        )),
    }
}

fn compile_anything_but(argument: &Value) -> Result<Exclusion, String> {
    match argument {
        Value::String(_) | Value::Number(_) => Ok(Exclusion::Values(vec![argument.clone()])),
        Value::Array(items) => {
            let strings = items.iter().all(Value::is_string);
            let numbers = items.iter().all(Value::is_number);
            if items.is_empty() || !(strings || numbers) {
                return Err(
                    "anything-but takes a non-empty list of only strings or only numbers"
                        .to_string(),
                );
            }
            Ok(Exclusion::Values(items.clone()))
        }
        Value::Object(inner) => {
            let mut entries = inner.iter();
            let (Some((name, value)), None) = (entries.next(), entries.next()) else {
                return Err(
                    "anything-but takes one of prefix, suffix, equals-ignore-case, wildcard"
                        .to_string(),
                );
            };
            if !matches!(
                name.as_str(),
                "prefix" | "suffix" | "equals-ignore-case" | "wildcard"
            ) {
                return Err(format!(
                    "unknown anything-but operator {name:?} (sfn-local knows prefix, suffix, \
                     equals-ignore-case, wildcard)"
                ));
            }
            let texts = match value {
                Value::String(s) => vec![s.clone()],
                Value::Array(items) if !items.is_empty() => items
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_string).ok_or_else(|| {
                            format!("anything-but {name} takes strings, got {}", json_type(v))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                other => {
                    return Err(format!(
                        "anything-but {name} takes a string or a non-empty list of strings, got {}",
                        json_type(other)
                    ))
                }
            };
            match name.as_str() {
                "prefix" => Ok(Exclusion::Prefixes(texts)),
                "suffix" => Ok(Exclusion::Suffixes(texts)),
                "equals-ignore-case" => Ok(Exclusion::IgnoreCase(texts)),
                // "wildcard", the only name the check above leaves.
                _ => Ok(Exclusion::Wildcards(
                    texts
                        .iter()
                        .map(|t| parse_glob(t))
                        .collect::<Result<_, _>>()?,
                )),
            }
        }
        other => Err(format!(
            "anything-but takes a string, a number, a list or an operator object, got {}",
            json_type(other)
        )),
    }
}

fn compile_numeric(argument: &Value) -> Result<Range, String> {
    let items = argument
        .as_array()
        .ok_or_else(|| format!("numeric takes an array, got {}", json_type(argument)))?;
    let operator = |i: usize| items.get(i).and_then(Value::as_str);
    let number = |i: usize| {
        items.get(i).and_then(Value::as_f64).ok_or_else(|| {
            format!(
                "numeric: the value after {:?} must be a number",
                operator(i - 1).unwrap_or("")
            )
        })
    };
    let bound = |i: usize| -> Result<Bound, String> {
        Ok(Bound {
            value: number(i + 1)?,
            inclusive: matches!(operator(i), Some(">=" | "<=")),
        })
    };
    let range = match (operator(0), items.len()) {
        (Some("="), 2) => Range::Equals(number(1)?),
        (Some(">" | ">="), 2) => Range::Between {
            lower: Some(bound(0)?),
            upper: None,
        },
        (Some(">" | ">="), 4) if matches!(operator(2), Some("<" | "<=")) => {
            let (lower, upper) = (bound(0)?, bound(2)?);
            if lower.value >= upper.value {
                return Err("numeric: the lower bound must be below the upper bound".to_string());
            }
            Range::Between {
                lower: Some(lower),
                upper: Some(upper),
            }
        }
        (Some("<" | "<="), 2) => Range::Between {
            lower: None,
            upper: Some(bound(0)?),
        },
        _ => {
            return Err(format!(
                "numeric takes [\"=\", n], [\">\"|\">=\", n], [\"<\"|\"<=\", n] or \
                 [\">\"|\">=\", n, \"<\"|\"<=\", m], got {argument}"
            ))
        }
    };
    Ok(range)
}

/// `*` is any run of characters; `\*` and `\\` are the characters; nothing else may
/// follow a backslash, and two `*` may not follow each other (EventBridge's rules).
fn parse_glob(text: &str) -> Result<Vec<Glob>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped @ ('*' | '\\')) => out.push(Glob::Char(escaped)),
                _ => {
                    return Err(format!(
                        "wildcard {text:?}: a backslash may only escape * or \\"
                    ))
                }
            },
            '*' => {
                if out.last() == Some(&Glob::Any) {
                    return Err(format!(
                        "wildcard {text:?}: consecutive wildcard characters are not allowed"
                    ));
                }
                out.push(Glob::Any);
            }
            c => out.push(Glob::Char(c)),
        }
    }
    Ok(out)
}

fn glob_matches(glob: &[Glob], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    // The classic linear matcher: on a mismatch, let the last `*` take one more char.
    let (mut g, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match glob.get(g) {
            Some(Glob::Char(c)) if *c == text[t] => {
                g += 1;
                t += 1;
            }
            Some(Glob::Any) => {
                star = Some((g, t));
                g += 1;
            }
            _ => match star {
                Some((star_g, star_t)) => {
                    g = star_g + 1;
                    t = star_t + 1;
                    star = Some((star_g, star_t + 1));
                }
                None => return false,
            },
        }
    }
    glob[g..].iter().all(|item| *item == Glob::Any)
}

impl Condition {
    /// Whether a present leaf value satisfies this condition (`exists: false` never
    /// does: it is satisfied by absence, which the caller checks).
    fn accepts(&self, value: &Value) -> bool {
        let lower = |s: &str| s.to_lowercase();
        match self {
            Condition::Exact(expected) => expected == value,
            Condition::Prefix { text, ignore_case } => value.as_str().is_some_and(|s| {
                if *ignore_case {
                    lower(s).starts_with(&lower(text))
                } else {
                    s.starts_with(text.as_str())
                }
            }),
            Condition::Suffix { text, ignore_case } => value.as_str().is_some_and(|s| {
                if *ignore_case {
                    lower(s).ends_with(&lower(text))
                } else {
                    s.ends_with(text.as_str())
                }
            }),
            Condition::EqualsIgnoreCase(text) => {
                value.as_str().is_some_and(|s| lower(s) == lower(text))
            }
            Condition::Wildcard(glob) => value.as_str().is_some_and(|s| glob_matches(glob, s)),
            Condition::AnythingBut(exclusion) => !exclusion.excludes(value),
            Condition::Numeric(range) => value.as_f64().is_some_and(|n| range.contains(n)),
            Condition::Exists(exists) => *exists,
        }
    }
}

impl Exclusion {
    fn excludes(&self, value: &Value) -> bool {
        let Some(s) = value.as_str() else {
            // Only a listed number excludes a number; nothing excludes null or booleans.
            return matches!(self, Exclusion::Values(values) if values.contains(value));
        };
        match self {
            Exclusion::Values(values) => values.contains(value),
            Exclusion::Prefixes(prefixes) => prefixes.iter().any(|p| s.starts_with(p.as_str())),
            Exclusion::Suffixes(suffixes) => suffixes.iter().any(|p| s.ends_with(p.as_str())),
            Exclusion::IgnoreCase(texts) => {
                let s = s.to_lowercase();
                texts.iter().any(|t| t.to_lowercase() == s)
            }
            Exclusion::Wildcards(globs) => globs.iter().any(|g| glob_matches(g, s)),
        }
    }
}

impl Range {
    fn contains(&self, n: f64) -> bool {
        match self {
            Range::Equals(v) => n == *v,
            Range::Between { lower, upper } => {
                lower.is_none_or(|b| {
                    if b.inclusive {
                        n >= b.value
                    } else {
                        n > b.value
                    }
                }) && upper.is_none_or(|b| {
                    if b.inclusive {
                        n <= b.value
                    } else {
                        n < b.value
                    }
                })
            }
        }
    }
}

/// A leaf value of the event and the array elements it sits in ((array, index) pairs,
/// arrays numbered as met).
struct Leaf<'a> {
    value: &'a Value,
    elements: Vec<(usize, usize)>,
}

/// The event's leaves by path (array elements share their array's path).
fn flatten(event: &Value) -> HashMap<Vec<String>, Vec<Leaf<'_>>> {
    fn walk<'a>(
        value: &'a Value,
        path: &mut Vec<String>,
        elements: &mut Vec<(usize, usize)>,
        arrays: &mut usize,
        out: &mut HashMap<Vec<String>, Vec<Leaf<'a>>>,
    ) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    path.push(key.clone());
                    walk(child, path, elements, arrays, out);
                    path.pop();
                }
            }
            Value::Array(items) => {
                let id = *arrays;
                *arrays += 1;
                for (index, item) in items.iter().enumerate() {
                    elements.push((id, index));
                    walk(item, path, elements, arrays, out);
                    elements.pop();
                }
            }
            leaf => out.entry(path.clone()).or_default().push(Leaf {
                value: leaf,
                elements: elements.clone(),
            }),
        }
    }
    let mut out = HashMap::new();
    walk(event, &mut Vec::new(), &mut Vec::new(), &mut 0, &mut out);
    out
}

fn alternative_matches(fields: &[Field], leaves: &HashMap<Vec<String>, Vec<Leaf<'_>>>) -> bool {
    let mut choices: Vec<Vec<&Leaf<'_>>> = Vec::new();
    for field in fields {
        let present = leaves.get(&field.path).map_or(&[][..], Vec::as_slice);
        if present.is_empty()
            && field
                .conditions
                .iter()
                .any(|c| matches!(c, Condition::Exists(false)))
        {
            continue;
        }
        let candidates: Vec<&Leaf<'_>> = present
            .iter()
            .filter(|leaf| field.conditions.iter().any(|c| c.accepts(leaf.value)))
            .collect();
        if candidates.is_empty() {
            return false;
        }
        choices.push(candidates);
    }
    consistent(&choices, &mut Vec::new())
}

/// Whether one candidate per field can be picked so that no two sit in different
/// elements of one array.
fn consistent<'a>(choices: &[Vec<&'a Leaf<'a>>], picked: &mut Vec<&'a Leaf<'a>>) -> bool {
    let Some((first, rest)) = choices.split_first() else {
        return true;
    };
    for leaf in first {
        let fits = picked.iter().all(|other| {
            leaf.elements.iter().all(|(array, index)| {
                other
                    .elements
                    .iter()
                    .all(|(other_array, other_index)| array != other_array || index == other_index)
            })
        });
        if fits {
            picked.push(leaf);
            if consistent(rest, picked) {
                return true;
            }
            picked.pop();
        }
    }
    false
}

// ---------------------------------------------------------------------------------
// Rules from the template
// ---------------------------------------------------------------------------------

/// A rule of the template that invokes a function.
#[derive(Debug, Clone)]
pub struct Rule {
    pub function_logical_id: String,
    /// The function's local name (what `LambdaPool::invoke` takes).
    pub function_name: String,
    /// The `Events` entry's key (`UncaughtFailures`).
    pub event_id: String,
    /// `RuleName`, else the logical ID SAM gives the rule (`<Function><EventId>`).
    pub name: String,
    /// The evaluated `Pattern`.
    pub pattern: Value,
    pub input: TargetInput,
}

/// What the function receives for a matching event.
#[derive(Debug, Clone)]
pub enum TargetInput {
    /// The event itself (the default).
    Event,
    /// `Input`: this JSON, whatever the event.
    Constant(Value),
    /// `InputPath`: this part of the event.
    Path(JsonPath),
}

impl Rule {
    pub fn matches(&self, event: &Value) -> Result<bool, String> {
        matches(&self.pattern, event)
    }

    /// The payload the rule's target gets for `event`.
    pub fn target_input(&self, event: &Value) -> Result<Value, String> {
        match &self.input {
            TargetInput::Event => Ok(event.clone()),
            TargetInput::Constant(value) => Ok(value.clone()),
            TargetInput::Path(path) => path
                .read("InputPath", event, &Value::Null)
                .map_err(|e| format!("rule {}: InputPath: {}", self.name, e.cause)),
        }
    }
}

/// The template's rules that invoke functions on the default bus and run locally.
pub fn rules(template: &Template, stack: &Stack<'_>) -> Result<Vec<Rule>, String> {
    rules_and_notes(template, stack).map(|(rules, _)| rules)
}

/// The rules, and a note for each rule skipped (another bus, disabled, an
/// InputTransformer, a function whose Condition is false).
pub fn rules_and_notes(
    template: &Template,
    stack: &Stack<'_>,
) -> Result<(Vec<Rule>, Vec<String>), String> {
    let mut rules = Vec::new();
    let mut notes = Vec::new();
    for (logical_id, resource) in template.resources() {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let Some(events) = resource
            .pointer("/Properties/Events")
            .and_then(Value::as_object)
        else {
            continue;
        };
        let rule_events: Vec<(&String, &Value)> = events
            .iter()
            .filter(|(_, event)| {
                matches!(
                    event.get("Type").and_then(Value::as_str),
                    Some("EventBridgeRule" | "CloudWatchEvent")
                )
            })
            .collect();
        if rule_events.is_empty() {
            continue;
        }
        if let Some(condition) = resource.get("Condition").and_then(Value::as_str) {
            if !stack
                .condition(condition)
                .map_err(|e| format!("{logical_id}: {e}"))?
            {
                notes.push(format!(
                    "{logical_id}: its Condition {condition} is false, so its rules do not exist"
                ));
                continue;
            }
        }
        for (event_id, event) in rule_events {
            let at = format!("{logical_id}.Events.{event_id}");
            match rule(stack, logical_id, event_id, event) {
                Ok(Ok(rule)) => rules.push(rule),
                Ok(Err(note)) => notes.push(format!("{at}: {note}")),
                Err(e) => return Err(format!("{at}: {e}")),
            }
        }
    }
    Ok((rules, notes))
}

/// [`rules_and_notes`] of a loaded project (its template read again: a `Project`
/// keeps what the state machine needs, not the template).
pub fn project_rules(project: &Project) -> Result<(Vec<Rule>, Vec<String>), String> {
    let path: &Path = &project.template_path;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("the template {}: {e}", path.display()))?;
    let template = Template::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let settings: &StackSettings = &project.settings;
    let stack = Stack {
        template: &template,
        settings,
    };
    rules_and_notes(&template, &stack).map_err(|e| format!("{}: {e}", path.display()))
}

/// One `Events` entry: Ok(Ok(rule)), Ok(Err(why it is skipped)), or Err(what is wrong).
fn rule(
    stack: &Stack<'_>,
    logical_id: &str,
    event_id: &str,
    event: &Value,
) -> Result<Result<Rule, String>, String> {
    let properties = event
        .get("Properties")
        .and_then(Value::as_object)
        .ok_or("an EventBridgeRule needs Properties with a Pattern")?;
    let text = |name: &str| -> Result<Option<String>, String> {
        properties
            .get(name)
            .map(|value| stack.eval_string(value).map_err(|e| format!("{name}: {e}")))
            .transpose()
    };
    if let Some(bus) = text("EventBusName")? {
        // The default bus by name or by ARN; Step Functions sends to it only.
        if bus != "default" && !bus.ends_with(":event-bus/default") {
            return Ok(Err(format!(
                "the rule is on the event bus {bus}; Step Functions sends its status changes \
                 to the default bus, so it never fires for them: skipped"
            )));
        }
    }
    if let Some(state) = text("State")? {
        if state == "DISABLED" {
            return Ok(Err("the rule is DISABLED: skipped".to_string()));
        }
    }
    // The older switch (`Enabled: false`), as a boolean or as CloudFormation's string.
    if let Some(enabled) = properties.get("Enabled") {
        let enabled = stack.eval(enabled).map_err(|e| format!("Enabled: {e}"))?;
        if enabled == json!(false) || enabled == json!("false") {
            return Ok(Err("the rule is not Enabled: skipped".to_string()));
        }
    }
    if properties.contains_key("InputTransformer") {
        return Ok(Err(
            "an InputTransformer is not supported by sfn-local: the rule is skipped".to_string(),
        ));
    }
    let input = match (text("Input")?, text("InputPath")?) {
        (Some(_), Some(_)) => return Err("give Input or InputPath, not both".to_string()),
        (Some(input), None) => TargetInput::Constant(
            serde_json::from_str(&input).map_err(|e| format!("Input is not JSON text: {e}"))?,
        ),
        (None, Some(path)) => {
            TargetInput::Path(JsonPath::parse(&path).map_err(|e| format!("InputPath: {e}"))?)
        }
        (None, None) => TargetInput::Event,
    };
    let pattern = properties
        .get("Pattern")
        .ok_or("an EventBridgeRule needs a Pattern")?;
    let pattern = evaluate(stack, pattern)
        .map_err(|e| format!("Pattern: {e}"))?
        .unwrap_or(Value::Null);
    // Refused now, as PutRule would refuse it on deploy, rather than at the first event.
    compile(&pattern).map_err(|e| format!("Pattern: {e}"))?;
    let name = text("RuleName")?.unwrap_or_else(|| format!("{logical_id}{event_id}"));
    Ok(Ok(Rule {
        function_logical_id: logical_id.to_string(),
        function_name: stack.physical_name(logical_id),
        event_id: event_id.to_string(),
        name,
        pattern,
        input,
    }))
}

/// Evaluates the intrinsic functions inside a pattern. `Stack::eval` alone would drop
/// the pattern's own `null`s (it takes them for `AWS::NoValue`), so only the
/// intrinsic nodes go through it; None is a node that `AWS::NoValue` removed.
fn evaluate(stack: &Stack<'_>, value: &Value) -> Result<Option<Value>, String> {
    match value {
        Value::Object(map)
            if map.len() == 1 && map.keys().all(|k| k == "Ref" || k.starts_with("Fn::")) =>
        {
            let evaluated = stack.eval(value)?;
            Ok((!evaluated.is_null()).then_some(evaluated))
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, child) in map {
                if let Some(child) = evaluate(stack, child).map_err(|e| format!("{key}: {e}"))? {
                    out.insert(key.clone(), child);
                }
            }
            Ok(Some(Value::Object(out)))
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.extend(evaluate(stack, item)?);
            }
            Ok(Some(Value::Array(out)))
        }
        other => Ok(Some(other.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn yes(pattern: Value, event: Value) {
        assert_eq!(
            matches(&pattern, &event),
            Ok(true),
            "pattern {pattern} should match {event}"
        );
    }

    fn no(pattern: Value, event: Value) {
        assert_eq!(
            matches(&pattern, &event),
            Ok(false),
            "pattern {pattern} should not match {event}"
        );
    }

    fn refused(pattern: Value, part: &str) {
        match matches(&pattern, &json!({})) {
            Err(e) => assert!(e.contains(part), "{pattern}: {e:?} should mention {part:?}"),
            Ok(m) => panic!("{pattern} should be refused, matched: {m}"),
        }
    }

    /// The EC2 event of eb-event-patterns.
    fn ec2() -> Value {
        json!({
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": "EC2 Instance State-change Notification",
            "source": "aws.ec2",
            "account": "111122223333",
            "time": "2017-12-22T18:43:48Z",
            "region": "us-west-1",
            "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
            "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated"}
        })
    }

    #[test]
    fn exact_values_and_nesting() {
        yes(
            json!({"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"], "detail": {"state": ["terminated"]}}),
            ec2(),
        );
        yes(json!({"source": ["aws.ec2", "aws.fargate"]}), ec2());
        no(json!({"detail": {"state": ["running"]}}), ec2());
        no(json!({"detail": {"state": ["Terminated"]}}), ec2());
        // The same name at another depth is another field.
        no(json!({"state": ["terminated"]}), ec2());
        // eb-event-patterns: risk score 80 and trigger risk 8.
        let macie = json!({"detail": {"risk-score": 80, "trigger": {"risk": 8}}});
        yes(
            json!({"detail": {"risk-score": [80], "trigger": {"risk": [8]}}}),
            macie.clone(),
        );
        no(
            json!({"detail": {"risk-score": [80], "trigger": {"risk": [9]}}}),
            macie,
        );
        // "300, 300.0, and 3.0e2 are not considered equal"; booleans and strings differ.
        no(json!({"n": [300.0]}), json!({"n": 300}));
        yes(json!({"n": [300]}), json!({"n": 300}));
        no(json!({"b": ["true"]}), json!({"b": true}));
        yes(json!({"b": [true]}), json!({"b": true}));
        no(json!({"n": ["300"]}), json!({"n": 300}));
    }

    #[test]
    fn null_and_empty_strings_differ() {
        // eb-event-patterns-null-values.
        let event = json!({"detail": {"eventVersion": "", "responseElements": null}});
        yes(json!({"detail": {"eventVersion": [""]}}), event.clone());
        yes(
            json!({"detail": {"responseElements": [null]}}),
            event.clone(),
        );
        no(json!({"detail": {"eventVersion": [null]}}), event.clone());
        no(json!({"detail": {"responseElements": [""]}}), event);
    }

    #[test]
    fn arrays_match_if_any_element_does() {
        // eb-event-patterns-arrays.
        let pattern = json!({"resources": [
            "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
            "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
        ]});
        yes(
            pattern.clone(),
            json!({"resources": [
                "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b",
                "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
            ]}),
        );
        no(pattern, json!({"resources": ["arn:aws:autoscaling:x", []]}));
        yes(json!({"a": [3]}), json!({"a": [[1, 2], [3]]}));
        // Objects in an array: the pattern's fields must hold in one element.
        let event = json!({"items": [{"kind": "a", "size": 1}, {"kind": "b", "size": 2}]});
        yes(
            json!({"items": {"kind": ["b"], "size": [2]}}),
            event.clone(),
        );
        no(json!({"items": {"kind": ["a"], "size": [2]}}), event);
    }

    #[test]
    fn a_missing_field_fails_every_match_but_exists_false() {
        no(json!({"detail": {"c-count": [5]}}), ec2());
        no(json!({"detail": {"c-count": [{"anything-but": 5}]}}), ec2());
        no(json!({"detail": {"c-count": [{"prefix": ""}]}}), ec2());
        no(
            json!({"detail": {"c-count": [{"numeric": [">", 0]}]}}),
            ec2(),
        );
        no(json!({"nothing": {"here": [{"exists": true}]}}), ec2());
        yes(json!({"nothing": {"here": [{"exists": false}]}}), ec2());
    }

    #[test]
    fn exists_works_on_leaves() {
        // eb-event-patterns-content-based-filtering: exists matching.
        yes(json!({"detail": {"state": [{"exists": true}]}}), ec2());
        no(json!({"detail": {"state": [{"exists": false}]}}), ec2());
        let with_object =
            json!({"detail": {"state": ["initializing", "running"], "c-count": {"c1": 100}}});
        yes(
            json!({"detail": {"c-count": [{"exists": false}]}}),
            with_object.clone(),
        );
        no(
            json!({"detail": {"c-count": [{"exists": true}]}}),
            with_object,
        );
        // null is a value; an empty array holds none.
        yes(json!({"e": [{"exists": true}]}), json!({"e": null}));
        no(json!({"e": [{"exists": false}]}), json!({"e": null}));
        yes(json!({"e": [{"exists": false}]}), json!({"e": []}));
        // exists: false beside other values: absent, or one of them.
        let either = json!({"e": ["x", {"exists": false}]});
        yes(either.clone(), json!({}));
        yes(either.clone(), json!({"e": "x"}));
        no(either, json!({"e": "y"}));
    }

    #[test]
    fn prefix_suffix_and_ignore_case() {
        yes(json!({"time": [{"prefix": "2017-12-22"}]}), ec2());
        no(json!({"time": [{"prefix": "2017-10-02"}]}), ec2());
        yes(json!({"source": [{"suffix": "ec2"}]}), ec2());
        no(json!({"source": [{"suffix": "EC2"}]}), ec2());
        yes(
            json!({"source": [{"suffix": {"equals-ignore-case": "EC2"}}]}),
            ec2(),
        );
        yes(
            json!({"source": [{"prefix": {"equals-ignore-case": "AWS."}}]}),
            ec2(),
        );
        yes(
            json!({"source": [{"equals-ignore-case": "AWS.EC2"}]}),
            ec2(),
        );
        no(json!({"source": [{"equals-ignore-case": "aws.ec"}]}), ec2());
        // Strings only.
        no(json!({"n": [{"prefix": "1"}]}), json!({"n": 12}));
        no(
            json!({"n": [{"equals-ignore-case": "null"}]}),
            json!({"n": null}),
        );
    }

    #[test]
    fn wildcards() {
        let path = |p: &str| json!({"FilePath": [{"wildcard": p}]});
        let file = json!({"FilePath": "dir/lib/file.jar"});
        yes(path("*/lib/*"), file.clone());
        yes(path("dir/*/*.jar"), file.clone());
        yes(path("*"), file.clone());
        no(path("*/bin/*"), file.clone());
        no(path("dir"), file);
        yes(path("a\\*b"), json!({"FilePath": "a*b"}));
        no(path("a\\*b"), json!({"FilePath": "axxb"}));
        yes(path("a\\\\b"), json!({"FilePath": "a\\b"}));
        refused(path("a**b"), "consecutive wildcard");
        refused(path("a\\b"), "backslash");
    }

    #[test]
    fn anything_but() {
        // eb-event-patterns-content-based-filtering and eb-create-pattern-operators.
        yes(
            json!({"detail": {"state": [{"anything-but": "initializing"}]}}),
            ec2(),
        );
        no(
            json!({"detail": {"state": [{"anything-but": "terminated"}]}}),
            ec2(),
        );
        let state = |s: &str| json!({"detail": {"state": s}});
        let list = json!({"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}});
        yes(list.clone(), state("running"));
        no(list.clone(), state("stopped"));
        no(list, state("overloaded"));
        let limit = json!({"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}});
        yes(limit.clone(), json!({"detail": {"x-limit": 150}}));
        no(limit.clone(), json!({"detail": {"x-limit": 200}}));
        // A value of another type is not excluded (event-ruler's compiled matcher).
        yes(limit, json!({"detail": {"x-limit": "200"}}));
        yes(json!({"x": [{"anything-but": 123}]}), json!({"x": 124}));
        no(json!({"x": [{"anything-but": 123}]}), json!({"x": 123}));
        let prefix = json!({"detail": {"state": [{"anything-but": {"prefix": "init"}}]}});
        yes(prefix.clone(), state("running"));
        no(prefix, state("initializing"));
        let prefixes = json!({"r": [{"anything-but": {"prefix": ["us-", "eu-"]}}]});
        yes(prefixes.clone(), json!({"r": "ap-south-1"}));
        no(prefixes, json!({"r": "eu-central-1"}));
        let suffix = json!({"FileName": [{"anything-but": {"suffix": ".png"}}]});
        yes(suffix.clone(), json!({"FileName": "a.jpg"}));
        no(suffix, json!({"FileName": "a.png"}));
        let case = json!({"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]});
        yes(case.clone(), json!({"state": "running"}));
        no(case, json!({"state": "INITIALIZING"}));
        let wild = json!({"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]});
        yes(wild.clone(), json!({"FilePath": "a/bin/b"}));
        no(wild, json!({"FilePath": "a/lib/b"}));
        // Present values only; null and numbers pass a string exclusion.
        let not_x = json!({"e": [{"anything-but": ["x"]}]});
        no(not_x.clone(), json!({}));
        yes(not_x.clone(), json!({"e": null}));
        yes(not_x.clone(), json!({"e": 1}));
        // An array matches if one element is not excluded.
        yes(not_x.clone(), json!({"e": ["x", "y"]}));
        no(not_x, json!({"e": ["x"]}));
        refused(
            json!({"e": [{"anything-but": ["x", 1]}]}),
            "only strings or only numbers",
        );
        refused(json!({"e": [{"anything-but": []}]}), "non-empty");
        refused(json!({"e": [{"anything-but": [null]}]}), "only strings");
        refused(
            json!({"e": [{"anything-but": {"numeric": [">", 1]}}]}),
            "unknown anything-but operator",
        );
    }

    #[test]
    fn numeric_ranges() {
        // eb-event-patterns-content-based-filtering: numeric matching.
        let pattern = json!({"detail": {
            "c-count": [{"numeric": [">", 0, "<=", 5]}],
            "d-count": [{"numeric": ["<", 10]}],
            "x-limit": [{"numeric": ["=", 3.018e2]}]
        }});
        let event = |c: Value, d: Value, x: Value| json!({"detail": {"c-count": c, "d-count": d, "x-limit": x}});
        yes(pattern.clone(), event(json!(5), json!(9.5), json!(301.8)));
        yes(pattern.clone(), event(json!(0.1), json!(-3), json!(301.8)));
        no(pattern.clone(), event(json!(0), json!(9), json!(301.8)));
        no(pattern.clone(), event(json!(6), json!(9), json!(301.8)));
        no(pattern.clone(), event(json!(1), json!(10), json!(301.8)));
        no(pattern.clone(), event(json!(1), json!(9), json!(302)));
        no(pattern, event(json!("1"), json!(9), json!(301.8)));
        // numeric "=" compares values, unlike exact matching.
        yes(json!({"n": [{"numeric": ["=", 300]}]}), json!({"n": 300.0}));
        yes(json!({"n": [{"numeric": [">=", 1]}]}), json!({"n": 1}));
        refused(
            json!({"n": [{"numeric": ["<", 5, ">", 1]}]}),
            "numeric takes",
        );
        refused(json!({"n": [{"numeric": [">", 5, "<", 1]}]}), "lower bound");
        refused(json!({"n": [{"numeric": [">", "5"]}]}), "must be a number");
        refused(json!({"n": [{"numeric": ["!=", 5]}]}), "numeric takes");
        refused(json!({"n": [{"numeric": 5}]}), "numeric takes an array");
    }

    #[test]
    fn or_takes_any_branch_and_the_rest_still_applies() {
        // eb-create-pattern-operators: "$or" matching.
        let pattern = json!({
            "source": ["aws.cloudwatch"],
            "$or": [
                {"metricName": ["CPUUtilization", "ReadLatency"]},
                {"namespace": ["AWS/EC2", "AWS/ES"]}
            ]
        });
        yes(
            pattern.clone(),
            json!({"source": "aws.cloudwatch", "metricName": "ReadLatency"}),
        );
        yes(
            pattern.clone(),
            json!({"source": "aws.cloudwatch", "namespace": "AWS/ES"}),
        );
        no(
            pattern.clone(),
            json!({"source": "aws.cloudwatch", "namespace": "AWS/S3"}),
        );
        no(pattern, json!({"source": "aws.ec2", "namespace": "AWS/ES"}));
        // Nested, and inside a nested object.
        let nested = json!({"detail": {"$or": [
            {"a": [1]},
            {"b": [2], "$or": [{"c": [3]}, {"d": [4]}]}
        ]}});
        yes(nested.clone(), json!({"detail": {"a": 1}}));
        yes(nested.clone(), json!({"detail": {"b": 2, "d": 4}}));
        no(nested.clone(), json!({"detail": {"b": 2}}));
        no(nested, json!({"a": 1}));
        refused(json!({"$or": [{"a": [1]}]}), "at least two");
        refused(json!({"$or": {"a": [1]}}), "at least two");
        refused(
            json!({"a": [1], "$or": [{"a": [2]}, {"b": [1]}]}),
            "matched twice",
        );
    }

    #[test]
    fn malformed_patterns_are_refused() {
        refused(json!([]), "must be a JSON object");
        refused(json!({}), "empty objects");
        refused(json!({"detail": {}}), "detail: empty objects");
        refused(json!({"source": []}), "empty arrays");
        refused(
            json!({"source": "aws.ec2"}),
            "source: must be an object or an array",
        );
        refused(json!({"source": [["aws.ec2"]]}), "got an array");
        refused(json!({"source": [{}]}), "exactly one operator");
        refused(
            json!({"source": [{"prefix": "a", "suffix": "b"}]}),
            "exactly one operator",
        );
        refused(
            json!({"source": [{"regex": "a.*"}]}),
            "unknown match operator \"regex\"",
        );
        refused(json!({"ip": [{"cidr": "10.0.0.0/24"}]}), "cidr");
        refused(
            json!({"e": [{"exists": "yes"}]}),
            "exists takes true or false",
        );
        refused(json!({"e": [{"prefix": 1}]}), "prefix takes a string");
        refused(
            json!({"e": [{"prefix": {"ignore": "x"}}]}),
            "equals-ignore-case",
        );
        assert!(matches(&json!({"a": [1]}), &json!([1])).is_err());
    }

    const MACHINE: &str = "arn:aws:states:eu-central-1:123456789012:stateMachine:ensemble-training-EnsembleTrainingStateMachine";

    fn settings() -> StackSettings {
        StackSettings {
            stack_name: "ensemble-training".into(),
            region: "eu-central-1".into(),
            account: "123456789012".into(),
            parameters: BTreeMap::from([
                ("AllowedSourceBuckets".to_string(), "raw".to_string()),
                ("TextTrainingImage".to_string(), "img".to_string()),
                ("ImageTrainingImage".to_string(), "img".to_string()),
                ("SequenceTrainingImage".to_string(), "img".to_string()),
            ]),
            physical_names: BTreeMap::new(),
        }
    }

    /// The project's own template and its one rule.
    fn project_rule() -> Rule {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
        let template = Template::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
        let settings = settings();
        let stack = Stack {
            template: &template,
            settings: &settings,
        };
        let (rules, notes) = rules_and_notes(&template, &stack).unwrap();
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(rules.len(), 1, "{rules:?}");
        rules.into_iter().next().unwrap()
    }

    fn execution(status: &str, error: Option<&str>, state_machine_arn: &str) -> Value {
        let input = json!({"input_data": "s3://ensemble-input/2026-11-27/"});
        let output = json!({"done": true});
        status_change_event(&StatusChange {
            execution_arn: &format!(
                "{}:nightly",
                state_machine_arn.replace(":stateMachine:", ":execution:")
            ),
            state_machine_arn,
            name: "nightly",
            status,
            start_ms: 1_795_759_200_000,
            stop_ms: Some(1_795_761_737_000),
            input: Some(&input),
            output: (status == "SUCCEEDED").then_some(&output),
            error,
            cause: error.map(|_| "the cause"),
            region: "eu-central-1",
            account: "123456789012",
        })
    }

    #[test]
    fn the_project_rule_is_read_from_the_template() {
        let rule = project_rule();
        assert_eq!(rule.function_logical_id, "FormatFailureFunction");
        assert_eq!(
            rule.function_name,
            "ensemble-training-FormatFailureFunction"
        );
        assert_eq!(rule.event_id, "UncaughtFailures");
        assert_eq!(rule.name, "FormatFailureFunctionUncaughtFailures");
        assert_eq!(rule.pattern["detail"]["stateMachineArn"], json!([MACHINE]));
        assert_eq!(rule.pattern["source"], json!(["aws.states"]));
        assert!(matches!(rule.input, TargetInput::Event));
    }

    #[test]
    fn the_project_rule_fires_for_failures_no_catch_saw() {
        let rule = project_rule();
        let fires = |event: &Value| rule.matches(event).unwrap();
        // The failure path's Fail state already notified: not again.
        assert!(!fires(&execution(
            "FAILED",
            Some("EnsembleTrainingFailed"),
            MACHINE
        )));
        assert!(fires(&execution("FAILED", Some("States.Runtime"), MACHINE)));
        assert!(fires(&execution(
            "FAILED",
            Some("States.DataLimitExceeded"),
            MACHINE
        )));
        // No error: null in the event (as Step Functions sends it), or no field at all.
        let no_error = execution("FAILED", None, MACHINE);
        assert_eq!(no_error["detail"]["error"], Value::Null);
        assert!(fires(&no_error));
        let mut without_field = no_error.clone();
        if let Some(detail) = without_field["detail"].as_object_mut() {
            detail.remove("error");
        }
        assert!(fires(&without_field));
        assert!(fires(&execution(
            "TIMED_OUT",
            Some("States.Timeout"),
            MACHINE
        )));
        assert!(fires(&execution("TIMED_OUT", None, MACHINE)));
        assert!(fires(&execution("ABORTED", None, MACHINE)));
        assert!(!fires(&execution("SUCCEEDED", None, MACHINE)));
        assert!(!fires(&execution("RUNNING", None, MACHINE)));
        let other = "arn:aws:states:eu-central-1:123456789012:stateMachine:Other";
        assert!(!fires(&execution("FAILED", Some("States.Runtime"), other)));
        // The project's fixtures are what AWS sends: both fire.
        for name in [
            "format-failure-eventbridge.json",
            "format-failure-eventbridge-timeout.json",
        ] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../events")
                .join(name);
            let mut event: Value =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            event["detail"]["stateMachineArn"] = json!(MACHINE);
            assert!(fires(&event), "{name}");
        }
    }

    #[test]
    fn the_event_has_the_documented_shape() {
        let event = execution("FAILED", Some("States.Runtime"), MACHINE);
        let keys: Vec<&str> = event
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = vec![
            "version",
            "id",
            "detail-type",
            "source",
            "account",
            "time",
            "region",
            "resources",
            "detail",
        ];
        let mut keys_sorted = keys.clone();
        keys_sorted.sort_unstable();
        expected.sort_unstable();
        assert_eq!(keys_sorted, expected);
        assert_eq!(event["version"], "0");
        assert!(uuid::Uuid::parse_str(event["id"].as_str().unwrap()).is_ok());
        assert_eq!(event["detail-type"], DETAIL_TYPE);
        assert_eq!(event["source"], SOURCE);
        assert_eq!(event["time"], "2026-11-27T06:42:17Z");
        let arn = "arn:aws:states:eu-central-1:123456789012:execution:ensemble-training-EnsembleTrainingStateMachine:nightly";
        assert_eq!(event["resources"], json!([arn]));
        let detail = &event["detail"];
        assert_eq!(detail["executionArn"], arn);
        assert_eq!(detail["stateMachineArn"], MACHINE);
        assert_eq!(detail["name"], "nightly");
        assert_eq!(detail["status"], "FAILED");
        assert_eq!(detail["startDate"], json!(1_795_759_200_000u64));
        assert_eq!(detail["stopDate"], json!(1_795_761_737_000u64));
        assert_eq!(
            detail["input"],
            json!(r#"{"input_data":"s3://ensemble-input/2026-11-27/"}"#)
        );
        assert_eq!(detail["inputDetails"], json!({"included": true}));
        assert_eq!(detail["output"], Value::Null);
        assert_eq!(detail["outputDetails"], Value::Null);
        assert_eq!(detail["error"], "States.Runtime");
        assert_eq!(detail["cause"], "the cause");
        assert_eq!(detail["redriveStatus"], "REDRIVABLE");
        assert_eq!(detail["redriveCount"], 0);
        // The fields of the project's fixture, with the same types.
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/format-failure-eventbridge.json");
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for (key, value) in fixture.as_object().unwrap() {
            assert_eq!(json_type(&event[key]), json_type(value), "{key}");
        }
        for (key, value) in fixture["detail"].as_object().unwrap() {
            assert_eq!(json_type(&detail[key]), json_type(value), "detail.{key}");
        }

        let succeeded = execution("SUCCEEDED", None, MACHINE);
        assert_eq!(succeeded["detail"]["output"], json!(r#"{"done":true}"#));
        assert_eq!(
            succeeded["detail"]["outputDetails"],
            json!({"included": true})
        );
        assert_eq!(succeeded["detail"]["error"], Value::Null);
        assert_eq!(succeeded["detail"]["redriveStatus"], "NOT_REDRIVABLE");
        assert_eq!(
            succeeded["detail"]["redriveStatusReason"],
            "Execution is SUCCEEDED and cannot be redriven"
        );
    }

    #[test]
    fn large_payloads_are_left_out() {
        let big = json!("x".repeat(MAX_PAYLOAD_BYTES));
        let small = json!({"a": 1});
        let change = |input, output| StatusChange {
            execution_arn: "arn:aws:states:us-east-1:123456789012:execution:m:e",
            state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:m",
            name: "e",
            status: "SUCCEEDED",
            start_ms: 0,
            stop_ms: Some(1),
            input,
            output,
            error: None,
            cause: None,
            region: "us-east-1",
            account: "123456789012",
        };
        // The output is too large: it goes; the input stays.
        let event = status_change_event(&change(Some(&small), Some(&big)));
        assert_eq!(event["detail"]["output"], Value::Null);
        assert_eq!(event["detail"]["outputDetails"], json!({"included": false}));
        assert_eq!(event["detail"]["input"], json!(r#"{"a":1}"#));
        assert_eq!(event["detail"]["inputDetails"], json!({"included": true}));
        // Both do not fit together: the input goes.
        let half = json!("y".repeat(MAX_PAYLOAD_BYTES / 2));
        let event = status_change_event(&change(Some(&half), Some(&half)));
        assert_eq!(event["detail"]["input"], Value::Null);
        assert_eq!(event["detail"]["inputDetails"], json!({"included": false}));
        assert_eq!(event["detail"]["outputDetails"], json!({"included": true}));
        // Escaping counts: quotes double in size.
        let quotes = json!("\"".repeat(MAX_PAYLOAD_BYTES / 2 + 1));
        let event = status_change_event(&change(Some(&quotes), None));
        assert_eq!(event["detail"]["inputDetails"], json!({"included": false}));
    }

    #[test]
    fn outcome_events_take_the_history_dates() {
        let spec = ExecutionSpec {
            name: "run-1".into(),
            state_machine_name: "ensemble-training-EnsembleTrainingStateMachine".into(),
            input: json!({"k": "v"}),
            region: "eu-central-1".into(),
            account: "123456789012".into(),
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
        };
        let outcome = Outcome {
            status: Status::Failed {
                error: String::new(),
                cause: String::new(),
            },
            history: vec![
                json!({"id": 1, "timestamp": "2026-11-27T06:00:00.250Z"}),
                json!({"id": 2, "timestamp": "2026-11-27T06:42:17.000Z"}),
            ],
            transitions: 1,
        };
        let event = outcome_event(&spec, &outcome);
        let detail = &event["detail"];
        assert_eq!(detail["status"], "FAILED");
        assert_eq!(detail["error"], Value::Null, "an empty error is absent");
        assert_eq!(detail["startDate"], json!(1_795_759_200_250u64));
        assert_eq!(detail["stopDate"], json!(1_795_761_737_000u64));
        assert_eq!(event["time"], "2026-11-27T06:42:17Z");
        assert_eq!(detail["stateMachineArn"], MACHINE);
        assert_eq!(detail["input"], json!(r#"{"k":"v"}"#));
        assert!(project_rule().matches(&event).unwrap());

        let timed_out = Outcome {
            status: Status::TimedOut {
                error: "States.Timeout".into(),
                cause: "over".into(),
            },
            ..outcome
        };
        let event = outcome_event(&spec, &timed_out);
        assert_eq!(event["detail"]["status"], "TIMED_OUT");
        assert_eq!(event["detail"]["error"], "States.Timeout");
    }

    #[test]
    fn history_timestamps_parse() {
        assert_eq!(epoch_ms("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(epoch_ms("2000-02-29T12:00:00.001Z"), Some(951_825_600_001));
        assert_eq!(epoch_ms("2026-11-27T14:00:00Z"), Some(1_795_788_000_000));
        assert_eq!(epoch_ms("yesterday"), None);
        assert_eq!(event_time(1_795_788_000_999), "2026-11-27T14:00:00Z");
    }

    fn template_rules(yaml: &str) -> Result<(Vec<Rule>, Vec<String>), String> {
        let template = Template::parse(yaml).unwrap();
        let settings = settings();
        let stack = Stack {
            template: &template,
            settings: &settings,
        };
        rules_and_notes(&template, &stack)
    }

    #[test]
    fn rules_on_other_buses_disabled_or_transformed_are_skipped_with_a_note() {
        let yaml = r#"
Conditions:
  Never: !Equals [a, b]
Resources:
  Machine:
    Type: AWS::Serverless::StateMachine
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Default:
          Type: EventBridgeRule
          Properties:
            Pattern: {source: [aws.states], detail: {stateMachineArn: [!Ref Machine], error: [null]}}
        DefaultByArn:
          Type: CloudWatchEvent
          Properties:
            EventBusName: !Sub arn:aws:events:${AWS::Region}:${AWS::AccountId}:event-bus/default
            RuleName: by-arn
            InputPath: $.detail
            Pattern: {source: [aws.states]}
        Constant:
          Type: EventBridgeRule
          Properties:
            Input: '{"fixed": 1}'
            Pattern: {source: [aws.states]}
        Custom:
          Type: EventBridgeRule
          Properties:
            EventBusName: my-bus
            Pattern: {source: [aws.states]}
        Off:
          Type: EventBridgeRule
          Properties:
            State: DISABLED
            Pattern: {source: [aws.states]}
        Transformed:
          Type: EventBridgeRule
          Properties:
            InputTransformer: {InputTemplate: '"x"'}
            Pattern: {source: [aws.states]}
        Api:
          Type: Api
          Properties: {Path: /, Method: get}
  Conditional:
    Type: AWS::Serverless::Function
    Condition: Never
    Properties:
      Events:
        Rule:
          Type: EventBridgeRule
          Properties:
            Pattern: {source: [aws.states]}
"#;
        let (rules, notes) = template_rules(yaml).unwrap();
        let mut names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["FnConstant", "FnDefault", "by-arn"]);
        let named = |name: &str| rules.iter().find(|r| r.name == name).unwrap();
        assert_eq!(notes.len(), 4, "{notes:?}");
        assert!(notes
            .iter()
            .any(|n| n.starts_with("Fn.Events.Custom: ") && n.contains("my-bus")));
        assert!(notes
            .iter()
            .any(|n| n.starts_with("Fn.Events.Off: ") && n.contains("DISABLED")));
        assert!(notes
            .iter()
            .any(|n| n.contains("Transformed") && n.contains("InputTransformer")));
        assert!(notes
            .iter()
            .any(|n| n.contains("Conditional") && n.contains("Never")));
        // The pattern's own null survives evaluation; the Ref resolves.
        let default = named("FnDefault");
        assert_eq!(
            default.pattern["detail"],
            json!({"stateMachineArn": ["arn:aws:states:eu-central-1:123456789012:stateMachine:ensemble-training-Machine"], "error": [null]})
        );
        let event = json!({"source": "aws.states", "detail": {"a": 1}});
        assert_eq!(
            named("FnConstant").target_input(&event).unwrap(),
            json!({"fixed": 1})
        );
        assert_eq!(
            named("by-arn").target_input(&event).unwrap(),
            json!({"a": 1})
        );
        assert_eq!(default.target_input(&event).unwrap(), event);
        assert!(named("by-arn")
            .target_input(&json!({"source": "aws.states"}))
            .is_err());
    }

    #[test]
    fn bad_rules_are_errors_naming_the_event() {
        let rule = |properties: &str| {
            template_rules(&format!(
                "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        E:\n          Type: EventBridgeRule\n          Properties: {properties}\n"
            ))
        };
        let e = rule("{Pattern: {source: [{regex: x}]}}").unwrap_err();
        assert!(
            e.starts_with("Fn.Events.E: Pattern: source: unknown match operator"),
            "{e}"
        );
        let e = rule("{RuleName: r}").unwrap_err();
        assert!(e.contains("needs a Pattern"), "{e}");
        let e = rule("{Pattern: {source: [a]}, Input: 'not json'}").unwrap_err();
        assert!(e.contains("Input is not JSON"), "{e}");
        let e = rule("{Pattern: {source: [a]}, Input: '{}', InputPath: $}").unwrap_err();
        assert!(e.contains("not both"), "{e}");
        let e = rule("{Pattern: {source: [!Ref Nothing]}}").unwrap_err();
        assert!(e.contains("Nothing"), "{e}");
    }
}
