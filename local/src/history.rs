//! The execution history, shaped like `GetExecutionHistory`'s `events`: each event has
//! `timestamp`, `type`, `id` (from 1), `previousEventId` and one details object named
//! after its type (`stateEnteredEventDetails`, `taskFailedEventDetails`, ...).

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::definition::Kind;
use crate::engine::now_iso;

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
}

impl EventLog {
    pub fn with_observer(observer: Option<Observer>) -> EventLog {
        EventLog {
            events: Mutex::default(),
            observer,
        }
    }

    /// Appends an event and returns its id. `details` is an object holding the
    /// event's details field (or null for events without details).
    pub fn push(&self, kind: EventType, previous: u64, details: Value) -> u64 {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
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

    pub fn last_id(&self) -> u64 {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).len() as u64
    }

    pub fn events(&self) -> Vec<Value> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
