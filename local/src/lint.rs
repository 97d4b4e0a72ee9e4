//! Checks of a valid definition against the practices this project is built on
//! (the talk's lessons and AWS's advice): every failure is caught and ends in a
//! `Fail` state, Lambda service errors are retried, SageMaker job names change per
//! retry, `.sync` results are trimmed. Findings are warnings: AWS accepts such
//! definitions, they just fail worse.

use std::collections::{BTreeSet, VecDeque};

use serde_json::Value;

use crate::asl::names;
use crate::definition::{targets, Kind, StateMachine, Transition};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// JSON pointer of the state (or field) concerned.
    pub at: String,
    pub message: String,
}

/// The Lambda errors AWS advises retrying (docs: bp-lambda-serviceexception).
pub const LAMBDA_TRANSIENT: &[&str] = &[
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
];

fn pointer(name: &str) -> String {
    format!("/States/{}", name.replace('~', "~0").replace('/', "~1"))
}

/// Every finding for the top-level scope (branches and processors are checked for
/// the per-task practices; catching is their parent's job).
pub fn lint(machine: &StateMachine) -> Vec<Finding> {
    let mut findings = Vec::new();
    check_failures(machine, &mut findings);
    check_tasks(machine, "", &mut findings, 0);
    findings
}

/// Every Task, Parallel and Map of the top level catches `States.ALL`, and no path
/// from a Catch reaches a `Succeed` state or an `End` outside a `Fail` state.
fn check_failures(machine: &StateMachine, findings: &mut Vec<Finding>) {
    let catchers_of = |kind: &Kind| match kind {
        Kind::Task(t) => Some(t.catch.clone()),
        Kind::Parallel(p) => Some(p.catch.clone()),
        Kind::Map(m) => Some(m.catch.clone()),
        _ => None,
    };
    let catch_targets: BTreeSet<String> = machine
        .states
        .values()
        .filter_map(|state| catchers_of(&state.kind))
        .flatten()
        .map(|c| c.next)
        .collect();
    // The failure path: every state reachable from a Catch. Walk it forward.
    let mut failure_path = BTreeSet::new();
    let mut queue: VecDeque<String> = catch_targets.into_iter().collect();
    while let Some(name) = queue.pop_front() {
        if !failure_path.insert(name.clone()) {
            continue;
        }
        let Some(state) = machine.state(&name) else {
            continue;
        };
        match (&state.kind, &state.transition) {
            (Kind::Succeed, _) => findings.push(Finding {
                at: pointer(&name),
                message: "a caught error can reach this Succeed state: the execution \
                          would look successful"
                    .into(),
            }),
            (Kind::Fail { .. }, _) => {}
            (_, Transition::End) => findings.push(Finding {
                at: pointer(&name),
                message: "a caught error can end the execution here, successfully: \
                          end failure paths in a Fail state"
                    .into(),
            }),
            _ => {}
        }
        for (_, target) in targets(state) {
            queue.push_back(target.to_string());
        }
    }
    // Outside the failure path, every error must be caught into it. (On the path
    // itself an uncaught error fails the execution anyway.)
    for (name, state) in &machine.states {
        let Some(catchers) = catchers_of(&state.kind) else {
            continue;
        };
        if failure_path.contains(name) {
            continue;
        }
        if !catchers
            .iter()
            .any(|c| c.error_equals.iter().any(|e| e == names::ALL))
        {
            findings.push(Finding {
                at: pointer(name),
                message: "no Catch for States.ALL: an error here ends the execution \
                          without going through the failure path"
                    .into(),
            });
        }
    }
}

fn check_tasks(machine: &StateMachine, prefix: &str, findings: &mut Vec<Finding>, depth: usize) {
    for (name, state) in &machine.states {
        let at = format!("{prefix}{}", pointer(name));
        match &state.kind {
            Kind::Task(task) => {
                let retried: BTreeSet<&str> = task
                    .retry
                    .iter()
                    .flat_map(|r| r.error_equals.iter().map(String::as_str))
                    .collect();
                let lambda = task.resource == "arn:aws:states:::lambda:invoke"
                    || task.resource.starts_with("arn:aws:lambda:");
                if lambda
                    && !retried.contains(names::ALL)
                    && LAMBDA_TRANSIENT.iter().any(|e| !retried.contains(e))
                {
                    findings.push(Finding {
                        at: format!("{at}/Retry"),
                        message: format!(
                            "a Lambda task should retry {} (AWS's advice: they are \
                             transient)",
                            LAMBDA_TRANSIENT.join(", ")
                        ),
                    });
                }
                let job_name_field = if task.resource.contains("sagemaker:createTrainingJob") {
                    Some("TrainingJobName")
                } else if task.resource.contains("sagemaker:createTransformJob") {
                    Some("TransformJobName")
                } else {
                    None
                };
                if let (Some(field), false) = (job_name_field, task.retry.is_empty()) {
                    let dynamic = task
                        .parameters
                        .as_ref()
                        .and_then(|p| p.get(format!("{field}.$")))
                        .and_then(Value::as_str)
                        .is_some_and(|expr| expr.contains("$$.State.RetryCount"));
                    if !dynamic {
                        findings.push(Finding {
                            at: format!("{at}/Parameters/{field}"),
                            message: format!(
                                "a retried {field} must change per attempt (SageMaker \
                                 names are unique forever: a retry with the same name \
                                 fails with ResourceInUse); build it with \
                                 $$.State.RetryCount"
                            ),
                        });
                    }
                }
                if task.resource.ends_with(".sync") && task.result_selector.is_none() {
                    let kept = !matches!(
                        state_result_path(state),
                        Some(crate::definition::ResultPath::Null)
                    );
                    if kept {
                        findings.push(Finding {
                            at: format!("{at}/ResultSelector"),
                            message: "a .sync result is the whole job description: trim it \
                                      with ResultSelector (or drop it with ResultPath null) \
                                      to stay under the 256 KiB state limit"
                                .into(),
                        });
                    }
                }
            }
            Kind::Parallel(p) if depth < 16 => {
                for (i, branch) in p.branches.iter().enumerate() {
                    check_tasks(branch, &format!("{at}/Branches/{i}"), findings, depth + 1);
                }
            }
            Kind::Map(m) if depth < 16 => {
                check_tasks(
                    &m.processor,
                    &format!("{at}/ItemProcessor"),
                    findings,
                    depth + 1,
                );
            }
            _ => {}
        }
    }
}

fn state_result_path(state: &crate::definition::State) -> Option<&crate::definition::ResultPath> {
    match &state.kind {
        Kind::Task(t) => Some(&t.result_path),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn findings(definition: Value) -> Vec<Finding> {
        lint(&StateMachine::parse(&definition).unwrap())
    }

    #[test]
    fn the_project_state_machine_follows_its_own_rules() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../statemachine/ensemble-training.asl.json"
        );
        let machine = StateMachine::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(lint(&machine), Vec::<Finding>::new());
    }

    #[test]
    fn an_uncaught_task_and_a_failure_path_to_success_are_found() {
        let found = findings(json!({"StartAt": "A", "States": {
            "A": {"Type": "Task", "Resource": "x", "Next": "B",
                  "Catch": [{"ErrorEquals": ["Custom"], "Next": "Handle"}]},
            "B": {"Type": "Task", "Resource": "x", "End": true},
            "Handle": {"Type": "Pass", "Next": "Done"},
            "Done": {"Type": "Succeed"}
        }}));
        let text: Vec<String> = found
            .iter()
            .map(|f| format!("{} {}", f.at, f.message))
            .collect();
        assert!(
            text.iter()
                .any(|t| t.starts_with("/States/A no Catch for States.ALL")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("/States/B no Catch for States.ALL")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("/States/Done a caught error can reach")),
            "{text:#?}"
        );
    }

    #[test]
    fn lambda_retries_job_names_and_sync_results_are_checked() {
        let found = findings(json!({"StartAt": "L", "States": {
            "L": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "T",
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}]},
            "T": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                  "Parameters": {"TrainingJobName": "fixed"},
                  "Retry": [{"ErrorEquals": ["SageMaker.AmazonSageMakerException"]}],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}], "End": true},
            "F": {"Type": "Fail"}
        }}));
        let ats: Vec<&str> = found.iter().map(|f| f.at.as_str()).collect();
        assert_eq!(
            ats,
            [
                "/States/L/Retry",
                "/States/T/Parameters/TrainingJobName",
                "/States/T/ResultSelector"
            ]
        );
    }
}
