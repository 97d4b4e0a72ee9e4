//! SageMaker hyperparameters: a map of strings to strings, with API limits.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::FunctionError;
use crate::json::{child_path, type_name, Object};

/// CreateTrainingJob limits (API reference, 2026): at most 100 keys, keys of at most
/// 256 characters, values of at most 2,500.
pub const MAX_KEYS: usize = 100;
pub const MAX_KEY_LEN: usize = 256;
pub const MAX_VALUE_LEN: usize = 2500;

/// Turns a JSON object into SageMaker's string-only map: strings as they are,
/// numbers in their JSON spelling, booleans as `true` / `false`, arrays and objects as
/// compact JSON (what the SageMaker framework containers decode). `null` is refused:
/// it has no faithful string form, and silently sending `"null"` hides a mistake.
pub fn stringify(object: &Object<'_>) -> Result<BTreeMap<String, String>, FunctionError> {
    let map = object.map();
    if map.len() > MAX_KEYS {
        return Err(FunctionError::invalid(
            object.path(),
            format!(
                "has {} keys; SageMaker accepts at most {MAX_KEYS}",
                map.len()
            ),
        ));
    }
    let mut out = BTreeMap::new();
    for (key, value) in map {
        let path = child_path(object.path(), key);
        if key.is_empty() || key.chars().count() > MAX_KEY_LEN {
            return Err(FunctionError::invalid(
                &path,
                format!("keys must be 1 to {MAX_KEY_LEN} characters long"),
            ));
        }
        if key.chars().any(char::is_control) {
            return Err(FunctionError::invalid(
                &path,
                "keys must not contain control characters",
            ));
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Array(_) | Value::Object(_) => value.to_string(),
            Value::Null => {
                return Err(FunctionError::invalid(
                    &path,
                    format!(
                        "must be a string, number, boolean, array or object, got {}",
                        type_name(value)
                    ),
                ))
            }
        };
        if text.chars().count() > MAX_VALUE_LEN {
            return Err(FunctionError::invalid(
                &path,
                format!(
                    "is {} characters once stringified; SageMaker accepts at most {MAX_VALUE_LEN}",
                    text.chars().count()
                ),
            ));
        }
        out.insert(key.clone(), text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(value: Value) -> Result<BTreeMap<String, String>, FunctionError> {
        let object = Object::new("$.text_model.hyperparameters", &value).unwrap();
        stringify(&object)
    }

    #[test]
    fn every_value_becomes_a_string() {
        let out = run(json!({
            "epochs": 80, "max_lr": 0.1, "min_lr": 1e-4, "dropout": "0.5",
            "shuffle": true, "layers": [64, 32], "schedule": {"kind": "cosine"}
        }))
        .unwrap();
        assert_eq!(out["epochs"], "80");
        assert_eq!(out["max_lr"], "0.1");
        assert_eq!(out["min_lr"].parse::<f64>().unwrap(), 1e-4);
        assert_eq!(out["dropout"], "0.5");
        assert_eq!(out["shuffle"], "true");
        assert_eq!(out["layers"], "[64,32]");
        assert_eq!(out["schedule"], r#"{"kind":"cosine"}"#);
    }

    #[test]
    fn null_is_refused_with_its_path() {
        let err = run(json!({"epochs": null})).unwrap_err();
        assert!(
            err.message
                .starts_with("$.text_model.hyperparameters.epochs: "),
            "{}",
            err.message
        );
    }

    #[test]
    fn limits_are_enforced_at_their_edges() {
        let at_limit: serde_json::Map<String, Value> =
            (0..MAX_KEYS).map(|i| (format!("k{i}"), json!(i))).collect();
        assert!(run(Value::Object(at_limit.clone())).is_ok());
        let mut over = at_limit;
        over.insert("one-more".into(), json!(1));
        assert!(run(Value::Object(over))
            .unwrap_err()
            .message
            .contains("at most 100"));

        assert!(run(json!({ "k".repeat(MAX_KEY_LEN): 1 })).is_ok());
        assert!(run(json!({ "k".repeat(MAX_KEY_LEN + 1): 1 })).is_err());
        assert!(run(json!({"v": "x".repeat(MAX_VALUE_LEN)})).is_ok());
        let err = run(json!({"v": "x".repeat(MAX_VALUE_LEN + 1)})).unwrap_err();
        assert!(err.message.contains("at most 2500"), "{}", err.message);
        assert!(run(json!({"": 1})).is_err());
    }
}
