//! Validation of raw JSON events.
//!
//! Handlers accept `serde_json::Value` rather than typed structs: a serde failure
//! inside `lambda_runtime` would surface as `&lambda_runtime::deserializer::DeserializeError`
//! with no field path. These helpers read fields one by one and name the exact
//! JSONPath of anything that does not fit.

use serde_json::{Map, Value};

use crate::error::FunctionError;

/// Describes a JSON value's type the way a user thinks of it.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON object being validated, with the JSONPath it lives at.
#[derive(Debug, Clone)]
pub struct Object<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Object<'a> {
    /// `value` must be an object; `path` is where it sits (`$` for the event).
    pub fn new(path: impl Into<String>, value: &'a Value) -> Result<Self, FunctionError> {
        let path = path.into();
        match value {
            Value::Object(map) => Ok(Object { path, map }),
            other => Err(FunctionError::invalid(
                &path,
                format!("must be a JSON object, got {}", type_name(other)),
            )),
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn map(&self) -> &'a Map<String, Value> {
        self.map
    }

    /// The JSONPath of a member.
    pub fn child(&self, key: &str) -> String {
        child_path(&self.path, key)
    }

    /// Refuses members outside `known`, so a typo (`train_txt_model`) is an error
    /// instead of a silently ignored setting.
    pub fn deny_unknown(&self, known: &[&str]) -> Result<(), FunctionError> {
        let mut unknown: Vec<&str> = self
            .map
            .keys()
            .map(String::as_str)
            .filter(|k| !known.contains(k))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        unknown.sort_unstable();
        Err(FunctionError::invalid(
            &self.child(unknown[0]),
            format!(
                "unknown field{} {}; expected one of: {}",
                if unknown.len() > 1 { "s" } else { "" },
                unknown
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                known.join(", ")
            ),
        ))
    }

    /// A member that is present and not null.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn required(&self, key: &str) -> Result<&'a Value, FunctionError> {
        self.get(key)
            .ok_or_else(|| FunctionError::invalid(&self.child(key), "is required"))
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, FunctionError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(wrong_type(&self.child(key), "a string", other)),
        }
    }

    pub fn str(&self, key: &str) -> Result<&'a str, FunctionError> {
        self.opt_str(key)?
            .ok_or_else(|| FunctionError::invalid(&self.child(key), "is required"))
    }

    /// A required string that is not empty (after trimming).
    pub fn non_empty_str(&self, key: &str) -> Result<&'a str, FunctionError> {
        let s = self.str(key)?;
        if s.trim().is_empty() {
            return Err(FunctionError::invalid(
                &self.child(key),
                "must not be empty",
            ));
        }
        Ok(s)
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, FunctionError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_type(&self.child(key), "true or false", other)),
        }
    }

    /// An optional whole number within `min..=max`.
    pub fn opt_u64_in(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, FunctionError> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => {
                let n = value.as_u64().ok_or_else(|| {
                    wrong_type(
                        &self.child(key),
                        &format!("a whole number from {min} to {max}"),
                        value,
                    )
                })?;
                if !(min..=max).contains(&n) {
                    return Err(FunctionError::invalid(
                        &self.child(key),
                        format!("must be from {min} to {max}, got {n}"),
                    ));
                }
                Ok(Some(n))
            }
        }
    }

    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>, FunctionError> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => value
                .as_f64()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| wrong_type(&self.child(key), "a number", value)),
        }
    }

    pub fn opt_object(&self, key: &str) -> Result<Option<Object<'a>>, FunctionError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Object {
                path: self.child(key),
                map,
            })),
            Some(other) => Err(wrong_type(&self.child(key), "a JSON object", other)),
        }
    }

    pub fn object(&self, key: &str) -> Result<Object<'a>, FunctionError> {
        self.opt_object(key)?
            .ok_or_else(|| FunctionError::invalid(&self.child(key), "is required"))
    }
}

/// `$.a` + `b` → `$.a.b`; keys that are not plain identifiers use bracket notation.
pub fn child_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        format!("{parent}.{key}")
    } else {
        format!("{parent}[{}]", Value::String(key.to_string()))
    }
}

pub fn wrong_type(path: &str, expected: &str, got: &Value) -> FunctionError {
    FunctionError::invalid(path, format!("must be {expected}, got {}", type_name(got)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use serde_json::json;

    #[test]
    fn non_objects_are_refused_with_their_type() {
        for (value, word) in [
            (json!(null), "null"),
            (json!([1]), "an array"),
            (json!("x"), "a string"),
            (json!(3), "a number"),
        ] {
            let err = Object::new("$", &value).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidInput);
            assert_eq!(err.message, format!("$: must be a JSON object, got {word}"));
        }
    }

    #[test]
    fn errors_name_the_nested_path() {
        let event = json!({"text_model": {"instance_count": "two"}});
        let root = Object::new("$", &event).unwrap();
        let model = root.object("text_model").unwrap();
        let err = model.opt_u64_in("instance_count", 1, 100).unwrap_err();
        assert_eq!(
            err.message,
            "$.text_model.instance_count: must be a whole number from 1 to 100, got a string"
        );
    }

    #[test]
    fn unknown_fields_are_listed() {
        let event = json!({"input_data": "s3://b/p/", "train_txt_model": false});
        let err = Object::new("$", &event)
            .unwrap()
            .deny_unknown(&["input_data", "train_text_model"])
            .unwrap_err();
        assert!(err
            .message
            .starts_with("$.train_txt_model: unknown field `train_txt_model`"));
    }

    #[test]
    fn odd_keys_use_bracket_notation() {
        assert_eq!(child_path("$", "a b"), "$[\"a b\"]");
        assert_eq!(child_path("$.h", "learning-rate"), "$.h[\"learning-rate\"]");
        assert_eq!(child_path("$", "epochs"), "$.epochs");
    }

    #[test]
    fn null_counts_as_absent() {
        let event = json!({"x": null});
        let root = Object::new("$", &event).unwrap();
        assert_eq!(root.opt_str("x").unwrap(), None);
        assert_eq!(root.required("x").unwrap_err().message, "$.x: is required");
    }

    #[test]
    fn ranges_are_enforced() {
        let event = json!({"n": 0, "f": "1"});
        let root = Object::new("$", &event).unwrap();
        assert_eq!(
            root.opt_u64_in("n", 1, 5).unwrap_err().message,
            "$.n: must be from 1 to 5, got 0"
        );
        assert!(root.opt_f64("f").is_err());
    }
}
