//! Reading the state machine definition and the SAM template for the static tests:
//! scopes, transitions, JSONPath references and a small JSONPath resolver.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;

use serde_json::Value;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

pub fn read_repo_file(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub fn definition() -> Value {
    serde_json::from_str(&read_repo_file("statemachine/ensemble-training.asl.json"))
        .unwrap_or_else(|e| panic!("the ASL is not JSON: {e}"))
}

/// One `States` object: the top level or a Parallel branch.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    /// `"top"`, or `"<Parallel state> branch <n>"`.
    pub name: String,
    pub start_at: &'a str,
    pub states: &'a serde_json::Map<String, Value>,
}

/// The top-level scope first, then every branch (and Map processor), depth first.
pub fn scopes(definition: &Value) -> Vec<Scope<'_>> {
    let mut out = Vec::new();
    collect_scopes("top".to_string(), definition, &mut out);
    out
}

fn collect_scopes<'a>(name: String, machine: &'a Value, out: &mut Vec<Scope<'a>>) {
    let (Some(start_at), Some(states)) =
        (machine["StartAt"].as_str(), machine["States"].as_object())
    else {
        panic!("{name}: StartAt and States are required");
    };
    out.push(Scope {
        name,
        start_at,
        states,
    });
    for (state_name, state) in states {
        if let Some(branches) = state["Branches"].as_array() {
            for (i, branch) in branches.iter().enumerate() {
                collect_scopes(format!("{state_name} branch {i}"), branch, out);
            }
        }
        for key in ["ItemProcessor", "Iterator"] {
            if state[key].is_object() {
                collect_scopes(format!("{state_name} {key}"), &state[key], out);
            }
        }
    }
}

/// Where a state can go: `Next`, `Default`, every Choice rule's `Next`, every Catch.
pub fn successors(state: &Value) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(next) = state["Next"].as_str() {
        out.push(("Next", next.to_string()));
    }
    if let Some(default) = state["Default"].as_str() {
        out.push(("Default", default.to_string()));
    }
    for choice in state["Choices"].as_array().into_iter().flatten() {
        if let Some(next) = choice["Next"].as_str() {
            out.push(("Choice", next.to_string()));
        }
    }
    for catcher in state["Catch"].as_array().into_iter().flatten() {
        if let Some(next) = catcher["Next"].as_str() {
            out.push(("Catch", next.to_string()));
        }
    }
    out
}

/// States reachable from `start` through `successors`, `start` included.
pub fn reachable(states: &serde_json::Map<String, Value>, start: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([start.to_string()]);
    while let Some(name) = queue.pop_front() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(state) = states.get(&name) {
            for (_, next) in successors(state) {
                queue.push_back(next);
            }
        }
    }
    seen
}

/// Every path from `start` (following every edge, Catch included) as a list of
/// state names, ending at a state with no successor. Loops are cut at the first
/// repeat (the loop's body was already seen once on that path).
pub fn paths_from(states: &serde_json::Map<String, Value>, start: &str) -> Vec<Vec<String>> {
    fn walk(
        states: &serde_json::Map<String, Value>,
        current: &str,
        path: &mut Vec<String>,
        out: &mut Vec<Vec<String>>,
    ) {
        if path.iter().any(|s| s == current) {
            return;
        }
        path.push(current.to_string());
        let next: Vec<String> = states
            .get(current)
            .map(|s| successors(s).into_iter().map(|(_, n)| n).collect())
            .unwrap_or_default();
        if next.is_empty() {
            out.push(path.clone());
        }
        for n in next {
            walk(states, &n, path, out);
        }
        path.pop();
    }
    let mut out = Vec::new();
    walk(states, start, &mut Vec::new(), &mut out);
    out
}

/// `${Name}` placeholders used anywhere in the definition text.
pub fn placeholders(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                out.insert(after[..end].to_string());
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    out
}

/// Every JSONPath a state reads from its input, with where it was found. Covers
/// `.$` keys (plain paths and the paths inside intrinsic functions), Choice
/// `Variable`s and `...Path` comparators, and the `InputPath` / `OutputPath` /
/// `ItemsPath` / `CausePath` / `ErrorPath` fields. Context-object paths (`$$.`) and
/// the task result (`ResultSelector`, which reads the result, not the input) are
/// left out; `ResultSelector` reads are returned by [`result_selector_reads`].
pub fn input_reads(state: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for key in ["InputPath", "ItemsPath", "CausePath", "ErrorPath"] {
        if let Some(path) = state[key].as_str() {
            out.push((key.to_string(), path.to_string()));
        }
    }
    for key in ["Parameters", "ItemSelector"] {
        collect_dollar_keys(&state[key], key, &mut out);
    }
    for choice in state["Choices"].as_array().into_iter().flatten() {
        collect_choice_paths(choice, &mut out);
    }
    out.retain(|(_, p)| p.starts_with("$.") || p == "$" || p.starts_with("$["));
    out
}

pub fn result_selector_reads(state: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    collect_dollar_keys(&state["ResultSelector"], "ResultSelector", &mut out);
    out.retain(|(_, p)| p.starts_with("$."));
    out
}

fn collect_choice_paths(rule: &Value, out: &mut Vec<(String, String)>) {
    if let Some(map) = rule.as_object() {
        for (key, value) in map {
            if key == "Variable" || key.ends_with("Path") {
                if let Some(path) = value.as_str() {
                    out.push((format!("Choice {key}"), path.to_string()));
                }
            }
        }
        for key in ["And", "Or"] {
            for nested in rule[key].as_array().into_iter().flatten() {
                collect_choice_paths(nested, out);
            }
        }
        if rule["Not"].is_object() {
            collect_choice_paths(&rule["Not"], out);
        }
    }
}

fn collect_dollar_keys(value: &Value, location: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let here = format!("{location}.{key}");
                match (key.ends_with(".$"), inner.as_str()) {
                    (true, Some(expr)) => {
                        for path in paths_in_expression(expr) {
                            out.push((here.clone(), path));
                        }
                    }
                    _ => collect_dollar_keys(inner, &here, out),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_dollar_keys(item, &format!("{location}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The input paths of a `.$` value: the value itself when it is a path, or every
/// path argument of an intrinsic function (string literals skipped).
pub fn paths_in_expression(expr: &str) -> Vec<String> {
    if !expr.starts_with("States.") {
        return vec![expr.to_string()];
    }
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let c = bytes[i];
        if in_string {
            if c == b'\\' {
                i += 2;
                continue;
            }
            if c == b'\'' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        if c == b'\'' {
            in_string = true;
            i += 1;
            continue;
        }
        if c == b'$' {
            let start = i;
            while i < bytes.len() && !matches!(bytes[i], b',' | b')' | b' ') {
                i += 1;
            }
            out.push(expr[start..i].to_string());
            continue;
        }
        i += 1;
    }
    out
}

/// Resolves a simple JSONPath (`$`, `.field`, `[n]`, `['field']`) in `root`.
pub fn resolve<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut rest = path.strip_prefix('$')?;
    let mut current = root;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            current = current.get(&after[..end])?;
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inside = &after[..end];
            current = match inside.parse::<usize>() {
                Ok(index) => current.get(index)?,
                Err(_) => current.get(inside.trim_matches(|c| c == '\'' || c == '"'))?,
            };
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(current)
}

/// Applies a `ResultSelector` / `Parameters` template whose `.$` values are plain
/// paths into `input`; missing paths become an error naming the key. Intrinsic
/// functions and context paths become `null` (see [`apply_template_with_context`]).
pub fn apply_template(template: &Value, input: &Value) -> Result<Value, String> {
    apply_template_with_context(template, input, None)
}

/// As [`apply_template`], with `$$.` paths resolved in `context` (the context
/// object: `{"Execution": {...}, "StateMachine": {...}, "State": {...}}`) and the
/// two intrinsic shapes the state machine uses in task parameters:
/// `States.Format('{}{}', path, path)` and `States.JsonToString(path)`.
pub fn apply_template_with_context(
    template: &Value,
    input: &Value,
    context: Option<&Value>,
) -> Result<Value, String> {
    let lookup = |path: &str| -> Option<Value> {
        match (path.strip_prefix("$$"), context) {
            (Some(rest), Some(ctx)) => resolve(ctx, &format!("${rest}")).cloned(),
            (Some(_), None) => None,
            (None, _) => resolve(input, path).cloned(),
        }
    };
    let Value::Object(map) = template else {
        return Ok(template.clone());
    };
    let mut out = serde_json::Map::new();
    for (key, value) in map {
        let (Some(name), Some(expr)) = (key.strip_suffix(".$"), value.as_str()) else {
            out.insert(
                key.clone(),
                apply_template_with_context(value, input, context)?,
            );
            continue;
        };
        let rendered = if !expr.starts_with("States.") {
            match lookup(expr) {
                Some(found) => found,
                None if expr.starts_with("$$") && context.is_none() => Value::Null,
                None => return Err(format!("{key}: {expr} matches nothing")),
            }
        } else {
            let args = paths_in_expression(expr);
            let values: Option<Vec<Value>> = args.iter().map(|p| lookup(p)).collect();
            match (values, context) {
                (Some(values), Some(_)) if expr.starts_with("States.Format('{}{}',") => {
                    Value::String(
                        values
                            .iter()
                            .map(|v| {
                                v.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| v.to_string())
                            })
                            .collect(),
                    )
                }
                (Some(values), Some(_))
                    if expr.starts_with("States.JsonToString(") && values.len() == 1 =>
                {
                    Value::String(values[0].to_string())
                }
                (None, Some(_)) => return Err(format!("{key}: a path in {expr} matches nothing")),
                _ => Value::Null,
            }
        };
        out.insert(name.to_string(), rendered);
    }
    Ok(Value::Object(out))
}

/// What generate-config returns for an example input, run through the real handler
/// and then through the ASL's own `Generate Config` ResultSelector: `$.generated`.
pub fn generated_for(example: &str, execution_name: &str) -> Value {
    let mut input: Value =
        serde_json::from_str(&read_repo_file(example)).unwrap_or_else(|e| panic!("{example}: {e}"));
    input["execution_name"] = Value::String(execution_name.to_string());
    let vars: std::collections::HashMap<String, String> = [
        ("ARTIFACT_BUCKET", "ensemble-artifacts"),
        ("ALLOWED_SOURCE_BUCKETS", "ensemble-raw-data"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = generate_config::Config::from_map(&vars).unwrap_or_else(|e| panic!("{e}"));
    let output =
        generate_config::handle(input, &config).unwrap_or_else(|e| panic!("{example}: {e}"));
    let selector = &definition()["States"]["Generate Config"]["ResultSelector"];
    apply_template(selector, &serde_json::json!({ "Payload": output }))
        .unwrap_or_else(|e| panic!("Generate Config ResultSelector: {e}"))
}

/// All Task/Parallel/Map states of the whole definition, with their scope.
pub fn all_states(definition: &Value) -> BTreeMap<String, (String, Value)> {
    let mut out = BTreeMap::new();
    for scope in scopes(definition) {
        for (name, state) in scope.states {
            out.insert(name.clone(), (scope.name.clone(), state.clone()));
        }
    }
    out
}
