//! The execution history, shaped like `GetExecutionHistory`'s `events`: each event has
//! `timestamp`, `type`, `id` (from 1), `previousEventId` and one details object named
//! after its type (`stateEnteredEventDetails`, `taskFailedEventDetails`, ...).
//!
//! ## The history quota
//!
//! A history holds at most [`MAX_HISTORY_EVENTS`] events (docs: service quotas,
//! "Maximum execution history size: 25,000 events"). How AWS ends an execution that
//! reaches it, from the docs page "Avoid reaching the history quota"
//! (step-functions/latest/dg/bp-history-limit.html): "When an execution reaches
//! 24,999 events, it waits for the next event to happen. If the event number 25,000
//! is `ExecutionSucceeded`, the execution finishes successfully. If the event number
//! 25,000 isn't `ExecutionSucceeded`, the `ExecutionFailed` event is logged and the
//! state machine execution fails because of reaching the history limit." So the
//! failure event is itself event 25,000 and counts toward the quota.
//!
//! The docs do not name the error. AWS reports `States.Runtime` with the cause
//! [`HISTORY_QUOTA_CAUSE`]: recorded from a real execution in floci-io/floci issue
//! #2734 (`get-execution-history` shows `ExecutionFailed` as id 25000, previous event
//! 24999, `"error":"States.Runtime"`, `"cause":"The execution reached the maximum
//! number of history events (25000)."`), and the same error and cause in the
//! execution output quoted in loads/ardere issue #86. As a `States.Runtime` error it
//! is neither retried nor caught (docs: concepts-error-handling).
//!
//! [`EventLog::push`] therefore records at most 24,999 events and refuses the next
//! one with that error; [`EventLog::close`] records the execution's closing event in
//! the place kept for it. The cap also bounds the memory a runaway loop can take.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::asl::AslError;
use crate::definition::Kind;
use crate::engine::now_iso;
use crate::util::lock;

/// The most events one execution's history holds, its closing event included (docs:
/// Step Functions service quotas, "Maximum execution history size").
pub const MAX_HISTORY_EVENTS: usize = 25_000;

/// The cause AWS gives when an execution reaches [`MAX_HISTORY_EVENTS`] (see the
/// module docs for the sources).
pub const HISTORY_QUOTA_CAUSE: &str =
    "The execution reached the maximum number of history events (25000).";

/// The `States.Runtime` error of an execution whose history is full.
pub fn history_quota_error() -> AslError {
    AslError::runtime(HISTORY_QUOTA_CAUSE)
}

/// The event types the interpreter records (names as in the API's `HistoryEventType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    ExecutionStarted,
    ExecutionSucceeded,
    ExecutionFailed,
    ExecutionTimedOut,
    PassStateEntered,
    PassStateExited,
    TaskStateEntered,
    TaskStateExited,
    ChoiceStateEntered,
    ChoiceStateExited,
    WaitStateEntered,
    WaitStateExited,
    SucceedStateEntered,
    SucceedStateExited,
    FailStateEntered,
    ParallelStateEntered,
    ParallelStateStarted,
    ParallelStateSucceeded,
    ParallelStateFailed,
    ParallelStateExited,
    MapStateEntered,
    MapStateStarted,
    MapStateSucceeded,
    MapStateFailed,
    MapStateExited,
    MapIterationStarted,
    MapIterationSucceeded,
    MapIterationFailed,
    TaskScheduled,
    TaskStarted,
    TaskSucceeded,
    TaskFailed,
    TaskTimedOut,
}

impl EventType {
    pub fn name(self) -> &'static str {
        use EventType::*;
        match self {
            ExecutionStarted => "ExecutionStarted",
            ExecutionSucceeded => "ExecutionSucceeded",
            ExecutionFailed => "ExecutionFailed",
            ExecutionTimedOut => "ExecutionTimedOut",
            PassStateEntered => "PassStateEntered",
            PassStateExited => "PassStateExited",
            TaskStateEntered => "TaskStateEntered",
            TaskStateExited => "TaskStateExited",
            ChoiceStateEntered => "ChoiceStateEntered",
            ChoiceStateExited => "ChoiceStateExited",
            WaitStateEntered => "WaitStateEntered",
            WaitStateExited => "WaitStateExited",
            SucceedStateEntered => "SucceedStateEntered",
            SucceedStateExited => "SucceedStateExited",
            FailStateEntered => "FailStateEntered",
            ParallelStateEntered => "ParallelStateEntered",
            ParallelStateStarted => "ParallelStateStarted",
            ParallelStateSucceeded => "ParallelStateSucceeded",
            ParallelStateFailed => "ParallelStateFailed",
            ParallelStateExited => "ParallelStateExited",
            MapStateEntered => "MapStateEntered",
            MapStateStarted => "MapStateStarted",
            MapStateSucceeded => "MapStateSucceeded",
            MapStateFailed => "MapStateFailed",
            MapStateExited => "MapStateExited",
            MapIterationStarted => "MapIterationStarted",
            MapIterationSucceeded => "MapIterationSucceeded",
            MapIterationFailed => "MapIterationFailed",
            TaskScheduled => "TaskScheduled",
            TaskStarted => "TaskStarted",
            TaskSucceeded => "TaskSucceeded",
            TaskFailed => "TaskFailed",
            TaskTimedOut => "TaskTimedOut",
        }
    }

    /// `<Type>StateEntered` of a state kind. A Fail state's entry is recorded as
    /// `FailStateEntered` too.
    pub fn entered(kind: &Kind) -> EventType {
        match kind {
            Kind::Pass { .. } => EventType::PassStateEntered,
            Kind::Task(_) => EventType::TaskStateEntered,
            Kind::Choice { .. } => EventType::ChoiceStateEntered,
            Kind::Wait(_) => EventType::WaitStateEntered,
            Kind::Succeed => EventType::SucceedStateEntered,
            Kind::Fail { .. } => EventType::FailStateEntered,
            Kind::Parallel(_) => EventType::ParallelStateEntered,
            Kind::Map(_) => EventType::MapStateEntered,
        }
    }

    /// `<Type>StateExited`; a Fail state has none (the execution fails instead).
    pub fn exited(kind: &Kind) -> Option<EventType> {
        Some(match kind {
            Kind::Pass { .. } => EventType::PassStateExited,
            Kind::Task(_) => EventType::TaskStateExited,
            Kind::Choice { .. } => EventType::ChoiceStateExited,
            Kind::Wait(_) => EventType::WaitStateExited,
            Kind::Succeed => EventType::SucceedStateExited,
            Kind::Fail { .. } => return None,
            Kind::Parallel(_) => EventType::ParallelStateExited,
            Kind::Map(_) => EventType::MapStateExited,
        })
    }
}

/// Called with every event as it is recorded (live progress).
pub type Observer = Arc<dyn Fn(&Value) + Send + Sync>;

/// The history, appended to by every state of every branch.
#[derive(Default)]
pub struct EventLog {
    events: Mutex<Vec<Value>>,
    observer: Option<Observer>,
    /// Set once an event was refused for want of room: from then on the execution
    /// can only fail, whichever branch notices first.
    full: AtomicBool,
}

impl EventLog {
    pub fn with_observer(observer: Option<Observer>) -> EventLog {
        EventLog {
            observer,
            ..EventLog::default()
        }
    }

    /// Appends an event that does not end the execution and returns its id, or, when
    /// only the closing event's place is left (24,999 events recorded), refuses it
    /// with [`history_quota_error`]. `details` is an object holding the event's
    /// details field (or null for events without details).
    pub fn push(&self, kind: EventType, previous: u64, details: Value) -> Result<u64, AslError> {
        let mut events = lock(&self.events);
        if events.len() + 1 >= MAX_HISTORY_EVENTS {
            self.full.store(true, Ordering::SeqCst);
            return Err(history_quota_error());
        }
        Ok(self.append(&mut events, kind, previous, details))
    }

    /// Appends the execution's closing event (`ExecutionSucceeded`, `...Failed`,
    /// `...TimedOut`). It always fits: [`EventLog::push`] keeps the last place for it.
    pub fn close(&self, kind: EventType, previous: u64, details: Value) -> u64 {
        let mut events = lock(&self.events);
        self.append(&mut events, kind, previous, details)
    }

    fn append(
        &self,
        events: &mut Vec<Value>,
        kind: EventType,
        previous: u64,
        details: Value,
    ) -> u64 {
        let id = events.len() as u64 + 1;
        let mut event = Map::new();
        event.insert("timestamp".into(), Value::String(now_iso()));
        event.insert("type".into(), Value::String(kind.name().into()));
        event.insert("id".into(), Value::from(id));
        event.insert("previousEventId".into(), Value::from(previous));
        if let Value::Object(details) = details {
            event.extend(details);
        }
        let event = Value::Object(event);
        if let Some(observer) = &self.observer {
            observer(&event);
        }
        events.push(event);
        id
    }

    /// True once an event was refused because the history is full.
    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::SeqCst)
    }

    pub fn last_id(&self) -> u64 {
        lock(&self.events).len() as u64
    }

    pub fn events(&self) -> Vec<Value> {
        lock(&self.events).clone()
    }
}
