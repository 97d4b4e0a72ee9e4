//! The part of a SAM / CloudFormation template `sfn-local run` needs, evaluated the
//! way CloudFormation would on deploy, with local stand-ins for what AWS would create.
//!
//! The template is YAML with CloudFormation's short tags (`!Ref`, `!GetAtt`, `!Sub`,
//! ...). It is read once into JSON with every short tag turned into its long form
//! (`!GetAtt A.B` → `{"Fn::GetAtt": ["A", "B"]}`), then values are evaluated on demand:
//! `Ref`, `Fn::GetAtt`, `Fn::Sub` (both forms), `Fn::Join`, `Fn::Split`, `Fn::Select`,
//! `Fn::If`, `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`, and the pseudo
//! parameters `AWS::Region`, `AWS::AccountId`, `AWS::Partition`, `AWS::StackName`,
//! `AWS::URLSuffix`, `AWS::NoValue` (docs: intrinsic-function-reference,
//! pseudo-parameter-reference).
//!
//! Physical names are local and readable: `<stack>-<LogicalId>` for functions, roles,
//! topics, log groups and state machines, and the same lower-cased for buckets (bucket
//! names allow no capitals). What `Ref` and `Fn::GetAtt` return per resource type
//! follows each type's reference page (`Ref` of a topic is its ARN, of a bucket its
//! name, of a function its name; `GetAtt Arn` the ARN).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::util::json_type;

/// A template read into JSON (short tags in long form).
#[derive(Debug, Clone)]
pub struct Template {
    pub root: Value,
}

impl Template {
    pub fn parse(yaml: &str) -> Result<Template, String> {
        let value: serde_yaml::Value =
            serde_yaml::from_str(yaml).map_err(|e| format!("not valid YAML: {e}"))?;
        let root = to_json(value)?;
        if !root.is_object() {
            return Err("a template must be a mapping".to_string());
        }
        Ok(Template { root })
    }

    pub fn resources(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.root
            .get("Resources")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), v)))
    }

    pub fn resource(&self, logical_id: &str) -> Option<&Value> {
        self.root.get("Resources")?.get(logical_id)
    }

    pub fn resource_type(&self, logical_id: &str) -> Option<&str> {
        self.resource(logical_id)?.get("Type")?.as_str()
    }

    /// `Globals.<section>.<property>` (SAM), e.g. `Globals.Function.Timeout`.
    pub fn global(&self, section: &str, property: &str) -> Option<&Value> {
        self.root.get("Globals")?.get(section)?.get(property)
    }
}

/// YAML → JSON, short tags → long form. Keys must be strings, numbers or booleans.
fn to_json(value: serde_yaml::Value) -> Result<Value, String> {
    use serde_yaml::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| format!("the number {n} has no JSON form"))?
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(to_json)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Y::Mapping(mapping) => {
            let mut map = Map::new();
            for (key, value) in mapping {
                let key = match key {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => return Err(format!("a mapping key must be a scalar, got {other:?}")),
                };
                map.insert(key, to_json(value)?);
            }
            Value::Object(map)
        }
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!').to_string();
            let inner = to_json(tagged.value)?;
            match name.as_str() {
                "Ref" => json!({ "Ref": inner }),
                "Condition" => json!({ "Condition": inner }),
                "GetAtt" => match inner {
                    // `!GetAtt Resource.Attribute` (the attribute may contain dots).
                    Value::String(s) => match s.split_once('.') {
                        Some((resource, attribute)) => {
                            json!({ "Fn::GetAtt": [resource, attribute] })
                        }
                        None => return Err(format!("!GetAtt {s}: expected Resource.Attribute")),
                    },
                    other => json!({ "Fn::GetAtt": other }),
                },
                _ => {
                    let mut map = Map::new();
                    map.insert(format!("Fn::{name}"), inner);
                    Value::Object(map)
                }
            }
        }
    })
}

/// The deploy-time inputs: parameter values, identity and local names.
#[derive(Debug, Clone)]
pub struct StackSettings {
    pub stack_name: String,
    pub region: String,
    pub account: String,
    /// Parameter values given by the user (strings, as on `sam deploy
    /// --parameter-overrides`); the template's `Default` fills the rest.
    pub parameters: BTreeMap<String, String>,
    /// Physical names chosen by the user for some resources (e.g. a bucket).
    pub physical_names: BTreeMap<String, String>,
}

/// A template and its settings: evaluates values as CloudFormation would.
pub struct Stack<'a> {
    pub template: &'a Template,
    pub settings: &'a StackSettings,
}

const PARTITION: &str = "aws";

impl Stack<'_> {
    /// A parameter's value: the user's, else the template's `Default`. A
    /// `CommaDelimitedList` (and `List<...>`) is an array of strings.
    pub fn parameter(&self, name: &str) -> Result<Value, String> {
        let declaration = self
            .template
            .root
            .get("Parameters")
            .and_then(|p| p.get(name))
            .ok_or_else(|| format!("the template declares no parameter {name}"))?;
        let kind = declaration
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or("String");
        let raw = match self.settings.parameters.get(name) {
            Some(value) => value.clone(),
            None => match declaration.get("Default") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(other) => {
                    return Err(format!(
                        "parameter {name}: a Default must be a scalar, got {}",
                        json_type(other)
                    ))
                }
                None => {
                    return Err(format!(
                        "parameter {name} has no Default: give it a value under \"parameters\" \
                         in the sfn-local config"
                    ))
                }
            },
        };
        if let Some(pattern) = declaration.get("AllowedPattern").and_then(Value::as_str) {
            check_pattern(name, &raw, pattern, kind)?;
        }
        if let Some(allowed) = declaration.get("AllowedValues").and_then(Value::as_array) {
            if !allowed
                .iter()
                .any(|v| scalar_text(v).as_deref() == Some(raw.as_str()))
            {
                return Err(format!(
                    "parameter {name}: {raw:?} is not one of the AllowedValues"
                ));
            }
        }
        if kind == "Number" && raw.trim().parse::<f64>().is_err() {
            return Err(format!("parameter {name} is a Number, got {raw:?}"));
        }
        if kind == "CommaDelimitedList" || kind.starts_with("List<") {
            Ok(Value::Array(
                raw.split(',')
                    .map(|s| Value::String(s.trim().to_string()))
                    .collect(),
            ))
        } else {
            Ok(Value::String(raw))
        }
    }

    /// The local physical name of a resource.
    pub fn physical_name(&self, logical_id: &str) -> String {
        if let Some(name) = self.settings.physical_names.get(logical_id) {
            return name.clone();
        }
        let name = format!("{}-{logical_id}", self.settings.stack_name);
        match self.template.resource_type(logical_id) {
            Some("AWS::S3::Bucket") => name.to_ascii_lowercase(),
            _ => name,
        }
    }

    fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{PARTITION}:{service}:{}:{}:{resource}",
            self.settings.region, self.settings.account
        )
    }

    fn reference(&self, name: &str) -> Result<Value, String> {
        match name {
            "AWS::Region" => return Ok(json!(self.settings.region)),
            "AWS::AccountId" => return Ok(json!(self.settings.account)),
            "AWS::Partition" => return Ok(json!(PARTITION)),
            "AWS::StackName" => return Ok(json!(self.settings.stack_name)),
            "AWS::URLSuffix" => return Ok(json!("amazonaws.com")),
            "AWS::NoValue" => return Ok(Value::Null),
            _ => {}
        }
        let Some(kind) = self.template.resource_type(name) else {
            return self.parameter(name);
        };
        let physical = self.physical_name(name);
        Ok(json!(match kind {
            "AWS::SNS::Topic" => self.arn("sns", &physical),
            "AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine" => {
                self.arn("states", &format!("stateMachine:{physical}"))
            }
            _ => physical,
        }))
    }

    fn attribute(&self, logical_id: &str, attribute: &str) -> Result<Value, String> {
        let kind = self
            .template
            .resource_type(logical_id)
            .ok_or_else(|| format!("Fn::GetAtt: the template has no resource {logical_id}"))?;
        let name = self.physical_name(logical_id);
        let value = match (kind, attribute) {
            ("AWS::Serverless::Function" | "AWS::Lambda::Function", "Arn") => {
                self.arn("lambda", &format!("function:{name}"))
            }
            ("AWS::S3::Bucket", "Arn") => format!("arn:{PARTITION}:s3:::{name}"),
            ("AWS::S3::Bucket", "DomainName") => format!("{name}.s3.amazonaws.com"),
            ("AWS::SNS::Topic", "TopicArn") => self.arn("sns", &name),
            ("AWS::SNS::Topic", "TopicName") => name,
            ("AWS::IAM::Role", "Arn") => {
                format!("arn:{PARTITION}:iam::{}:role/{name}", self.settings.account)
            }
            ("AWS::IAM::Role", "RoleId") => format!("AROA{}", name.to_ascii_uppercase()),
            ("AWS::Logs::LogGroup", "Arn") => self.arn("logs", &format!("log-group:{name}:*")),
            ("AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine", "Arn") => {
                self.arn("states", &format!("stateMachine:{name}"))
            }
            ("AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine", "Name") => name,
            _ => {
                return Err(format!(
                    "Fn::GetAtt {logical_id}.{attribute}: sfn-local has no local value for \
                     the {attribute} of a {kind}"
                ))
            }
        };
        Ok(json!(value))
    }

    /// Whether the named condition holds.
    pub fn condition(&self, name: &str) -> Result<bool, String> {
        let expression = self
            .template
            .root
            .get("Conditions")
            .and_then(|c| c.get(name))
            .ok_or_else(|| format!("the template declares no condition {name}"))?;
        self.truth(expression)
    }

    fn truth(&self, expression: &Value) -> Result<bool, String> {
        match self.eval(expression)? {
            Value::Bool(b) => Ok(b),
            Value::String(s) if s == "true" => Ok(true),
            Value::String(s) if s == "false" => Ok(false),
            other => Err(format!(
                "a condition must be true or false, got {}",
                json_type(&other)
            )),
        }
    }

    /// Evaluates every intrinsic function in `value`.
    pub fn eval(&self, value: &Value) -> Result<Value, String> {
        match value {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let item = self.eval(item)?;
                    // `Fn::If` with `AWS::NoValue` removes the element.
                    if !item.is_null() {
                        out.push(item);
                    }
                }
                Ok(Value::Array(out))
            }
            Value::Object(map) if map.len() == 1 => {
                let (key, argument) = map.iter().next().map(|(k, v)| (k.as_str(), v)).ok_or(
                    // Unreachable (len is 1), but an error beats a panic.
                    "an empty intrinsic".to_string(),
                )?;
                match key {
                    "Ref" => match argument {
                        Value::String(name) => self.reference(name),
                        other => Err(format!("Ref takes a name, got {}", json_type(other))),
                    },
                    "Condition" => match argument {
                        Value::String(name) => Ok(Value::Bool(self.condition(name)?)),
                        other => Err(format!("Condition takes a name, got {}", json_type(other))),
                    },
                    "Fn::GetAtt" => self.get_att(argument),
                    "Fn::Sub" => self.sub(argument),
                    "Fn::Join" => self.join(argument),
                    "Fn::Split" => self.split(argument),
                    "Fn::Select" => self.select(argument),
                    "Fn::If" => self.if_(argument),
                    "Fn::Equals" => {
                        let [a, b] = pair(argument, "Fn::Equals")?;
                        Ok(Value::Bool(
                            scalar_text(&self.eval(a)?) == scalar_text(&self.eval(b)?),
                        ))
                    }
                    "Fn::Not" => {
                        let [inner] = list::<1>(argument, "Fn::Not")?;
                        Ok(Value::Bool(!self.truth(inner)?))
                    }
                    "Fn::And" | "Fn::Or" => {
                        let items = argument
                            .as_array()
                            .ok_or_else(|| format!("{key} takes a list of conditions"))?;
                        let mut results = Vec::with_capacity(items.len());
                        for item in items {
                            results.push(self.truth(item)?);
                        }
                        Ok(Value::Bool(if key == "Fn::And" {
                            results.iter().all(|b| *b)
                        } else {
                            results.iter().any(|b| *b)
                        }))
                    }
                    k if k.starts_with("Fn::") => Err(format!(
                        "{k}: sfn-local does not evaluate this intrinsic function"
                    )),
                    _ => self.eval_object(map),
                }
            }
            Value::Object(map) => self.eval_object(map),
            other => Ok(other.clone()),
        }
    }

    fn eval_object(&self, map: &Map<String, Value>) -> Result<Value, String> {
        let mut out = Map::new();
        for (key, value) in map {
            let value = self.eval(value).map_err(|e| format!("{key}: {e}"))?;
            if !value.is_null() {
                out.insert(key.clone(), value);
            }
        }
        Ok(Value::Object(out))
    }

    /// The value as a string (what `!Sub` and environment variables need).
    pub fn eval_string(&self, value: &Value) -> Result<String, String> {
        let evaluated = self.eval(value)?;
        scalar_text(&evaluated)
            .ok_or_else(|| format!("expected a string, got {}", json_type(&evaluated)))
    }

    fn get_att(&self, argument: &Value) -> Result<Value, String> {
        let [resource, attribute] = pair(argument, "Fn::GetAtt")?;
        let resource = self.eval_string(resource)?;
        let attribute = self.eval_string(attribute)?;
        self.attribute(&resource, &attribute)
    }

    fn sub(&self, argument: &Value) -> Result<Value, String> {
        let (text, variables) = match argument {
            Value::String(text) => (text.as_str(), None),
            Value::Array(items) if items.len() == 2 => match (&items[0], &items[1]) {
                (Value::String(text), Value::Object(vars)) => (text.as_str(), Some(vars)),
                _ => return Err("Fn::Sub takes a string, or [string, {variables}]".to_string()),
            },
            _ => return Err("Fn::Sub takes a string, or [string, {variables}]".to_string()),
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            // `${!Literal}` writes `${Literal}`.
            if let Some(literal) = after.strip_prefix('!') {
                out.push_str("${");
                rest = literal;
                continue;
            }
            let end = after
                .find('}')
                .ok_or_else(|| format!("Fn::Sub: an unclosed ${{ in {text:?}"))?;
            let name = after[..end].trim();
            let value = match variables.and_then(|v| v.get(name)) {
                Some(value) => self.eval_string(value)?,
                None => match name.split_once('.') {
                    Some((resource, attribute))
                        if self.template.resource_type(resource).is_some() =>
                    {
                        scalar_text(&self.attribute(resource, attribute)?).unwrap_or_default()
                    }
                    _ => {
                        let value = self.reference(name)?;
                        scalar_text(&value).ok_or_else(|| {
                            format!(
                                "Fn::Sub: ${{{name}}} is a {}, not a string",
                                json_type(&value)
                            )
                        })?
                    }
                },
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(Value::String(out))
    }

    fn join(&self, argument: &Value) -> Result<Value, String> {
        let [delimiter, items] = pair(argument, "Fn::Join")?;
        let delimiter = self.eval_string(delimiter)?;
        let items = self.eval(items)?;
        let items = items
            .as_array()
            .ok_or_else(|| format!("Fn::Join joins a list, got {}", json_type(&items)))?;
        let parts = items
            .iter()
            .map(|item| {
                scalar_text(item)
                    .ok_or_else(|| format!("Fn::Join: cannot join a {}", json_type(item)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Value::String(parts.join(&delimiter)))
    }

    fn split(&self, argument: &Value) -> Result<Value, String> {
        let [delimiter, text] = pair(argument, "Fn::Split")?;
        let delimiter = self.eval_string(delimiter)?;
        let text = self.eval_string(text)?;
        if delimiter.is_empty() {
            return Err("Fn::Split: the delimiter is empty".to_string());
        }
        Ok(Value::Array(
            text.split(delimiter.as_str())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        ))
    }

    fn select(&self, argument: &Value) -> Result<Value, String> {
        let [index, items] = pair(argument, "Fn::Select")?;
        let index = self.eval_string(index)?;
        let index: usize = index
            .trim()
            .parse()
            .map_err(|_| format!("Fn::Select: the index {index:?} is not a number"))?;
        let items = self.eval(items)?;
        items
            .as_array()
            .and_then(|items| items.get(index))
            .cloned()
            .ok_or_else(|| format!("Fn::Select: no element {index}"))
    }

    fn if_(&self, argument: &Value) -> Result<Value, String> {
        let [condition, then, otherwise] = list::<3>(argument, "Fn::If")?;
        let condition = condition
            .as_str()
            .ok_or("Fn::If: the first element names a condition")?;
        if self.condition(condition)? {
            self.eval(then)
        } else {
            self.eval(otherwise)
        }
    }
}

fn list<'v, const N: usize>(argument: &'v Value, function: &str) -> Result<[&'v Value; N], String> {
    let items = argument
        .as_array()
        .filter(|items| items.len() == N)
        .ok_or_else(|| format!("{function} takes a list of {N}"))?;
    let mut out = [&Value::Null; N];
    for (slot, item) in out.iter_mut().zip(items) {
        *slot = item;
    }
    Ok(out)
}

fn pair<'v>(argument: &'v Value, function: &str) -> Result<[&'v Value; 2], String> {
    list::<2>(argument, function)
}

/// A scalar as CloudFormation writes it into a string.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn check_pattern(name: &str, value: &str, pattern: &str, kind: &str) -> Result<(), String> {
    // CloudFormation matches the whole value (the pattern's anchors are implied).
    let anchored = format!("^(?:{pattern})$");
    let regex = regex::Regex::new(&anchored)
        .map_err(|e| format!("parameter {name}: its AllowedPattern is not a regex: {e}"))?;
    let values: Vec<&str> = if kind == "CommaDelimitedList" {
        value.split(',').map(str::trim).collect()
    } else {
        vec![value]
    };
    match values.iter().find(|v| !regex.is_match(v)) {
        Some(bad) => Err(format!(
            "parameter {name}: {bad:?} does not match its AllowedPattern {pattern}"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  Buckets:
    Type: CommaDelimitedList
  Image:
    Type: String
    AllowedPattern: ^[a-z]+:[0-9]+$
  Size:
    Type: Number
    Default: 3
  Email:
    Type: String
    Default: ""
Conditions:
  HasEmail: !Not [!Equals [!Ref Email, ""]]
Globals:
  Function:
    Timeout: 60
Resources:
  Data:
    Type: AWS::S3::Bucket
  Topic:
    Type: AWS::SNS::Topic
  Fn:
    Type: AWS::Serverless::Function
  Role:
    Type: AWS::IAM::Role
  Machine:
    Type: AWS::Serverless::StateMachine
"#;

    fn settings(parameters: &[(&str, &str)]) -> StackSettings {
        StackSettings {
            stack_name: "demo".into(),
            region: "eu-west-1".into(),
            account: "111122223333".into(),
            parameters: parameters
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            physical_names: BTreeMap::new(),
        }
    }

    fn eval(yaml: &str, parameters: &[(&str, &str)]) -> Result<Value, String> {
        let template = Template::parse(TEMPLATE).unwrap();
        let settings = settings(parameters);
        let stack = Stack {
            template: &template,
            settings: &settings,
        };
        let value = to_json(serde_yaml::from_str(yaml).unwrap()).unwrap();
        stack.eval(&value)
    }

    #[test]
    fn short_tags_become_long_forms() {
        let value =
            to_json(serde_yaml::from_str("a: !GetAtt X.Arn\nb: !Ref Y\nc: !Sub s").unwrap())
                .unwrap();
        assert_eq!(
            value,
            json!({"a": {"Fn::GetAtt": ["X", "Arn"]}, "b": {"Ref": "Y"}, "c": {"Fn::Sub": "s"}})
        );
    }

    #[test]
    fn refs_and_attributes_name_local_resources() {
        let value = eval(
            "[!Ref Data, !Ref Topic, !GetAtt Topic.TopicName, !GetAtt Fn.Arn, !Ref Fn, !GetAtt Role.Arn, !Ref Machine, !GetAtt Data.Arn]",
            &[],
        )
        .unwrap();
        assert_eq!(
            value,
            json!([
                "demo-data",
                "arn:aws:sns:eu-west-1:111122223333:demo-Topic",
                "demo-Topic",
                "arn:aws:lambda:eu-west-1:111122223333:function:demo-Fn",
                "demo-Fn",
                "arn:aws:iam::111122223333:role/demo-Role",
                "arn:aws:states:eu-west-1:111122223333:stateMachine:demo-Machine",
                "arn:aws:s3:::demo-data"
            ])
        );
    }

    #[test]
    fn sub_reads_parameters_pseudo_parameters_attributes_and_its_own_variables() {
        let value = eval(
            "!Sub arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}:job/${Size}/${Fn.Arn}/${!Literal}",
            &[],
        )
        .unwrap();
        assert_eq!(
            value,
            json!("arn:aws:batch:eu-west-1:111122223333:job/3/arn:aws:lambda:eu-west-1:111122223333:function:demo-Fn/${Literal}")
        );
        let value = eval("!Sub [\"${A}-${AWS::StackName}\", {A: !Ref Size}]", &[]).unwrap();
        assert_eq!(value, json!("3-demo"));
    }

    #[test]
    fn lists_join_split_and_select() {
        let params = [("Buckets", "raw, curated")];
        assert_eq!(
            eval("!Join [\",\", !Ref Buckets]", &params).unwrap(),
            json!("raw,curated")
        );
        assert_eq!(
            eval("!Split [\",\", \"a,b\"]", &params).unwrap(),
            json!(["a", "b"])
        );
        assert_eq!(
            eval("!Select [1, !Ref Buckets]", &params).unwrap(),
            json!("curated")
        );
    }

    #[test]
    fn conditions_and_if() {
        assert_eq!(
            eval("!If [HasEmail, yes, !Ref AWS::NoValue]", &[]).unwrap(),
            Value::Null
        );
        assert_eq!(
            eval("!If [HasEmail, yes, no]", &[("Email", "a@b.c")]).unwrap(),
            json!("yes")
        );
        assert_eq!(
            eval("{A: !If [HasEmail, yes, !Ref AWS::NoValue], B: 1}", &[]).unwrap(),
            json!({"B": 1})
        );
    }

    #[test]
    fn parameters_are_checked_like_cloudformation_checks_them() {
        let missing = eval("!Ref Buckets", &[]).unwrap_err();
        assert!(missing.contains("Buckets has no Default"), "{missing}");
        let bad = eval("!Ref Image", &[("Image", "UPPER:1")]).unwrap_err();
        assert!(bad.contains("does not match its AllowedPattern"), "{bad}");
        assert_eq!(
            eval("!Ref Image", &[("Image", "abc:12")]).unwrap(),
            json!("abc:12")
        );
        let not_number = eval("!Ref Size", &[("Size", "many")]).unwrap_err();
        assert!(not_number.contains("is a Number"), "{not_number}");
    }

    #[test]
    fn unknown_things_are_named() {
        assert!(eval("!Ref Nothing", &[])
            .unwrap_err()
            .contains("no parameter Nothing"));
        assert!(eval("!GetAtt Data.WebsiteURL", &[])
            .unwrap_err()
            .contains("WebsiteURL of a AWS::S3::Bucket"));
        assert!(eval("!ImportValue x", &[])
            .unwrap_err()
            .contains("Fn::ImportValue"));
    }
}
