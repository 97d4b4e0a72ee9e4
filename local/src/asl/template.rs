//! Payload templates: `Parameters`, `ResultSelector`, `ItemSelector` and Map
//! `Parameters` (states-language.net, "Payload Template"; AWS guide,
//! input-output-inputpath-params).
//!
//! "If any field within the Payload Template (however deeply nested) has a name
//! ending with the characters ".$", its value is transformed ... and the field is
//! renamed to strip the ".$" suffix." Objects inside arrays count: the AWS ECS
//! callback example passes `"Environment": [{"Name": "...", "Value.$": "$$.Task.Token"}]`
//! (connect-ecs). A string inside an array is never transformed: only field names
//! carry the `.$` marker.
//!
//! A path that matches nothing fails with `States.Runtime` (what AWS raises, per
//! LocalStack snapshots recorded against AWS), not the `States.ParameterPathFailure`
//! the specification names.

use crate::util::json_type as kind;
use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::path::Path;
use super::AslError;

/// Deepest object/array nesting a template may have; definitions are input, and
/// rendering recurses over the template.
pub const MAX_DEPTH: usize = 64;

const DYNAMIC_SUFFIX: &str = ".$";

/// Renders a payload template: a key ending in `.$` takes its value (which must be
/// a string) from a path into `input`, a `$$` path into `context`, or an intrinsic
/// function call (starts with `States.`), evaluated by `intrinsic`; the `.$` is
/// removed from the key. Nested objects and arrays are rendered recursively; every
/// other value is copied as is.
///
/// Errors: a path that matches nothing is `States.Runtime` ("The JSONPath '$.x'
/// specified for the field 'x.$' could not be found in the input '{...}'"); intrinsic
/// failures are whatever `intrinsic` returns; a template that [`validate`] would
/// reject (non-string `.$` value, bad path, duplicate key after stripping, nesting
/// over [`MAX_DEPTH`]) is `States.Runtime` naming the field.
pub fn render(
    template: &Value,
    input: &Value,
    context: &Value,
    intrinsic: &dyn Fn(&str, &Value, &Value) -> Result<Value, AslError>,
) -> Result<Value, AslError> {
    let renderer = Renderer {
        input,
        context,
        intrinsic,
    };
    renderer.value(template, 0)
}

struct Renderer<'a> {
    input: &'a Value,
    context: &'a Value,
    intrinsic: &'a dyn Fn(&str, &Value, &Value) -> Result<Value, AslError>,
}

impl Renderer<'_> {
    fn value(&self, value: &Value, depth: usize) -> Result<Value, AslError> {
        if depth > MAX_DEPTH {
            return Err(AslError::runtime(format!(
                "The payload template is nested more than {MAX_DEPTH} levels deep"
            )));
        }
        match value {
            Value::Object(fields) => self.object(fields, depth),
            Value::Array(items) => items
                .iter()
                .map(|item| self.value(item, depth + 1))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            other => Ok(other.clone()),
        }
    }

    fn object(&self, fields: &Map<String, Value>, depth: usize) -> Result<Value, AslError> {
        let mut out = Map::new();
        for (key, value) in fields {
            let (name, rendered) = match key.strip_suffix(DYNAMIC_SUFFIX) {
                Some(name) => (name, self.dynamic(key, value)?),
                None => (key.as_str(), self.value(value, depth + 1)?),
            };
            if out.contains_key(name) {
                return Err(AslError::runtime(format!(
                    "The field '{name}' appears twice in the payload template once '.$' is removed"
                )));
            }
            out.insert(name.to_owned(), rendered);
        }
        Ok(Value::Object(out))
    }

    /// The value of a `key.$` field.
    fn dynamic(&self, key: &str, value: &Value) -> Result<Value, AslError> {
        let Value::String(expression) = value else {
            return Err(AslError::runtime(format!(
                "The value for the field '{key}' must be a string containing a JSONPath or an intrinsic function call, found {}",
                kind(value)
            )));
        };
        if expression.starts_with('$') {
            let path = Path::parse(expression).map_err(|e| {
                AslError::runtime(format!(
                    "The value for the field '{key}' must be a valid JSONPath: {e}"
                ))
            })?;
            path.read(key, self.input, self.context)
        } else if expression.starts_with(INTRINSIC_PREFIX) {
            (self.intrinsic)(expression, self.input, self.context)
        } else {
            Err(AslError::runtime(format!(
                "The value for the field '{key}' must be a JSONPath (starting with '$') or an intrinsic function call (States.Name(...)): '{expression}'"
            )))
        }
    }
}

const INTRINSIC_PREFIX: &str = "States.";

/// Definition-time check of a template: every `.$` value is a string that parses
/// as a path or looks like an intrinsic call (starts with "States." and ends with
/// ")") that `check_intrinsic` accepts; no two fields of one object have the same
/// name once `.$` is removed ("A JSON object MUST NOT have duplicate field names
/// after fields ending with the characters ".$" are renamed", states-language.net);
/// the template itself is an object ("A Payload Template MUST be a JSON object").
/// Messages name the field's location inside the template, e.g.
/// `'Overrides.ContainerOverrides[0].Environment[0].Value.$'`.
pub fn validate(
    template: &Value,
    check_intrinsic: &dyn Fn(&str) -> Result<(), String>,
) -> Result<(), String> {
    if !template.is_object() {
        return Err(format!(
            "A payload template must be a JSON object, found {}",
            kind(template)
        ));
    }
    let mut validator = Validator {
        check_intrinsic,
        location: Vec::new(),
    };
    validator.value(template, 0)
}

/// One step of the location of a field inside a template.
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

struct Validator<'a, 'c> {
    check_intrinsic: &'c dyn Fn(&str) -> Result<(), String>,
    location: Vec<Segment<'a>>,
}

impl<'a> Validator<'a, '_> {
    fn here(&self) -> String {
        let mut out = String::new();
        for segment in &self.location {
            match segment {
                Segment::Key(key) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
                Segment::Index(index) => out.push_str(&format!("[{index}]")),
            }
        }
        out
    }

    fn value(&mut self, value: &'a Value, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "The payload template is nested more than {MAX_DEPTH} levels deep at '{}'",
                self.here()
            ));
        }
        match value {
            Value::Object(fields) => self.object(fields, depth),
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.location.push(Segment::Index(index));
                    let checked = self.value(item, depth + 1);
                    self.location.pop();
                    checked?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn object(&mut self, fields: &'a Map<String, Value>, depth: usize) -> Result<(), String> {
        let mut names = BTreeSet::new();
        for (key, value) in fields {
            self.location.push(Segment::Key(key));
            let checked = match key.strip_suffix(DYNAMIC_SUFFIX) {
                Some(name) => {
                    if names.insert(name) {
                        self.dynamic(value)
                    } else {
                        Err(self.duplicate(name))
                    }
                }
                None => {
                    if names.insert(key.as_str()) {
                        self.value(value, depth + 1)
                    } else {
                        Err(self.duplicate(key))
                    }
                }
            };
            self.location.pop();
            checked?;
        }
        Ok(())
    }

    fn duplicate(&self, name: &str) -> String {
        format!(
            "The field '{}' conflicts with another field named '{name}' once the '.$' suffix is removed",
            self.here()
        )
    }

    fn dynamic(&self, value: &Value) -> Result<(), String> {
        let Value::String(expression) = value else {
            return Err(format!(
                "The value for the field '{}' must be a string containing a JSONPath or an intrinsic function call, found {}",
                self.here(),
                kind(value)
            ));
        };
        if expression.starts_with('$') {
            return Path::parse(expression).map(|_| ()).map_err(|e| {
                format!(
                    "The value for the field '{}' must be a valid JSONPath: {e}",
                    self.here()
                )
            });
        }
        if expression.starts_with(INTRINSIC_PREFIX) && expression.ends_with(')') {
            return (self.check_intrinsic)(expression).map_err(|e| {
                format!(
                    "The value for the field '{}' must be a valid intrinsic function call: {e}",
                    self.here()
                )
            });
        }
        Err(format!(
            "The value for the field '{}' must be a JSONPath (starting with '$') or an intrinsic function call (States.Name(...)): '{expression}'",
            self.here()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::names;
    use super::*;
    use serde_json::json;

    /// Stands in for the intrinsics module: `States.Echo('x')` returns "x",
    /// `States.Input()` returns the input, `States.Fail()` fails.
    fn intrinsic(expression: &str, input: &Value, _context: &Value) -> Result<Value, AslError> {
        if let Some(rest) = expression.strip_prefix("States.Echo('") {
            return Ok(Value::String(rest.trim_end_matches("')").to_owned()));
        }
        match expression {
            "States.Input()" => Ok(input.clone()),
            "States.Format('Today is {}', $.DayOfWeek)" => Ok(json!("Today is TUESDAY")),
            _ => Err(AslError::intrinsic_failure(format!(
                "cannot evaluate {expression}"
            ))),
        }
    }

    fn no_intrinsics(expression: &str, _: &Value, _: &Value) -> Result<Value, AslError> {
        panic!("unexpected intrinsic call {expression}")
    }

    fn ok_render(template: Value, input: Value, context: Value) -> Value {
        match render(&template, &input, &context, &intrinsic) {
            Ok(value) => value,
            Err(e) => panic!("{e}"),
        }
    }

    fn err_render(template: Value, input: Value) -> AslError {
        match render(&template, &input, &json!({}), &intrinsic) {
            Ok(value) => panic!("rendered {value}"),
            Err(e) => e,
        }
    }

    fn check(expression: &str) -> Result<(), String> {
        if expression.contains("Bad") {
            Err(format!("unknown function in {expression}"))
        } else {
            Ok(())
        }
    }

    fn invalid(template: Value) -> String {
        match validate(&template, &check) {
            Ok(()) => panic!("{template} validated"),
            Err(e) => e,
        }
    }

    // --- render: AWS documentation and specification examples ----------------------

    #[test]
    fn aws_parameters_key_value_example() {
        // input-output-inputpath-params, "Key-value pairs".
        let input = json!({"comment": "Example for Parameters.",
            "product": {"details": {"color": "blue", "size": "small", "material": "cotton"},
                        "availability": "in stock", "sku": "2317", "cost": "$23"}});
        let template = json!({"comment": "Selecting what I care about.",
            "MyDetails": {"size.$": "$.product.details.size", "exists.$": "$.product.availability",
                          "StaticValue": "foo"}});
        assert_eq!(
            ok_render(template, input, json!({})),
            json!({"comment": "Selecting what I care about.",
                   "MyDetails": {"size": "small", "exists": "in stock", "StaticValue": "foo"}})
        );
    }

    #[test]
    fn aws_result_selector_example() {
        // input-output-inputpath-params, "ResultSelector".
        let result = json!({"resourceType": "elasticmapreduce", "resource": "createCluster.sync",
            "output": {"SdkHttpMetadata": {"HttpStatusCode": 200}, "SdkResponseMetadata": {"RequestId": "1234-5678-9012"},
                       "ClusterId": "AKIAIOSFODNN7EXAMPLE"}});
        let template =
            json!({"ClusterId.$": "$.output.ClusterId", "ResourceType.$": "$.resourceType"});
        assert_eq!(
            ok_render(template, result, json!({})),
            json!({"ResourceType": "elasticmapreduce", "ClusterId": "AKIAIOSFODNN7EXAMPLE"})
        );
    }

    #[test]
    fn spec_payload_template_example() {
        // states-language.net "Payload Template": paths, a context path and an
        // intrinsic function.
        let template = json!({"flagged": true,
            "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[-3:]"},
            "weekday.$": "$$.DayOfWeek",
            "formattedOutput.$": "States.Format('Today is {}', $.DayOfWeek)"});
        let input = json!({"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]});
        let context = json!({"DayOfWeek": "TUESDAY"});
        assert_eq!(
            ok_render(template, input, context),
            json!({"flagged": true, "parts": {"first": 0, "last3": [30, 40, 50]},
                   "weekday": "TUESDAY", "formattedOutput": "Today is TUESDAY"})
        );
    }

    #[test]
    fn spec_static_template_is_copied() {
        let template = json!({"first": 88, "second": 99});
        assert_eq!(ok_render(template.clone(), json!({}), json!({})), template);
    }

    #[test]
    fn aws_ecs_environment_array_example() {
        // connect-ecs: ".$" fields inside objects inside arrays are processed.
        let template = json!({"Cluster": "cluster-arn", "TaskDefinition": "job-id",
            "Overrides": {"ContainerOverrides": [{"Name": "container-name",
                "Environment": [{"Name": "TASK_TOKEN_ENV_VARIABLE", "Value.$": "$$.Task.Token"}]}]}});
        let context = json!({"Task": {"Token": "tok-123"}});
        assert_eq!(
            ok_render(template, json!({}), context),
            json!({"Cluster": "cluster-arn", "TaskDefinition": "job-id",
                "Overrides": {"ContainerOverrides": [{"Name": "container-name",
                    "Environment": [{"Name": "TASK_TOKEN_ENV_VARIABLE", "Value": "tok-123"}]}]}})
        );
    }

    // --- render: details ------------------------------------------------------------

    #[test]
    fn strings_in_arrays_are_not_paths() {
        let template =
            json!({"list": ["$.a", "$$.b", "States.Echo('x')", {"k.$": "$.a"}, [{"n.$": "$.a"}]]});
        assert_eq!(
            ok_render(template, json!({"a": 1}), json!({"b": 2})),
            json!({"list": ["$.a", "$$.b", "States.Echo('x')", {"k": 1}, [{"n": 1}]]})
        );
    }

    #[test]
    fn values_of_plain_keys_are_never_transformed() {
        let template =
            json!({"a": "$.x", "b": "States.Echo('y')", "c": null, "d": 1.5, "e": false});
        assert_eq!(
            ok_render(template.clone(), json!({"x": 1}), json!({})),
            template
        );
    }

    #[test]
    fn whole_input_and_context() {
        let input = json!({"a": [1, 2]});
        let context = json!({"Execution": {"Id": "e"}});
        assert_eq!(
            ok_render(
                json!({"in.$": "$", "ctx.$": "$$", "id.$": "$$.Execution.Id"}),
                input.clone(),
                context.clone()
            ),
            json!({"in": input, "ctx": context, "id": "e"})
        );
    }

    #[test]
    fn path_results_keep_their_type() {
        let input =
            json!({"n": null, "o": {"k": [1]}, "s": "x", "b": true, "a": [{"v": 1}, {"v": 2}]});
        assert_eq!(
            ok_render(
                json!({"n.$": "$.n", "o.$": "$.o", "s.$": "$.s", "b.$": "$.b", "v.$": "$.a[*].v", "f.$": "$.a[?(@.v > 1)]"}),
                input,
                json!({})
            ),
            json!({"n": null, "o": {"k": [1]}, "s": "x", "b": true, "v": [1, 2], "f": [{"v": 2}]})
        );
    }

    #[test]
    fn indefinite_path_with_no_match_is_an_empty_array() {
        assert_eq!(
            ok_render(json!({"v.$": "$.a[*].x"}), json!({"a": [{}]}), json!({})),
            json!({"v": []})
        );
    }

    #[test]
    fn intrinsic_calls_receive_input_and_context() {
        assert_eq!(
            ok_render(
                json!({"echo.$": "States.Echo('hi')", "copy.$": "States.Input()"}),
                json!({"q": 1}),
                json!({})
            ),
            json!({"echo": "hi", "copy": {"q": 1}})
        );
    }

    #[test]
    fn intrinsic_failure_propagates() {
        let error = err_render(json!({"x.$": "States.Nope()"}), json!({}));
        assert_eq!(error.error, names::INTRINSIC_FAILURE);
        assert_eq!(error.cause, "cannot evaluate States.Nope()");
    }

    #[test]
    fn key_that_is_only_the_suffix() {
        assert_eq!(
            ok_render(json!({".$": "$.a"}), json!({"a": 1}), json!({})),
            json!({"": 1})
        );
    }

    #[test]
    fn empty_template() {
        assert_eq!(
            render(&json!({}), &json!({"a": 1}), &json!({}), &no_intrinsics),
            Ok(json!({}))
        );
    }

    #[test]
    fn non_object_templates_render_recursively() {
        // Callers validate that a template is an object; render itself accepts any
        // JSON value.
        assert_eq!(
            render(
                &json!([{"a.$": "$.x"}]),
                &json!({"x": 3}),
                &json!({}),
                &no_intrinsics
            ),
            Ok(json!([{"a": 3}]))
        );
        assert_eq!(
            render(&json!("$.x"), &json!({"x": 3}), &json!({}), &no_intrinsics),
            Ok(json!("$.x"))
        );
    }

    // --- render: errors -------------------------------------------------------------

    #[test]
    fn missing_path_is_runtime_error_with_aws_wording() {
        // LocalStack snapshot recorded against AWS: "The JSONPath '$.no_such_jsonpath'
        // specified for the field 'value.$' could not be found in the input '...'".
        let error = err_render(json!({"value.$": "$.no_such_jsonpath"}), json!({"a": 1}));
        assert_eq!(error.error, names::RUNTIME);
        assert_eq!(
            error.cause,
            "The JSONPath '$.no_such_jsonpath' specified for the field 'value.$' could not be found in the input '{\"a\":1}'"
        );
    }

    #[test]
    fn missing_nested_path_names_the_nested_key() {
        // AWS workshop: "The JSONPath '$.application.address' specified for the field
        // 'address.$' could not be found in the input '{"flagged":false}'".
        let error = err_render(
            json!({"outer": [{"address.$": "$.application.address"}]}),
            json!({"flagged": false}),
        );
        assert_eq!(
            error.cause,
            "The JSONPath '$.application.address' specified for the field 'address.$' could not be found in the input '{\"flagged\":false}'"
        );
    }

    #[test]
    fn missing_context_path_is_runtime_error() {
        let error = match render(
            &json!({"value.$": "$$.Execution.Input.nope"}),
            &json!({}),
            &json!({"Execution": {"Input": {}}}),
            &intrinsic,
        ) {
            Err(e) => e,
            Ok(v) => panic!("{v}"),
        };
        assert_eq!(error.error, names::RUNTIME);
        assert!(error.cause.starts_with(
            "The JSONPath '$$.Execution.Input.nope' specified for the field 'value.$'"
        ));
    }

    #[test]
    fn path_on_null_input_fails_like_aws() {
        // re:Post: "Input.$": "$" after a Lambda returned nothing fails with
        // "Unable to apply Path transformation to null or empty input."
        let error = err_render(json!({"Input.$": "$"}), Value::Null);
        assert_eq!(
            error,
            AslError::runtime(super::super::path::NULL_INPUT_CAUSE)
        );
        // Static templates and context paths do not need the input.
        assert_eq!(
            render(
                &json!({"a": 1, "c.$": "$$.x"}),
                &Value::Null,
                &json!({"x": 2}),
                &no_intrinsics
            ),
            Ok(json!({"a": 1, "c": 2}))
        );
    }

    #[test]
    fn function_paths_fail_at_run_time() {
        let error = err_render(json!({"Jobs.$": "$.Jobs.sum()"}), json!({"Jobs": [1]}));
        assert_eq!(error.error, names::RUNTIME);
        assert!(error.cause.contains("could not be found"));
    }

    #[test]
    fn runtime_checks_of_unvalidated_templates() {
        let cases = [
            (json!({"x.$": 5}), "'x.$' must be a string containing a JSONPath or an intrinsic function call, found a number"),
            (json!({"x.$": null}), "found null"),
            (json!({"x.$": {"a": 1}}), "found an object"),
            (json!({"x.$": "$.a["}), "'x.$' must be a valid JSONPath: Invalid JSONPath '$.a['"),
            (json!({"x.$": "hello"}), "'x.$' must be a JSONPath (starting with '$') or an intrinsic function call"),
            (json!({"x": 1, "x.$": "$.a"}), "The field 'x' appears twice"),
        ];
        for (template, message) in cases {
            let error = err_render(template.clone(), json!({"a": 1}));
            assert_eq!(error.error, names::RUNTIME, "{template}");
            assert!(error.cause.contains(message), "{template}: {}", error.cause);
        }
    }

    fn nested(depth: usize, leaf: Value) -> Value {
        let mut value = leaf;
        for i in 0..depth {
            value = if i % 2 == 0 {
                json!({ "k": value })
            } else {
                json!([value])
            };
        }
        value
    }

    #[test]
    fn render_depth_is_bounded() {
        let error = err_render(nested(100, json!(1)), json!({}));
        assert_eq!(error.error, names::RUNTIME);
        assert!(error.cause.contains("nested more than 64"));
        assert!(render(
            &nested(60, json!({"v.$": "$.a"})),
            &json!({"a": 1}),
            &json!({}),
            &intrinsic
        )
        .is_ok());
    }

    // --- validate -------------------------------------------------------------------

    #[test]
    fn validate_accepts_documented_templates() {
        for template in [
            json!({"first": 88, "second": 99}),
            json!({"comment": "Selecting what I care about.",
                   "MyDetails": {"size.$": "$.product.details.size", "exists.$": "$.product.availability", "StaticValue": "foo"}}),
            json!({"flagged": true, "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[-3:]"},
                   "weekday.$": "$$.DayOfWeek", "formattedOutput.$": "States.Format('Today is {}', $.DayOfWeek)"}),
            json!({"Overrides": {"ContainerOverrides": [{"Name": "n", "Environment": [{"Name": "T", "Value.$": "$$.Task.Token"}]}]}}),
            json!({"x.$": "$", "y.$": "$$", "z.$": "$.a[?(@.b > 1)]", "list": ["$.not.checked", "States.NotChecked"]}),
            json!({}),
        ] {
            assert_eq!(validate(&template, &check), Ok(()), "{template}");
        }
    }

    #[test]
    fn validate_requires_an_object() {
        assert_eq!(
            invalid(json!([1])),
            "A payload template must be a JSON object, found an array"
        );
        assert_eq!(
            invalid(json!("x")),
            "A payload template must be a JSON object, found a string"
        );
        assert_eq!(
            invalid(Value::Null),
            "A payload template must be a JSON object, found null"
        );
    }

    #[test]
    fn validate_non_string_dynamic_values() {
        assert_eq!(
            invalid(json!({"a.$": 1})),
            "The value for the field 'a.$' must be a string containing a JSONPath or an intrinsic function call, found a number"
        );
        assert!(invalid(json!({"a": {"b.$": true}}))
            .starts_with("The value for the field 'a.b.$' must be a string"));
        assert!(invalid(json!({"a": [{"b.$": []}]})).contains("'a[0].b.$'"));
        assert!(invalid(json!({"a.$": null})).ends_with("found null"));
    }

    #[test]
    fn validate_bad_paths_name_the_field_and_position() {
        let error = invalid(
            json!({"Overrides": {"ContainerOverrides": [{"Environment": [{"Value.$": "$.a["}]}]}}),
        );
        assert_eq!(
            error,
            "The value for the field 'Overrides.ContainerOverrides[0].Environment[0].Value.$' must be a valid JSONPath: Invalid JSONPath '$.a[': '[' is not closed at position 3"
        );
        assert!(invalid(json!({"x.$": "$$.a b"})).contains("'x.$' must be a valid JSONPath"));
        assert!(invalid(json!({"x.$": "$.a[?(@.b =~ /x/)]"})).contains("regular expressions"));
    }

    #[test]
    fn validate_rejects_values_that_are_neither_paths_nor_intrinsics() {
        for value in [
            "hello",
            "",
            "States.Format('x'",
            "Format('x')",
            " $.a",
            "states.Format('x')",
        ] {
            let error = invalid(json!({ "x.$": value }));
            assert!(
                error.starts_with("The value for the field 'x.$' must be a JSONPath (starting with '$') or an intrinsic function call"),
                "{value}: {error}"
            );
        }
    }

    #[test]
    fn validate_delegates_intrinsic_checks() {
        assert_eq!(validate(&json!({"x.$": "States.UUID()"}), &check), Ok(()));
        assert_eq!(
            invalid(json!({"p": [{"x.$": "States.Bad(1)"}]})),
            "The value for the field 'p[0].x.$' must be a valid intrinsic function call: unknown function in States.Bad(1)"
        );
    }

    #[test]
    fn validate_rejects_duplicates_after_stripping() {
        // states-language.net: "A JSON object MUST NOT have duplicate field names
        // after fields ending with the characters ".$" are renamed".
        assert_eq!(
            invalid(json!({"a": 1, "a.$": "$.x"})),
            "The field 'a.$' conflicts with another field named 'a' once the '.$' suffix is removed"
        );
        assert!(invalid(json!({"o": {"k.$": "$.x", "k": 2}})).contains("'o.k"));
        assert!(invalid(json!({"l": [{}, {"k.$": "$.x", "k": 2}]})).contains("'l[1].k"));
        // The same name in different objects is fine.
        assert_eq!(
            validate(
                &json!({"a": {"k": 1}, "b": {"k.$": "$.x"}, "k.$": "$.y"}),
                &check
            ),
            Ok(())
        );
    }

    #[test]
    fn validate_depth_is_bounded() {
        let error = invalid(json!({ "deep": nested(100, json!(1)) }));
        assert!(error.contains("nested more than 64 levels deep"), "{error}");
        assert_eq!(
            validate(
                &json!({ "deep": nested(60, json!({"v.$": "$.a"})) }),
                &check
            ),
            Ok(())
        );
    }

    #[test]
    fn validate_does_not_call_intrinsic_check_for_paths() {
        let strict = |_: &str| -> Result<(), String> { Err("called".to_owned()) };
        assert_eq!(
            validate(&json!({"a.$": "$.x", "b": "States.X()"}), &strict),
            Ok(())
        );
    }
}
