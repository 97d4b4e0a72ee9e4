//! A state machine as a Mermaid flowchart or a Graphviz DOT graph, Parallel branches
//! and Map processors as subgraphs, with an execution's path highlighted when its
//! history is given (the states it entered, and the states it failed in).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde_json::Value;

use crate::definition::{targets, Kind, State, StateMachine, Transition};

/// What an execution did to each state, read from its history events.
#[derive(Debug, Default, Clone)]
pub struct Visits {
    pub entered: BTreeSet<String>,
    pub failed: BTreeSet<String>,
}

impl Visits {
    /// Reads `stateEnteredEventDetails.name` of every `*StateEntered` event; a state
    /// whose entry is followed by its scope's failure (a `FailStateEntered`, or a
    /// `TaskFailed` not followed by the state's exit) is marked failed.
    pub fn from_history(events: &[Value]) -> Visits {
        let mut visits = Visits::default();
        let mut open: BTreeMap<String, bool> = BTreeMap::new();
        for event in events {
            let kind = event
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let entered = event
                .pointer("/stateEnteredEventDetails/name")
                .and_then(Value::as_str);
            let exited = event
                .pointer("/stateExitedEventDetails/name")
                .and_then(Value::as_str);
            if let Some(name) = entered {
                visits.entered.insert(name.to_string());
                if kind == "FailStateEntered" {
                    visits.failed.insert(name.to_string());
                } else {
                    open.insert(name.to_string(), true);
                }
            }
            if let Some(name) = exited {
                open.remove(name);
            }
        }
        let ended_in_failure = events
            .last()
            .and_then(|e| e.get("type"))
            .and_then(Value::as_str)
            .is_some_and(|t| t == "ExecutionFailed" || t == "ExecutionTimedOut");
        if ended_in_failure {
            visits.failed.extend(open.into_keys());
        }
        visits
    }
}

/// Mermaid node ids must be plain; state names may hold anything.
fn node_id(prefix: &str, name: &str) -> String {
    let mut id = String::from(prefix);
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c);
        } else {
            let _ = write!(id, "_{:x}_", c as u32);
        }
    }
    id
}

/// The Choice rule behind a `Choices/<i>/Next` target.
fn choice_rule<'s>(state: &'s State, field: &str) -> Option<&'s crate::asl::choice::Rule> {
    let index: usize = field
        .strip_prefix("Choices/")?
        .strip_suffix("/Next")?
        .parse()
        .ok()?;
    match &state.kind {
        Kind::Choice { choices, .. } => choices.get(index),
        _ => None,
    }
}

fn label(name: &str) -> String {
    name.replace('"', "#quot;")
}

/// The Mermaid flowchart (`flowchart TD`).
pub fn mermaid(machine: &StateMachine, visits: Option<&Visits>) -> String {
    let mut out = String::from("flowchart TD\n");
    let mut classes: Vec<(String, &'static str)> = Vec::new();
    mermaid_scope(machine, "s_", 1, &mut out, &mut classes, visits, 0);
    if visits.is_some() {
        out.push_str("    classDef entered fill:#d4edda,stroke:#28a745,stroke-width:2px\n");
        out.push_str("    classDef failed fill:#f8d7da,stroke:#dc3545,stroke-width:2px\n");
        for (id, class) in classes {
            let _ = writeln!(out, "    class {id} {class}");
        }
    }
    out
}

fn mermaid_scope(
    machine: &StateMachine,
    prefix: &str,
    indent: usize,
    out: &mut String,
    classes: &mut Vec<(String, &'static str)>,
    visits: Option<&Visits>,
    depth: usize,
) {
    let pad = "    ".repeat(indent);
    let start = format!("{prefix}start");
    let _ = writeln!(out, "{pad}{start}(( ))");
    let _ = writeln!(
        out,
        "{pad}{start} --> {}",
        node_id(prefix, &machine.start_at)
    );
    for (name, state) in &machine.states {
        let id = node_id(prefix, name);
        let shape = match &state.kind {
            Kind::Choice { .. } => format!("{id}{{\"{}\"}}", label(name)),
            Kind::Succeed => format!("{id}([\"{}\"])", label(name)),
            Kind::Fail { .. } => format!("{id}[[\"{}\"]]", label(name)),
            _ => format!("{id}[\"{}\"]", label(name)),
        };
        let _ = writeln!(out, "{pad}{shape}");
        if let Some(v) = visits {
            if v.failed.contains(name) {
                classes.push((id.clone(), "failed"));
            } else if v.entered.contains(name) {
                classes.push((id.clone(), "entered"));
            }
        }
        let inner: Vec<&StateMachine> = match &state.kind {
            Kind::Parallel(p) => p.branches.iter().collect(),
            Kind::Map(m) => vec![&m.processor],
            _ => Vec::new(),
        };
        if !inner.is_empty() && depth < 16 {
            for (i, branch) in inner.iter().enumerate() {
                let sub_prefix = format!("{id}_b{i}_");
                let _ = writeln!(
                    out,
                    "{pad}subgraph {sub_prefix}graph [\"{} #{}\"]",
                    label(name),
                    i + 1
                );
                mermaid_scope(
                    branch,
                    &sub_prefix,
                    indent + 1,
                    out,
                    classes,
                    visits,
                    depth + 1,
                );
                let _ = writeln!(out, "{pad}end");
                let _ = writeln!(out, "{pad}{id} -.-> {sub_prefix}start");
            }
        }
        for (field, target) in targets(state) {
            let arrow = if field.starts_with("Catch") {
                "-. catch .->".to_string()
            } else if field == "Default" {
                "-->|default|".to_string()
            } else if let Some(rule) = choice_rule(state, &field) {
                format!("-->|\"{}\"|", label(&rule.describe()))
            } else {
                "-->".to_string()
            };
            let _ = writeln!(out, "{pad}{id} {arrow} {}", node_id(prefix, target));
        }
        if state.transition == Transition::End {
            let _ = writeln!(out, "{pad}{id} --> {prefix}end(( ))");
        }
    }
}

/// The same graph in DOT.
pub fn dot(machine: &StateMachine, visits: Option<&Visits>) -> String {
    let mut out = String::from("digraph state_machine {\n  node [shape=box, style=rounded];\n");
    dot_scope(machine, "s_", &mut out, visits, 0);
    out.push_str("}\n");
    out
}

fn dot_scope(
    machine: &StateMachine,
    prefix: &str,
    out: &mut String,
    visits: Option<&Visits>,
    depth: usize,
) {
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let start = format!("{prefix}start");
    let _ = writeln!(out, "  {} [shape=point];", quote(&start));
    let _ = writeln!(
        out,
        "  {} -> {};",
        quote(&start),
        quote(&format!("{prefix}{}", machine.start_at))
    );
    for (name, state) in &machine.states {
        let id = format!("{prefix}{name}");
        let shape = match &state.kind {
            Kind::Choice { .. } => "diamond",
            Kind::Succeed => "doublecircle",
            Kind::Fail { .. } => "octagon",
            _ => "box",
        };
        let color = visits.map(|v| {
            if v.failed.contains(name) {
                ", style=filled, fillcolor=\"#f8d7da\""
            } else if v.entered.contains(name) {
                ", style=filled, fillcolor=\"#d4edda\""
            } else {
                ""
            }
        });
        let _ = writeln!(
            out,
            "  {} [label={}, shape={shape}{}];",
            quote(&id),
            quote(name),
            color.unwrap_or("")
        );
        let inner: Vec<&StateMachine> = match &state.kind {
            Kind::Parallel(p) => p.branches.iter().collect(),
            Kind::Map(m) => vec![&m.processor],
            _ => Vec::new(),
        };
        if depth < 16 {
            for (i, branch) in inner.iter().enumerate() {
                let sub = format!("{id}/{i}/");
                let _ = writeln!(
                    out,
                    "  subgraph {} {{ label={};",
                    quote(&format!("cluster_{sub}")),
                    quote(&format!("{name} #{}", i + 1))
                );
                dot_scope(branch, &sub, out, visits, depth + 1);
                out.push_str("  }\n");
                let _ = writeln!(
                    out,
                    "  {} -> {} [style=dotted];",
                    quote(&id),
                    quote(&format!("{sub}start"))
                );
            }
        }
        for (field, target) in targets(state) {
            let style = if field.starts_with("Catch") {
                " [style=dashed, label=catch]"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  {} -> {}{style};",
                quote(&id),
                quote(&format!("{prefix}{target}"))
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn machine() -> StateMachine {
        StateMachine::parse(&json!({"StartAt": "A", "States": {
            "A": {"Type": "Task", "Resource": "x", "Next": "C",
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Oops"}]},
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": true, "Next": "P"}], "Default": "Done"},
            "P": {"Type": "Parallel", "Branches": [
                {"StartAt": "B1", "States": {"B1": {"Type": "Pass", "End": true}}}
            ], "Next": "Done"},
            "Done": {"Type": "Succeed"},
            "Oops": {"Type": "Fail", "Error": "E"}
        }}))
        .unwrap()
    }

    #[test]
    fn mermaid_has_every_state_edge_and_branch() {
        let text = mermaid(&machine(), None);
        assert!(text.starts_with("flowchart TD\n"));
        for needle in [
            "s_A[\"A\"]",
            "s_C{\"C\"}",
            "s_Done([\"Done\"])",
            "s_Oops[[\"Oops\"]]",
            "s_A -. catch .-> s_Oops",
            "s_C -->|default| s_Done",
            "s_C -->|\"x is present\"| s_P",
            "subgraph s_P_b0_graph",
            "s_P_b0_B1[\"B1\"]",
        ] {
            assert!(text.contains(needle), "{needle:?} missing in\n{text}");
        }
    }

    #[test]
    fn the_path_of_an_execution_is_highlighted() {
        let history = vec![
            json!({"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "A"}}),
            json!({"type": "TaskStateExited", "stateExitedEventDetails": {"name": "A"}}),
            json!({"type": "FailStateEntered", "stateEnteredEventDetails": {"name": "Oops"}}),
            json!({"type": "ExecutionFailed"}),
        ];
        let visits = Visits::from_history(&history);
        let text = mermaid(&machine(), Some(&visits));
        assert!(text.contains("class s_A entered"), "{text}");
        assert!(text.contains("class s_Oops failed"), "{text}");
        assert!(!text.contains("class s_C "), "{text}");
        let dot_text = dot(&machine(), Some(&visits));
        assert!(
            dot_text
                .contains("\"s_A\" [label=\"A\", shape=box, style=filled, fillcolor=\"#d4edda\"]"),
            "{dot_text}"
        );
    }

    #[test]
    fn odd_state_names_make_valid_ids() {
        assert_eq!(
            node_id("s_", "Train Text Model?"),
            "s_Train_20_Text_20_Model_3f_"
        );
    }
}
