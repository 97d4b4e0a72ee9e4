//! The interpreter: runs a checked [`StateMachine`] on an input, state by state, with
//! the input/output processing, Retry, Catch, timeouts, Parallel and Map semantics of
//! the Step Functions docs, and records the execution history as
//! `GetExecutionHistory` would return it. Tasks are delegated to a [`TaskRunner`]
//! (the local integrations, or mocks).
//!
//! Limits enforced as AWS does: payloads of at most [`MAX_PAYLOAD_BYTES`]
//! (`States.DataLimitExceeded`), and a history of at most
//! [`crate::history::MAX_HISTORY_EVENTS`] events, whose last is the execution's
//! failure (`States.Runtime`; see [`crate::history`] for the sources).

use crate::util::lock;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::asl::{intrinsics, names, path, template, AslError};
use crate::definition::{
    Catcher, Expr, Jitter, Kind, MapState, Parallel, PathField, ResultPath, Retrier, State,
    StateMachine, Task, Transition, WaitFor,
};
use crate::history::{EventLog, EventType, Observer};
use crate::util::json_type;

/// State input and output are at most 256 KiB (docs: service quotas).
pub const MAX_PAYLOAD_BYTES: usize = 262_144;
/// Inline Map iterations run at most this many at once when MaxConcurrency is 0
/// (docs: state-map-inline, "up to 40 concurrent iterations").
pub const INLINE_MAP_MAX_CONCURRENCY: usize = 40;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One Task state's call, after Parameters were rendered.
#[derive(Debug, Clone)]
pub struct TaskRequest {
    pub state_name: String,
    pub resource: String,
    pub parameters: Value,
    /// The context object as the state saw it (`$$`).
    pub context: Value,
    /// 0 on the first attempt.
    pub retry_count: u64,
    pub timeout: Option<Duration>,
}

/// Runs tasks: the local integrations, mocks, or both.
pub trait TaskRunner: Send + Sync {
    fn run(&self, request: TaskRequest) -> BoxFuture<'_, Result<Value, AslError>>;
}

/// What an execution is called and given.
#[derive(Debug, Clone)]
pub struct ExecutionSpec {
    pub name: String,
    pub state_machine_name: String,
    pub input: Value,
    pub region: String,
    pub account: String,
    pub role_arn: String,
}

impl ExecutionSpec {
    pub fn state_machine_arn(&self) -> String {
        format!(
            "arn:aws:states:{}:{}:stateMachine:{}",
            self.region, self.account, self.state_machine_name
        )
    }

    pub fn execution_arn(&self) -> String {
        format!(
            "arn:aws:states:{}:{}:execution:{}:{}",
            self.region, self.account, self.state_machine_name, self.name
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Succeeded { output: Value },
    Failed { error: String, cause: String },
    TimedOut { error: String, cause: String },
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Status,
    pub history: Vec<Value>,
    /// State transitions, as AWS bills them: every state entered, every retry.
    pub transitions: u64,
}

/// How long waits and retry intervals really take: `scale` × their nominal length
/// (1.0 = real time, 0.0 = no waiting).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub scale: f64,
}

impl Clock {
    async fn sleep(&self, nominal: Duration) {
        let scaled = nominal.mul_f64(self.scale.max(0.0));
        if !scaled.is_zero() {
            tokio::time::sleep(scaled).await;
        }
    }
}

pub struct Engine {
    pub runner: Arc<dyn TaskRunner>,
    pub clock: Clock,
    /// Sees every history event as it happens.
    pub observer: Option<Observer>,
}

/// Everything one execution's states share.
struct Run {
    runner: Arc<dyn TaskRunner>,
    clock: Clock,
    log: EventLog,
    transitions: AtomicU64,
    /// `$$.Execution` and `$$.StateMachine`.
    execution: Value,
    state_machine: Value,
    /// Where the execution runs (TaskScheduled events name it).
    region: String,
    rng: Mutex<u64>,
}

/// How a state ended, for the scope's loop.
enum Step {
    Next { output: Value, next: String },
    End { output: Value },
}

impl Engine {
    pub async fn execute(&self, machine: &StateMachine, spec: &ExecutionSpec) -> Outcome {
        let started = now_iso();
        let run = Arc::new(Run {
            runner: Arc::clone(&self.runner),
            clock: self.clock,
            log: EventLog::with_observer(self.observer.clone()),
            transitions: AtomicU64::new(0),
            execution: json!({
                "Id": spec.execution_arn(),
                "Input": spec.input,
                "Name": spec.name,
                "RoleArn": spec.role_arn,
                "StartTime": started,
                "RedriveCount": 0,
            }),
            state_machine: json!({"Id": spec.state_machine_arn(), "Name": spec.state_machine_name}),
            region: spec.region.clone(),
            rng: Mutex::new(seed()),
        });
        // The first event of an empty history always fits.
        let started_id = run
            .log
            .push(
                EventType::ExecutionStarted,
                0,
                json!({"executionStartedEventDetails": {
                    "input": spec.input.to_string(),
                    "inputDetails": {"truncated": false},
                    "roleArn": spec.role_arn,
                }}),
            )
            .unwrap_or(1);
        let body = run_scope(&run, machine, spec.input.clone(), Cursor::new(started_id));
        let result = match machine.timeout_seconds {
            Some(seconds) => {
                let limit = Duration::from_secs(seconds).mul_f64(self.clock.scale.max(0.0));
                match tokio::time::timeout(limit.max(Duration::from_millis(1)), body).await {
                    Ok(result) => result.map_err(|e| (e, false)),
                    Err(_) => Err((
                        AslError::new(
                            names::TIMEOUT,
                            format!("the execution ran over its TimeoutSeconds ({seconds} s)"),
                        ),
                        true,
                    )),
                }
            }
            None => body.await.map_err(|e| (e, false)),
        };
        let last = run.log.last_id();
        let status = match result {
            Ok(output) => {
                run.log.close(
                    EventType::ExecutionSucceeded,
                    last,
                    json!({"executionSucceededEventDetails": {
                        "output": output.to_string(),
                        "outputDetails": {"truncated": false},
                    }}),
                );
                Status::Succeeded { output }
            }
            Err((err, true)) => {
                run.log.close(
                    EventType::ExecutionTimedOut,
                    last,
                    json!({"executionTimedOutEventDetails": {"error": err.error, "cause": err.cause}}),
                );
                Status::TimedOut {
                    error: err.error,
                    cause: err.cause,
                }
            }
            Err((err, false)) => {
                run.log.close(
                    EventType::ExecutionFailed,
                    last,
                    json!({"executionFailedEventDetails": {"error": err.error, "cause": err.cause}}),
                );
                Status::Failed {
                    error: err.error,
                    cause: err.cause,
                }
            }
        };
        Outcome {
            status,
            history: run.log.events(),
            transitions: run.transitions.load(Ordering::SeqCst),
        }
    }
}

fn seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9e37_79b9_7f4a_7c15)
        | 1
}

pub fn now_iso() -> String {
    iso(SystemTime::now())
}

/// RFC 3339 with milliseconds, UTC, as Step Functions writes timestamps.
pub fn iso(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let millis = d.subsec_millis();
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Run {
    /// Records an event after the scope's last one, and makes it the scope's last.
    fn record(&self, cursor: &Cursor, kind: EventType, details: Value) -> Result<u64, AslError> {
        Ok(cursor.set(self.log.push(kind, cursor.get(), details)?))
    }

    /// The context object (`$$`) a state sees. `$$.Map.Item` is not part of it: the
    /// docs (input-output-contextobject, "Context object data for Map states") make
    /// it available only in the Map state's own ItemSelector, "not within the states
    /// included in the ItemProcessor"; [`run_map`] adds it there.
    fn context(&self, state: &State, entered: &str, retry_count: u64) -> Value {
        json!({
            "Execution": self.execution,
            "StateMachine": self.state_machine,
            "State": {"EnteredTime": entered, "Name": state.name, "RetryCount": retry_count},
        })
    }

    fn random_unit(&self) -> f64 {
        let mut state = lock(&self.rng);
        // xorshift64*: jitter needs spread, not cryptographic quality.
        let mut x = *state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Bytes of a value's compact JSON text, the size the payload quota measures.
fn json_size(value: &Value) -> usize {
    value.to_string().len()
}

/// A state's input (or a Task's rendered Parameters) within [`MAX_PAYLOAD_BYTES`]
/// (docs: concepts-error-handling, `States.DataLimitExceeded` "when, after
/// Parameters processing, the input of a state is larger than the payload size
/// quota").
fn check_input_size(value: &Value, what: &str, state: &str) -> Result<(), AslError> {
    let size = json_size(value);
    if size > MAX_PAYLOAD_BYTES {
        return Err(AslError::new(
            names::DATA_LIMIT_EXCEEDED,
            format!(
                "the {what} of state {state:?} is {size} bytes, over the limit of {MAX_PAYLOAD_BYTES} bytes"
            ),
        ));
    }
    Ok(())
}

/// A state's output, or a task's result, within [`MAX_PAYLOAD_BYTES`]. `source` is
/// the state name or task resource the cause names, in AWS's wording (LocalStack's
/// AWS-recorded snapshots, error_handling/test_states_errors).
fn check_result_size(value: &Value, source: &str) -> Result<(), AslError> {
    if json_size(value) > MAX_PAYLOAD_BYTES {
        return Err(AslError::new(
            names::DATA_LIMIT_EXCEEDED,
            format!(
                "The state/task '{source}' returned a result with a size exceeding the maximum number of bytes service limit."
            ),
        ));
    }
    Ok(())
}

/// The last event of one scope (the top level, a Parallel branch, a Map iteration):
/// the `previousEventId` of the scope's next event. AWS links each event to the one
/// before it in its own branch, so concurrent branches form separate chains.
#[derive(Clone)]
struct Cursor(Arc<AtomicU64>);

impl Cursor {
    fn new(at: u64) -> Cursor {
        Cursor(Arc::new(AtomicU64::new(at)))
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    fn set(&self, id: u64) -> u64 {
        self.0.store(id, Ordering::SeqCst);
        id
    }
}

/// Runs one scope (the top level, a branch, a Map iteration) to its end.
fn run_scope<'a>(
    run: &'a Arc<Run>,
    machine: &'a StateMachine,
    input: Value,
    cursor: Cursor,
) -> BoxFuture<'a, Result<Value, AslError>> {
    Box::pin(async move {
        let mut name = machine.start_at.clone();
        let mut input = input;
        loop {
            let Some(state) = machine.state(&name) else {
                return Err(AslError::runtime(format!("no state named {name:?}")));
            };
            run.transitions.fetch_add(1, Ordering::SeqCst);
            check_input_size(&input, "input", &state.name)?;
            // A full history ends the scope here (the push is refused), which also
            // stops a loop of Pass and Choice states that never awaits anything.
            cursor.set(run.log.push(
                EventType::entered(&state.kind),
                cursor.get(),
                json!({"stateEnteredEventDetails": {
                    "name": state.name,
                    "input": input.to_string(),
                    "inputDetails": {"truncated": false},
                }}),
            )?);
            let (output, next) = match run_state(run, state, input, &cursor).await? {
                Step::Next { output, next } => (output, Some(next)),
                Step::End { output } => (output, None),
            };
            check_result_size(&output, &state.name)?;
            if let Some(exited) = EventType::exited(&state.kind) {
                cursor.set(run.log.push(
                    exited,
                    cursor.get(),
                    json!({"stateExitedEventDetails": {
                        "name": state.name,
                        "output": output.to_string(),
                        "outputDetails": {"truncated": false},
                    }}),
                )?);
            }
            match next {
                Some(next) => {
                    name = next;
                    input = output;
                }
                None => return Ok(output),
            }
        }
    })
}

fn next_of(state: &State, output: Value) -> Step {
    match &state.transition {
        Transition::Next(next) => Step::Next {
            output,
            next: next.clone(),
        },
        Transition::End | Transition::None => Step::End { output },
    }
}

fn input_path(field: &PathField, input: &Value, context: &Value) -> Result<Value, AslError> {
    path::apply_input_path(input.clone(), field, context)
}

fn result_path(rp: &ResultPath, input: Value, result: Value) -> Result<Value, AslError> {
    path::apply_result_path(input, rp, result)
}

fn render(template_value: &Value, input: &Value, context: &Value) -> Result<Value, AslError> {
    let intrinsic = |expr: &str, input: &Value, context: &Value| {
        let resolve = |p: &str| path::read(p, "an intrinsic function argument", input, context);
        intrinsics::evaluate(expr, &resolve)
    };
    template::render(template_value, input, context, &intrinsic)
}

/// Reads a literal-or-path field as a JSON value.
fn expr_value(expr: &Expr, input: &Value, context: &Value, field: &str) -> Result<Value, AslError> {
    match expr {
        Expr::Literal(v) => Ok(v.clone()),
        Expr::Path(p) => path::read(p, field, input, context),
    }
}

/// A whole number of seconds of at least `min` read from a `...Path` field.
fn whole_seconds(value: &Value, field: &str, min: u64) -> Result<u64, AslError> {
    value.as_u64().filter(|n| *n >= min).ok_or_else(|| {
        AslError::runtime(format!(
            "{field}: {value} is not a whole number of seconds of at least {min}"
        ))
    })
}

async fn run_state(
    run: &Arc<Run>,
    state: &State,
    raw_input: Value,
    cursor: &Cursor,
) -> Result<Step, AslError> {
    let entered = now_iso();
    let context = run.context(state, &entered, 0);
    match &state.kind {
        Kind::Pass {
            result,
            parameters,
            result_path: rp,
        } => {
            let effective = input_path(&state.input_path, &raw_input, &context)?;
            let produced = match (result, parameters) {
                (Some(result), _) => result.clone(),
                (None, Some(parameters)) => render(parameters, &effective, &context)?,
                (None, None) => effective,
            };
            let merged = result_path(rp, raw_input, produced)?;
            let output = input_path(&state.output_path, &merged, &context)?;
            Ok(next_of(state, output))
        }
        Kind::Succeed => {
            let effective = input_path(&state.input_path, &raw_input, &context)?;
            let output = input_path(&state.output_path, &effective, &context)?;
            Ok(Step::End { output })
        }
        Kind::Fail { error, cause } => {
            let text = |e: &Option<Expr>, field: &str| -> Result<String, AslError> {
                match e {
                    None => Ok(String::new()),
                    Some(Expr::Path(p)) if intrinsics::is_intrinsic_call(p) => {
                        let resolve = |a: &str| path::read(a, field, &raw_input, &context);
                        match intrinsics::evaluate(p, &resolve)? {
                            Value::String(s) => Ok(s),
                            other => Err(AslError::runtime(format!(
                                "{field}: {other} is not a string"
                            ))),
                        }
                    }
                    Some(e) => match expr_value(e, &raw_input, &context, field)? {
                        Value::String(s) => Ok(s),
                        other => Err(AslError::runtime(format!(
                            "{field}: {other} is not a string"
                        ))),
                    },
                }
            };
            let error = text(error, "ErrorPath")?;
            let cause = text(cause, "CausePath")?;
            // A Fail state's error is the scope's error; it is not caught here.
            Err(AslError::new(error, cause))
        }
        Kind::Wait(wait) => {
            let effective = input_path(&state.input_path, &raw_input, &context)?;
            let delay = match wait {
                WaitFor::Seconds(s) => Duration::from_secs(*s),
                WaitFor::SecondsPath(p) => {
                    let v = path::read(p, "SecondsPath", &effective, &context)?;
                    Duration::from_secs(whole_seconds(&v, "SecondsPath", 0)?)
                }
                WaitFor::Timestamp(t) => until(t)?,
                WaitFor::TimestampPath(p) => {
                    match path::read(p, "TimestampPath", &effective, &context)? {
                        Value::String(t) => until(&t)?,
                        other => {
                            return Err(AslError::runtime(format!(
                                "TimestampPath: {other} is not a timestamp"
                            )))
                        }
                    }
                }
            };
            run.clock.sleep(delay).await;
            let output = input_path(&state.output_path, &effective, &context)?;
            Ok(next_of(state, output))
        }
        Kind::Choice { choices, default } => {
            let effective = input_path(&state.input_path, &raw_input, &context)?;
            let resolve = |p: &str| -> Result<Option<Value>, AslError> {
                let parsed =
                    path::Path::parse(p).map_err(|e| AslError::runtime(format!("{p:?}: {e}")))?;
                if parsed.is_context() {
                    parsed.select(&context)
                } else {
                    parsed.select(&effective)
                }
            };
            let mut chosen = None;
            for rule in choices {
                if rule.matches(&resolve)? {
                    chosen = rule.next().map(str::to_string);
                    break;
                }
            }
            let next = match chosen.or_else(|| default.clone()) {
                Some(next) => next,
                None => {
                    return Err(AslError::new(
                        names::NO_CHOICE_MATCHED,
                        format!(
                            "no Choice rule of state {:?} matched, and it has no Default",
                            state.name
                        ),
                    ))
                }
            };
            let output = input_path(&state.output_path, &effective, &context)?;
            Ok(Step::Next { output, next })
        }
        Kind::Task(task) => {
            with_retry_and_catch(
                run,
                state,
                raw_input,
                &task.retry,
                &task.catch,
                |attempt_context, effective| {
                    run_task(run, state, task, attempt_context, effective, cursor)
                },
            )
            .await
        }
        Kind::Parallel(parallel) => {
            with_retry_and_catch(
                run,
                state,
                raw_input,
                &parallel.retry,
                &parallel.catch,
                |attempt_context, effective| {
                    run_parallel(run, parallel, attempt_context, effective, cursor)
                },
            )
            .await
        }
        Kind::Map(map) => {
            with_retry_and_catch(
                run,
                state,
                raw_input,
                &map.retry,
                &map.catch,
                |attempt_context, effective| {
                    run_map(run, state, map, attempt_context, effective, cursor)
                },
            )
            .await
        }
    }
}

/// Seconds from now until an RFC 3339 timestamp (zero if it is past).
fn until(timestamp: &str) -> Result<Duration, AslError> {
    let target_nanos = crate::asl::choice::parse_timestamp(timestamp)
        .ok_or_else(|| AslError::runtime(format!("{timestamp:?} is not an RFC 3339 timestamp")))?;
    let now_nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    let wait = u64::try_from((target_nanos - now_nanos).max(0)).unwrap_or(u64::MAX);
    Ok(Duration::from_nanos(wait))
}

/// Whether a retrier's or catcher's ErrorEquals matches `error` (docs:
/// concepts-error-handling):
/// - `States.Runtime` matches nothing, not even when named: "A States.Runtime error
///   is not retriable, and will always cause the execution to fail" (and AWS fails
///   an execution whose Catch names `States.Runtime` explicitly: LocalStack's
///   AWS-recorded snapshot scenarios/test_catch_states_runtime);
/// - `States.ALL` matches everything else but the terminal
///   `States.DataLimitExceeded`, which only its own name matches;
/// - `States.TaskFailed` matches every task error but `States.Timeout`: a task's
///   own error names and `States.Permissions`, not the other `States.*` names.
pub fn error_matches(error_equals: &[String], error: &str) -> bool {
    if error == names::RUNTIME {
        return false;
    }
    let terminal = error == names::DATA_LIMIT_EXCEEDED;
    error_equals.iter().any(|name| {
        name == error
            || (name == names::ALL && !terminal)
            || (name == names::TASK_FAILED
                && !terminal
                && error != names::TIMEOUT
                && (!error.starts_with("States.") || error == names::PERMISSIONS))
    })
}

/// The delay before retry number `retry` (0-based) of `retrier`, before jitter.
pub fn retry_delay(retrier: &Retrier, retry: u64) -> Duration {
    let exponent = i32::try_from(retry).unwrap_or(i32::MAX);
    let seconds = retrier.interval_seconds as f64 * retrier.backoff_rate.powi(exponent);
    let capped = match retrier.max_delay_seconds {
        Some(max) => seconds.min(max as f64),
        None => seconds,
    };
    // Far beyond any sensible wait; keeps from_secs_f64 from panicking on inf.
    Duration::from_secs_f64(capped.clamp(0.0, 1e9))
}

/// The delay before retry number `retry` once jitter is applied. With
/// `JitterStrategy: FULL` (docs: concepts-error-handling, "Retrier fields": jitter
/// spreads retries "over a randomized delay interval") it is the delay
/// [`retry_delay`] computes, MaxDelaySeconds cap included, scaled by `unit`, a
/// uniform draw from [0, 1): full jitter, anywhere between zero and the computed
/// interval, as LocalStack's AWS-validated interpreter draws it. With `NONE`, the
/// computed delay itself.
pub fn jittered_delay(retrier: &Retrier, retry: u64, unit: f64) -> Duration {
    let delay = retry_delay(retrier, retry);
    match retrier.jitter {
        Jitter::Full => delay.mul_f64(unit.clamp(0.0, 1.0)),
        Jitter::None => delay,
    }
}

/// Runs a Task, Parallel or Map state's work with its InputPath, Retry, Catch,
/// ResultSelector, ResultPath and OutputPath.
async fn with_retry_and_catch<'a, F>(
    run: &'a Arc<Run>,
    state: &'a State,
    raw_input: Value,
    retriers: &'a [Retrier],
    catchers: &'a [Catcher],
    work: F,
) -> Result<Step, AslError>
where
    F: Fn(Value, Value) -> BoxFuture<'a, Result<Value, AslError>>,
{
    let mut attempts = vec![0u64; retriers.len()];
    let mut retry_count = 0u64;
    loop {
        let entered = now_iso();
        let context = run.context(state, &entered, retry_count);
        let attempt = async {
            let effective = input_path(&state.input_path, &raw_input, &context)?;
            let result = work(context.clone(), effective).await?;
            let selector = match &state.kind {
                Kind::Task(t) => t.result_selector.as_ref(),
                Kind::Parallel(p) => p.result_selector.as_ref(),
                Kind::Map(m) => m.result_selector.as_ref(),
                _ => None,
            };
            let selected = match selector {
                Some(s) => render(s, &result, &context)?,
                None => result,
            };
            let rp = state_result_path(state);
            let merged = result_path(rp, raw_input.clone(), selected)?;
            input_path(&state.output_path, &merged, &context)
        };
        let err = match attempt.await {
            Ok(output) => return Ok(next_of(state, output)),
            Err(err) => err,
        };
        // With the history full nothing more can be recorded: no retry, no catcher.
        if run.log.is_full() {
            return Err(err);
        }
        // The first retrier whose ErrorEquals matches decides, attempts left or not.
        if let Some(index) = retriers
            .iter()
            .position(|r| error_matches(&r.error_equals, &err.error))
        {
            let retrier = &retriers[index];
            if attempts[index] < retrier.max_attempts {
                let delay = jittered_delay(retrier, attempts[index], run.random_unit());
                attempts[index] += 1;
                retry_count += 1;
                run.transitions.fetch_add(1, Ordering::SeqCst);
                run.clock.sleep(delay).await;
                continue;
            }
        }
        if let Some(catcher) = catchers
            .iter()
            .find(|c| error_matches(&c.error_equals, &err.error))
        {
            let error_output = json!({"Error": err.error, "Cause": err.cause});
            let output = result_path(&catcher.result_path, raw_input, error_output)?;
            return Ok(Step::Next {
                output,
                next: catcher.next.clone(),
            });
        }
        return Err(err);
    }
}

fn state_result_path(state: &State) -> &ResultPath {
    static ABSENT: ResultPath = ResultPath::Absent;
    match &state.kind {
        Kind::Task(t) => &t.result_path,
        Kind::Parallel(p) => &p.result_path,
        Kind::Map(m) => &m.result_path,
        Kind::Pass { result_path, .. } => result_path,
        _ => &ABSENT,
    }
}

/// The `resourceType` and `resource` of a Task's history events: for
/// `arn:aws:states:::sagemaker:createTrainingJob.sync`, `sagemaker` and
/// `createTrainingJob.sync`; a plain Lambda ARN is `lambda` / `invoke`.
pub fn resource_parts(resource: &str) -> (String, String) {
    if let Some(rest) = resource.strip_prefix("arn:aws:states:::") {
        if let Some((service, api)) = rest.split_once(':') {
            return (service.to_string(), api.to_string());
        }
    }
    if resource.contains(":lambda:") {
        return ("lambda".to_string(), "invoke".to_string());
    }
    ("unknown".to_string(), resource.to_string())
}

fn run_task<'a>(
    run: &'a Arc<Run>,
    state: &'a State,
    task: &'a Task,
    context: Value,
    effective: Value,
    cursor: &'a Cursor,
) -> BoxFuture<'a, Result<Value, AslError>> {
    Box::pin(async move {
        let parameters = match &task.parameters {
            Some(p) => render(p, &effective, &context)?,
            None => effective.clone(),
        };
        check_input_size(&parameters, "input after Parameters", &state.name)?;
        let timeout = match &task.timeout_seconds {
            Some(Expr::Literal(v)) => Some(whole_seconds(v, "TimeoutSeconds", 1)?),
            Some(Expr::Path(p)) => {
                // A miss reads like AWS's for this field ("Invalid path '$.x' : No
                // results for path: $['x']", LocalStack's AWS-recorded snapshots).
                let parsed = path::Path::parse(p).map_err(AslError::runtime)?;
                let value = parsed.resolve(&effective, &context)?;
                Some(whole_seconds(&value, "TimeoutSecondsPath", 1)?)
            }
            None => None,
        };
        let (resource_type, resource) = resource_parts(&task.resource);
        let retry_count = context["State"]["RetryCount"].as_u64().unwrap_or(0);
        run.record(
            cursor,
            EventType::TaskScheduled,
            json!({"taskScheduledEventDetails": {
                "resourceType": resource_type,
                "resource": resource,
                "region": run.region,
                "parameters": parameters.to_string(),
                "timeoutInSeconds": timeout,
            }}),
        )?;
        run.record(
            cursor,
            EventType::TaskStarted,
            json!({"taskStartedEventDetails": {"resourceType": resource_type, "resource": resource}}),
        )?;
        let request = TaskRequest {
            state_name: state.name.clone(),
            resource: task.resource.clone(),
            parameters,
            context,
            retry_count,
            timeout: timeout.map(Duration::from_secs),
        };
        let call = run.runner.run(request);
        let result = match timeout {
            Some(seconds) => {
                let limit =
                    Duration::from_secs(seconds).mul_f64(run.clock.scale.max(0.0).max(1e-9));
                match tokio::time::timeout(limit, call).await {
                    Ok(result) => result,
                    Err(_) => {
                        let err = AslError::new(
                            names::TIMEOUT,
                            format!("the task ran over its TimeoutSeconds ({seconds} s)"),
                        );
                        run.record(
                            cursor,
                            EventType::TaskTimedOut,
                            json!({"taskTimedOutEventDetails": {
                                "resourceType": resource_type, "resource": resource,
                                "error": err.error, "cause": err.cause,
                            }}),
                        )?;
                        return Err(err);
                    }
                }
            }
            None => call.await,
        };
        // A result over the payload quota fails the task itself, before
        // ResultSelector could trim it (docs: concepts-error-handling,
        // States.DataLimitExceeded "when the output of a connector is larger than
        // payload size quota"). AWS records it as the task's failure and names the
        // service (`lambda`) or, for a plain ARN, the ARN (LocalStack's AWS-recorded
        // snapshots, error_handling/test_states_errors).
        let source = if task.resource.starts_with("arn:aws:states:::") {
            resource_type.as_str()
        } else {
            task.resource.as_str()
        };
        let result = result.and_then(|output| check_result_size(&output, source).map(|()| output));
        match result {
            Ok(output) => {
                run.record(
                    cursor,
                    EventType::TaskSucceeded,
                    json!({"taskSucceededEventDetails": {
                        "resourceType": resource_type, "resource": resource,
                        "output": output.to_string(),
                        "outputDetails": {"truncated": false},
                    }}),
                )?;
                Ok(output)
            }
            Err(err) => {
                run.record(
                    cursor,
                    EventType::TaskFailed,
                    json!({"taskFailedEventDetails": {
                        "resourceType": resource_type, "resource": resource,
                        "error": err.error, "cause": err.cause,
                    }}),
                )?;
                Err(err)
            }
        }
    })
}

fn run_parallel<'a>(
    run: &'a Arc<Run>,
    parallel: &'a Parallel,
    context: Value,
    effective: Value,
    cursor: &'a Cursor,
) -> BoxFuture<'a, Result<Value, AslError>> {
    Box::pin(async move {
        let branch_input = match &parallel.parameters {
            Some(p) => render(p, &effective, &context)?,
            None => effective,
        };
        let started = run.record(cursor, EventType::ParallelStateStarted, Value::Null)?;
        let branches = parallel
            .branches
            .iter()
            .map(|branch| run_scope(run, branch, branch_input.clone(), Cursor::new(started)));
        // The first failure drops (cancels) the other branches, as AWS stops them,
        // and the state fails with the branch's own error and cause (docs:
        // state-parallel; no States.BranchFailed wrapper, as in LocalStack's
        // AWS-validated interpreter).
        match futures::future::try_join_all(branches).await {
            Ok(outputs) => {
                // After the event that ended the last branch.
                cursor.set(run.log.last_id());
                run.record(cursor, EventType::ParallelStateSucceeded, Value::Null)?;
                Ok(Value::Array(outputs))
            }
            Err(err) => {
                cursor.set(run.log.last_id());
                run.record(
                    cursor,
                    EventType::ParallelStateFailed,
                    json!({
                        "stateFailedEventDetails": {"error": err.error, "cause": err.cause}
                    }),
                )?;
                Err(err)
            }
        }
    })
}

/// A Map state's `MaxConcurrency` / `MaxConcurrencyPath` as a number of iterations
/// at once: 0 means no limit of its own, which an inline Map caps at
/// [`INLINE_MAP_MAX_CONCURRENCY`].
fn map_concurrency(map: &MapState, effective: &Value, context: &Value) -> Result<usize, AslError> {
    let limit = match &map.max_concurrency {
        Expr::Literal(v) => v.as_u64().unwrap_or(0),
        Expr::Path(p) => {
            let value = path::read(p, "MaxConcurrencyPath", effective, context)?;
            // AWS's wording for a value that is not a whole number (LocalStack's
            // AWS-recorded snapshots, scenarios/test_max_concurrency_path).
            value.as_u64().ok_or_else(|| {
                let shown = match &value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                AslError::runtime(format!(
                    "The MaxConcurrencyPath field refers to value \"{shown}\" which is not a valid integer: {p}"
                ))
            })?
        }
    };
    Ok(match limit {
        0 => INLINE_MAP_MAX_CONCURRENCY,
        n => usize::try_from(n).unwrap_or(INLINE_MAP_MAX_CONCURRENCY),
    })
}

fn run_map<'a>(
    run: &'a Arc<Run>,
    state: &'a State,
    map: &'a MapState,
    context: Value,
    effective: Value,
    cursor: &'a Cursor,
) -> BoxFuture<'a, Result<Value, AslError>> {
    Box::pin(async move {
        let items = input_path(&map.items_path, &effective, &context)?;
        let Value::Array(items) = items else {
            return Err(AslError::runtime(format!(
                "the ItemsPath of Map state {:?} must select an array, not {} ({items})",
                state.name,
                json_type(&items)
            )));
        };
        let limit = map_concurrency(map, &effective, &context)?;
        let started = run.record(
            cursor,
            EventType::MapStateStarted,
            json!({"mapStateStartedEventDetails": {"length": items.len()}}),
        )?;
        let permits = Arc::new(Semaphore::new(limit.max(1)));
        let iterations = items.into_iter().enumerate().map(|(index, item)| {
            let permits = Arc::clone(&permits);
            // `$$.Map.Item` exists for the ItemSelector only (see Run::context).
            let mut item_context = context.clone();
            item_context["Map"] = json!({"Item": {"Index": index, "Value": item}});
            let effective = &effective;
            async move {
                let _permit = permits
                    .acquire()
                    .await
                    .map_err(|_| AslError::runtime("map concurrency limiter closed"))?;
                let iteration_input = match &map.item_selector {
                    Some(selector) => render(selector, effective, &item_context)?,
                    None => item,
                };
                let details = json!({"mapIterationStartedEventDetails": {"name": state.name, "index": index}});
                let it = Cursor::new(started);
                run.record(&it, EventType::MapIterationStarted, details)?;
                match run_scope(run, &map.processor, iteration_input, it.clone()).await {
                    Ok(output) => {
                        run.record(
                            &it,
                            EventType::MapIterationSucceeded,
                            json!({"mapIterationSucceededEventDetails": {"name": state.name, "index": index}}),
                        )?;
                        Ok(output)
                    }
                    Err(err) => {
                        run.record(
                            &it,
                            EventType::MapIterationFailed,
                            json!({"mapIterationFailedEventDetails": {"name": state.name, "index": index}}),
                        )?;
                        Err(err)
                    }
                }
            }
        });
        match futures::future::try_join_all(iterations).await {
            Ok(outputs) => {
                // After the event that ended the last iteration.
                cursor.set(run.log.last_id());
                run.record(cursor, EventType::MapStateSucceeded, Value::Null)?;
                Ok(Value::Array(outputs))
            }
            Err(err) => {
                cursor.set(run.log.last_id());
                run.record(
                    cursor,
                    EventType::MapStateFailed,
                    json!({
                        "stateFailedEventDetails": {"error": err.error, "cause": err.cause}
                    }),
                )?;
                Err(err)
            }
        }
    })
}
