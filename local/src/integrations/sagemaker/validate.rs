//! Request validation as the SageMaker API reports it: every constraint a request
//! breaks is collected, then reported in one `ValidationException` whose message has
//! the service's shape ("2 validation errors detected: Value 'x' at 'trainingJobName'
//! failed to satisfy constraint: Member must satisfy regular expression pattern:
//! ..."; member paths in camelCase, as the wire protocol names them).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Collects constraint violations.
#[derive(Debug, Default)]
pub(crate) struct Checks {
    errors: Vec<String>,
}

/// `'text'` for strings, the JSON otherwise (`null` for a missing member).
fn shown(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "null".to_string(),
        Some(Value::String(s)) => format!("'{s}'"),
        Some(other) => format!("'{other}'"),
    }
}

impl Checks {
    pub fn fail(&mut self, value: Option<&Value>, at: &str, constraint: &str) {
        self.errors.push(format!(
            "Value {} at '{at}' failed to satisfy constraint: {constraint}",
            shown(value)
        ));
    }

    /// A message that is not about one member (cross-field rules).
    pub fn fail_message(&mut self, message: impl Into<String>) {
        self.errors.push(message.into());
    }

    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The ValidationException message, or `None` if nothing failed.
    pub fn message(&self) -> Option<String> {
        match self.errors.len() {
            0 => None,
            1 => Some(format!("1 validation error detected: {}", self.errors[0])),
            n => Some(format!(
                "{n} validation errors detected: {}",
                self.errors.join("; ")
            )),
        }
    }

    /// A required object member; records `must not be null` / a type error.
    pub fn object<'a>(
        &mut self,
        parent: &'a Map<String, Value>,
        key: &str,
        at: &str,
        required: bool,
    ) -> Option<&'a Map<String, Value>> {
        match parent.get(key) {
            Some(Value::Object(map)) => Some(map),
            None | Some(Value::Null) => {
                if required {
                    self.fail(None, at, "Member must not be null");
                }
                None
            }
            Some(other) => {
                self.fail(Some(other), at, "Member must be a structure");
                None
            }
        }
    }

    pub fn array<'a>(
        &mut self,
        parent: &'a Map<String, Value>,
        key: &str,
        at: &str,
        required: bool,
    ) -> Option<&'a Vec<Value>> {
        match parent.get(key) {
            Some(Value::Array(list)) => Some(list),
            None | Some(Value::Null) => {
                if required {
                    self.fail(None, at, "Member must not be null");
                }
                None
            }
            Some(other) => {
                self.fail(Some(other), at, "Member must be a list");
                None
            }
        }
    }

    /// A string member with its length bounds (in characters).
    pub fn string(
        &mut self,
        parent: &Map<String, Value>,
        key: &str,
        at: &str,
        required: bool,
        min: usize,
        max: usize,
    ) -> Option<String> {
        match parent.get(key) {
            Some(Value::String(s)) => {
                let len = s.chars().count();
                if len < min {
                    self.fail(
                        parent.get(key),
                        at,
                        &format!("Member must have length greater than or equal to {min}"),
                    );
                    return None;
                }
                if len > max {
                    self.fail(
                        parent.get(key),
                        at,
                        &format!("Member must have length less than or equal to {max}"),
                    );
                    return None;
                }
                Some(s.clone())
            }
            None | Some(Value::Null) => {
                if required {
                    self.fail(None, at, "Member must not be null");
                }
                None
            }
            Some(other) => {
                self.fail(Some(other), at, "Member must be a string");
                None
            }
        }
    }

    /// A string member that must match `pattern` (described by `pattern_text`).
    #[allow(clippy::too_many_arguments)]
    pub fn patterned(
        &mut self,
        parent: &Map<String, Value>,
        key: &str,
        at: &str,
        required: bool,
        max: usize,
        matches: impl Fn(&str) -> bool,
        pattern_text: &str,
    ) -> Option<String> {
        let value = self.string(parent, key, at, required, 1, max)?;
        if matches(&value) {
            Some(value)
        } else {
            self.fail(
                parent.get(key),
                at,
                &format!("Member must satisfy regular expression pattern: {pattern_text}"),
            );
            None
        }
    }

    /// One of the enum's values.
    pub fn one_of(
        &mut self,
        parent: &Map<String, Value>,
        key: &str,
        at: &str,
        required: bool,
        allowed: &[&str],
    ) -> Option<String> {
        let value = self.string(parent, key, at, required, 0, usize::MAX)?;
        if allowed.contains(&value.as_str()) {
            Some(value)
        } else {
            self.fail(
                parent.get(key),
                at,
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                ),
            );
            None
        }
    }

    /// An integer member within `[min, max]`.
    pub fn integer(
        &mut self,
        parent: &Map<String, Value>,
        key: &str,
        at: &str,
        required: bool,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        match parent.get(key) {
            Some(Value::Number(n)) => match n.as_i64() {
                Some(v) if v < min => {
                    self.fail(
                        parent.get(key),
                        at,
                        &format!("Member must have value greater than or equal to {min}"),
                    );
                    None
                }
                Some(v) if v > max => {
                    self.fail(
                        parent.get(key),
                        at,
                        &format!("Member must have value less than or equal to {max}"),
                    );
                    None
                }
                Some(v) => Some(v),
                None => {
                    self.fail(parent.get(key), at, "Member must be an integer");
                    None
                }
            },
            None | Some(Value::Null) => {
                if required {
                    self.fail(None, at, "Member must not be null");
                }
                None
            }
            Some(other) => {
                self.fail(Some(other), at, "Member must be an integer");
                None
            }
        }
    }

    pub fn boolean(&mut self, parent: &Map<String, Value>, key: &str, at: &str) -> Option<bool> {
        match parent.get(key) {
            Some(Value::Bool(b)) => Some(*b),
            None | Some(Value::Null) => None,
            Some(other) => {
                self.fail(Some(other), at, "Member must be a boolean");
                None
            }
        }
    }

    /// A string-to-string map with entry-count and key/value length bounds.
    #[allow(clippy::too_many_arguments)]
    pub fn string_map(
        &mut self,
        parent: &Map<String, Value>,
        key: &str,
        at: &str,
        max_entries: usize,
        max_key: usize,
        max_value: usize,
        key_ok: impl Fn(&str) -> bool,
        key_pattern: &str,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let map = match parent.get(key) {
            None | Some(Value::Null) => return out,
            Some(Value::Object(map)) => map,
            Some(other) => {
                self.fail(Some(other), at, "Member must be a map");
                return out;
            }
        };
        if map.len() > max_entries {
            self.fail(
                parent.get(key),
                at,
                &format!("Member must have length less than or equal to {max_entries}"),
            );
        }
        for (k, v) in map {
            if k.chars().count() > max_key {
                self.fail(
                    Some(&Value::String(k.clone())),
                    &format!("{at}.key"),
                    &format!("Map keys must satisfy constraint: [Member must have length less than or equal to {max_key}]"),
                );
                continue;
            }
            if !key_ok(k) {
                self.fail(
                    Some(&Value::String(k.clone())),
                    &format!("{at}.key"),
                    &format!("Map keys must satisfy constraint: [Member must satisfy regular expression pattern: {key_pattern}]"),
                );
                continue;
            }
            match v {
                Value::String(s) if s.chars().count() <= max_value => {
                    out.insert(k.clone(), s.clone());
                }
                Value::String(_) => self.fail(
                    Some(v),
                    &format!("{at}.{k}"),
                    &format!("Map value must satisfy constraint: [Member must have length less than or equal to {max_value}]"),
                ),
                other => self.fail(
                    Some(other),
                    &format!("{at}.{k}"),
                    "Map value must satisfy constraint: [Member must be a string]",
                ),
            }
        }
        out
    }
}

/// `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`: training and transform job names.
pub(crate) const JOB_NAME_PATTERN: &str = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}";

pub(crate) fn job_name_ok(name: &str) -> bool {
    // Alphanumerics separated by runs of hyphens; 1-63 characters in all.
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

/// `^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?$`: model names (same language).
pub(crate) const MODEL_NAME_PATTERN: &str = "^[a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?$";

/// `^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$` (RoleArn).
pub(crate) const ROLE_ARN_PATTERN: &str =
    "^arn:aws[a-z\\-]*:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+$";

pub(crate) fn role_arn_ok(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:aws") else {
        return false;
    };
    let Some((partition_tail, rest)) = rest.split_once(":iam::") else {
        return false;
    };
    if !partition_tail
        .chars()
        .all(|c| c.is_ascii_lowercase() || c == '-')
    {
        return false;
    }
    let Some((account, resource)) = rest.split_once(':') else {
        return false;
    };
    let Some(name) = resource.strip_prefix("role") else {
        return false;
    };
    let name = name.strip_prefix('/').unwrap_or(name);
    account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_/".contains(c))
}

/// `^(https|s3)://([^/]+)/?(.*)$` (S3 URIs in requests).
pub(crate) const S3_URI_PATTERN: &str = "^(https|s3)://([^/]+)/?(.*)$";

pub(crate) fn s3_uri_ok(uri: &str) -> bool {
    let rest = uri
        .strip_prefix("s3://")
        .or_else(|| uri.strip_prefix("https://"));
    match rest {
        Some(rest) => !rest.is_empty() && !rest.starts_with('/'),
        None => false,
    }
}

/// `[A-Za-z0-9\.\-_]+` (ChannelName).
pub(crate) fn channel_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn job_names_follow_the_api_pattern() {
        // API_CreateTrainingJob: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}
        for ok in [
            "a",
            "A1",
            "a-b",
            "a--b",
            "ens-seq-nightly-2026-11-27-0",
            &"a".repeat(63),
        ] {
            assert!(job_name_ok(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a_b", "a.b", "a b", &"a".repeat(64), "é"] {
            assert!(!job_name_ok(bad), "{bad}");
        }
    }

    #[test]
    fn role_arns() {
        assert!(role_arn_ok(
            "arn:aws:iam::123456789012:role/ensemble-training-sagemaker"
        ));
        assert!(role_arn_ok(
            "arn:aws-cn:iam::123456789012:role/service-role/x"
        ));
        assert!(!role_arn_ok("arn:aws:iam::12345:role/x"));
        assert!(!role_arn_ok("arn:aws:iam::123456789012:user/x"));
        assert!(!role_arn_ok("arn:aws:iam::123456789012:role/"));
        assert!(!role_arn_ok("role/x"));
        assert!(!role_arn_ok("arn:aws:iam::123456789012:role/a b"));
    }

    #[test]
    fn s3_uris_and_channel_names() {
        assert!(s3_uri_ok("s3://b/k"));
        assert!(s3_uri_ok("s3://b"));
        assert!(s3_uri_ok("https://b.s3.amazonaws.com/k"));
        assert!(!s3_uri_ok("s3://"));
        assert!(!s3_uri_ok("s3:///k"));
        assert!(!s3_uri_ok("gs://b/k"));
        assert!(channel_name_ok("train"));
        assert!(channel_name_ok("train_1.a-b"));
        assert!(!channel_name_ok("train/x"));
        assert!(!channel_name_ok(""));
    }

    #[test]
    fn one_error_message_shape() {
        let mut c = Checks::default();
        c.fail(
            Some(&json!("a_b")),
            "trainingJobName",
            "Member must satisfy regular expression pattern: x",
        );
        assert_eq!(
            c.message().unwrap(),
            "1 validation error detected: Value 'a_b' at 'trainingJobName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: x"
        );
    }

    #[test]
    fn several_errors_are_counted_and_joined() {
        let mut c = Checks::default();
        let p = obj(json!({}));
        c.string(&p, "RoleArn", "roleArn", true, 20, 2048);
        c.object(&p, "ResourceConfig", "resourceConfig", true);
        let m = c.message().unwrap();
        assert!(m.starts_with("2 validation errors detected: "), "{m}");
        assert!(m.contains(
            "Value null at 'roleArn' failed to satisfy constraint: Member must not be null"
        ));
        assert!(m.contains("; Value null at 'resourceConfig'"));
    }

    #[test]
    fn no_errors_no_message() {
        assert!(Checks::default().message().is_none());
        assert!(Checks::default().is_ok());
    }

    #[test]
    fn string_lengths_and_types() {
        let p = obj(json!({"a": "xy", "n": 3}));
        let mut c = Checks::default();
        assert_eq!(c.string(&p, "a", "a", true, 1, 2).as_deref(), Some("xy"));
        assert!(c.is_ok());
        assert!(c.string(&p, "a", "a", true, 3, 9).is_none());
        assert!(c.string(&p, "a", "a", true, 0, 1).is_none());
        assert!(c.string(&p, "n", "n", true, 0, 9).is_none());
        assert!(c.string(&p, "missing", "missing", false, 0, 9).is_none());
        let m = c.message().unwrap();
        assert!(m.contains("greater than or equal to 3"));
        assert!(m.contains("less than or equal to 1"));
        assert!(
            m.contains("Value '3' at 'n' failed to satisfy constraint: Member must be a string")
        );
        assert!(m.starts_with("3 validation errors"), "{m}");
    }

    #[test]
    fn integers_and_enums() {
        let p = obj(json!({"i": 0, "big": 101, "f": 1.5, "s": "x", "e": "Line"}));
        let mut c = Checks::default();
        assert!(c.integer(&p, "i", "i", true, 1, 10).is_none());
        assert!(c.integer(&p, "big", "big", true, 0, 100).is_none());
        assert!(c.integer(&p, "f", "f", true, 0, 100).is_none());
        assert!(c.integer(&p, "s", "s", true, 0, 100).is_none());
        assert_eq!(
            c.one_of(&p, "e", "e", true, &["None", "Line"]).as_deref(),
            Some("Line")
        );
        assert!(c.one_of(&p, "s", "s", true, &["None", "Line"]).is_none());
        let m = c.message().unwrap();
        assert!(m.contains("greater than or equal to 1"));
        assert!(m.contains("less than or equal to 100"));
        assert!(m.contains("Member must satisfy enum value set: [None, Line]"));
    }

    #[test]
    fn string_maps() {
        let p = obj(json!({"hp": {"epochs": "3", "lr": 0.1, "long": "xxxx", "bad key": "1"}}));
        let mut c = Checks::default();
        let m = c.string_map(
            &p,
            "hp",
            "hyperParameters",
            100,
            256,
            3,
            |k| !k.contains(' '),
            "no spaces",
        );
        assert_eq!(m.len(), 1);
        assert_eq!(m["epochs"], "3");
        let msg = c.message().unwrap();
        assert!(msg.contains("at 'hyperParameters.lr' failed to satisfy constraint: Map value must satisfy constraint: [Member must be a string]"), "{msg}");
        assert!(msg.contains("hyperParameters.long"), "{msg}");
        assert!(
            msg.contains("Value 'bad key' at 'hyperParameters.key'"),
            "{msg}"
        );
    }

    #[test]
    fn string_map_entry_count() {
        let big: Map<String, Value> = (0..3).map(|i| (format!("k{i}"), json!("v"))).collect();
        let p = obj(json!({"hp": big}));
        let mut c = Checks::default();
        c.string_map(&p, "hp", "hyperParameters", 2, 256, 2500, |_| true, ".*");
        assert!(c.message().unwrap().contains("less than or equal to 2"));
    }

    #[test]
    fn structure_and_list_types() {
        let p = obj(json!({"o": 1, "l": {}}));
        let mut c = Checks::default();
        assert!(c.object(&p, "o", "o", true).is_none());
        assert!(c.array(&p, "l", "l", true).is_none());
        assert!(c.array(&p, "missing", "missing", false).is_none());
        assert!(c.boolean(&p, "o", "o").is_none());
        let m = c.message().unwrap();
        assert!(m.contains("Member must be a structure"));
        assert!(m.contains("Member must be a list"));
        assert!(m.contains("Member must be a boolean"));
    }
}
