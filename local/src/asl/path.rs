//! JSONPath as Step Functions evaluates it (query language `JSONPath`).
//!
//! Step Functions documents its paths as "JsonPath syntax" with a link to Jayway
//! JsonPath (<https://docs.aws.amazon.com/step-functions/latest/dg/amazon-states-language-paths.html>),
//! and the runtime errors it raises are Jayway's own messages ("No results for path:
//! $['x']", "Missing property in path $['no']", recorded against AWS in LocalStack's
//! snapshot tests). So this module follows Jayway's evaluation rules (definite vs.
//! indefinite paths, when a missing node is an error, the slice arithmetic), plus the
//! restrictions the AWS page lists: no functions, no lexical operators (`in`,
//! `subsetof`, ...), no regular expressions, no `$` inside filters, and `@` in a filter
//! only matches objects.
//!
//! Evaluation walks the path step by step over a frontier of nodes, and deep scan uses
//! an explicit stack, so input data of any depth cannot overflow the stack; nesting in
//! the path text itself (filters within filters, parentheses, `!`) is bounded by
//! [`MAX_NESTING`] at parse time.

use crate::util::json_type as type_name;
use std::borrow::{Borrow, Cow};
use std::cmp::Ordering;
use std::fmt;

use serde_json::{Map, Number, Value};

use super::{names, AslError};

/// Deepest nesting of filters, parentheses and `!` that a path may contain.
pub const MAX_NESTING: usize = 64;

/// The cause AWS reports when a path is applied to a `null` state input (seen on
/// re:Post for `"Input.$": "$"` after a Lambda returned nothing): Jayway cannot parse
/// an empty document, so even `$` fails.
pub const NULL_INPUT_CAUSE: &str = "Unable to apply Path transformation to null or empty input.";

/// A parsed path. Step Functions accepts JSONPath (Jayway syntax) in InputPath,
/// OutputPath, ItemsPath, Parameters/ResultSelector `.$` values, Choice `Variable`
/// and `...Path` comparators; ResultPath only accepts *reference paths*.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    text: String,
    context: bool,
    /// No dot name contains an unescaped `@ , : ? *` (the operators a reference path
    /// may not use, states-language.net "Reference Paths").
    plain_names: bool,
    query: Query,
}

/// The steps after `$`, `$$` or `@`.
#[derive(Debug, Clone, PartialEq)]
struct Query {
    steps: Vec<Step>,
    /// Jayway's "definite" path: it designates at most one node, and reading it
    /// yields that node rather than an array of matches.
    definite: bool,
}

impl Query {
    fn new(steps: Vec<Step>) -> Query {
        let count = steps.len();
        let definite = steps
            .iter()
            .enumerate()
            .all(|(i, step)| step.is_definite(i + 1 == count));
        Query { steps, definite }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// `.name` or `['name']`.
    Name(String),
    /// `['a','b']`: at the end of a path Jayway merges the properties into one
    /// object; elsewhere it visits each.
    Names(Vec<String>),
    /// `[n]`, negative counts from the end.
    Index(i64),
    /// `[a,b]`.
    Indexes(Vec<i64>),
    /// `[from:to]` (a third `:step` part is accepted and ignored, as Jayway does).
    Slice(Option<i64>, Option<i64>),
    /// `.*` or `[*]`.
    Wildcard,
    /// `..`, always followed by the step it searches for.
    Scan,
    /// `[?(...)]`.
    Filter(Box<Expr>),
    /// `.name(...)`: Jayway syntax that Step Functions accepts in a definition but
    /// never resolves ("The JSONPath '$.Jobs.sum()' ... could not be found", re:Post
    /// QUYiQKP0XfThWEc_ahsMnLOA; the paths page says functions aren't supported).
    Function(String),
}

impl Step {
    fn is_definite(&self, leaf: bool) -> bool {
        match self {
            Step::Name(_) | Step::Index(_) | Step::Function(_) => true,
            Step::Names(_) => leaf,
            Step::Indexes(_) | Step::Slice(..) | Step::Wildcard | Step::Scan | Step::Filter(_) => {
                false
            }
        }
    }
}

/// A filter expression, `[?( ... )]`.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    /// `@.isbn` or `!@.isbn`.
    Exists {
        query: Query,
        negate: bool,
    },
    Compare {
        left: Operand,
        op: CompareOp,
        right: Operand,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// `@` followed by steps, relative to the element being filtered.
    Current(Query),
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CompareOp {
    Eq,
    Ne,
    /// `===`: Jayway's type-safe equality.
    TypedEq,
    /// `!==`.
    TypedNe,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Path {
    /// Parses a path at definition time. The message names the problem and its
    /// position (counted in characters from 0).
    pub fn parse(text: &str) -> Result<Path, String> {
        Self::parse_inner(text).map_err(|e| {
            format!(
                "Invalid JSONPath '{text}': {} at position {}",
                e.message, e.position
            )
        })
    }

    fn parse_inner(text: &str) -> Result<Path, ParseError> {
        let chars: Vec<char> = text.chars().collect();
        if chars.first() != Some(&'$') {
            return Err(ParseError {
                message: "a path must begin with '$'".to_owned(),
                position: 0,
            });
        }
        let context = chars.get(1) == Some(&'$');
        let mut parser = Parser {
            chars,
            pos: if context { 2 } else { 1 },
        };
        let (steps, plain_names) = parser.parse_steps(Mode::Top, 0)?;
        Ok(Path {
            text: text.to_owned(),
            context,
            plain_names,
            query: Query::new(steps),
        })
    }

    /// The path as written in the definition.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Starts with `$$` (the context object) rather than `$`.
    pub fn is_context(&self) -> bool {
        self.context
    }

    /// A reference path: only `.name`, `['name']` and `[index]` steps (no wildcard,
    /// filter, slice, union, deep scan), so it designates at most one node.
    pub fn is_reference(&self) -> bool {
        self.plain_names
            && self
                .query
                .steps
                .iter()
                .all(|step| matches!(step, Step::Name(_) | Step::Index(_)))
    }

    /// Jayway's definite path: reading it yields one node, not an array of matches.
    pub fn is_definite(&self) -> bool {
        self.query.definite
    }

    /// `$` or `$$` alone: the whole input (or context object).
    pub fn is_root(&self) -> bool {
        self.query.steps.is_empty()
    }

    /// Definite paths return the node or `Ok(None)` when absent; indefinite ones
    /// return `Some(array of matches)` (possibly empty), as Jayway does. Jayway also
    /// gives up on an indefinite path whose definite prefix is missing or of the wrong
    /// type (`$.missing[*]`, `$.number.a[*]`): that is `Ok(None)` too. Paths with a
    /// function never resolve. Nothing else can fail today; the `Result` leaves room
    /// for evaluation limits.
    pub fn select(&self, root: &Value) -> Result<Option<Value>, AslError> {
        Ok(self.lookup(root).ok())
    }

    /// Applies the path; on failure returns Jayway's explanation of what is missing.
    fn lookup(&self, root: &Value) -> Result<Value, String> {
        let hits = evaluate(&self.query.steps, root, false).map_err(|miss| miss.0)?;
        if self.query.definite {
            hits.into_iter()
                .last()
                .map(Cow::into_owned)
                .ok_or_else(|| format!("No results for path: {}", render(&self.query.steps)))
        } else {
            Ok(Value::Array(
                hits.into_iter().map(Cow::into_owned).collect(),
            ))
        }
    }

    /// The document a path reads: the context object for `$$`, else the input, which
    /// must not be `null` (see [`NULL_INPUT_CAUSE`]).
    fn root<'v>(&self, input: &'v Value, context: &'v Value) -> Result<&'v Value, AslError> {
        if self.context {
            Ok(context)
        } else if input.is_null() {
            Err(AslError::runtime(NULL_INPUT_CAUSE))
        } else {
            Ok(input)
        }
    }

    /// Reads the path for a field such as `"x.$"` in a payload template, Choice
    /// `Variable`, Fail `ErrorPath`: a miss is `States.Runtime` with AWS's wording
    /// ("The JSONPath '$.x' specified for the field 'x.$' could not be found in the
    /// input '{...}'", LocalStack snapshots recorded against AWS).
    pub fn read(&self, field: &str, input: &Value, context: &Value) -> Result<Value, AslError> {
        let root = self.root(input, context)?;
        self.lookup(root).map_err(|_| {
            AslError::runtime(format!(
                "The JSONPath '{}' specified for the field '{field}' could not be found in the input '{input}'",
                self.text
            ))
        })
    }

    /// Reads the path the way InputPath, OutputPath and the `...Path` timeouts do: a
    /// miss is `States.Runtime` with AWS's wording for those fields ("Invalid path
    /// '$.x' : No results for path: $['x']", LocalStack snapshots recorded against
    /// AWS), which carries Jayway's explanation.
    pub fn resolve(&self, input: &Value, context: &Value) -> Result<Value, AslError> {
        let root = self.root(input, context)?;
        self.lookup(root)
            .map_err(|detail| AslError::runtime(format!("Invalid path '{}' : {detail}", self.text)))
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Reads `path` against `input` (or `context` for `$$...`); a path that matches
/// nothing is `States.Runtime` with a cause naming the path and `field`, like AWS
/// ("The JSONPath '$.x' specified for the field 'x.$' could not be found in the input
/// '{...}'"). A path that does not parse is `States.Runtime` too (definitions should
/// have been checked with [`Path::parse`]).
pub fn read(path: &str, field: &str, input: &Value, context: &Value) -> Result<Value, AslError> {
    Path::parse(path)
        .map_err(AslError::runtime)?
        .read(field, input, context)
}

/// How a state's `InputPath` or `OutputPath` field was written.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum PathField {
    /// The field is absent: it means `$`.
    #[default]
    Absent,
    /// JSON `null`: "If the value of InputPath is null, it is as if it were {}"; the
    /// same holds for OutputPath (states-language.net, "Input and Output Processing").
    Null,
    Path(Path),
}

impl PathField {
    /// Checks the definition's value of `field` (`"InputPath"`, `"OutputPath"`).
    pub fn from_definition(field: &str, value: Option<&Value>) -> Result<PathField, String> {
        match value {
            None => Ok(PathField::Absent),
            Some(Value::Null) => Ok(PathField::Null),
            Some(Value::String(text)) => Path::parse(text).map(PathField::Path).map_err(|e| {
                format!("The value for the field '{field}' must be a valid JSONPath: {e}")
            }),
            Some(other) => Err(format!(
                "The value for the field '{field}' must be a string or null, found {}",
                type_name(other)
            )),
        }
    }
}

/// InputPath: `Absent` (the field absent) means `$`; JSON `null` means `{}` (the docs:
/// "If the value of InputPath is null, it is as if it were {}"). A path that matches
/// nothing is `States.Runtime` ("Invalid path '$.x' : No results for path: $['x']").
pub fn apply_input_path(
    input: Value,
    input_path: &PathField,
    context: &Value,
) -> Result<Value, AslError> {
    apply_path_field(input, input_path, context)
}

/// OutputPath, applied to the state output after ResultPath: same rules as InputPath.
pub fn apply_output_path(
    output: Value,
    output_path: &PathField,
    context: &Value,
) -> Result<Value, AslError> {
    apply_path_field(output, output_path, context)
}

fn apply_path_field(value: Value, field: &PathField, context: &Value) -> Result<Value, AslError> {
    match field {
        PathField::Absent => Ok(value),
        PathField::Null => Ok(Value::Object(Map::new())),
        PathField::Path(path) => path.resolve(&value, context),
    }
}

/// How a state's (or Catcher's) `ResultPath` field was written.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ResultPath {
    /// The field is absent: it means `$`, the result replaces the input.
    #[default]
    Absent,
    /// JSON `null`: the result is discarded and the input kept.
    Null,
    /// A reference path, not starting with `$$`.
    Path(Path),
}

impl ResultPath {
    /// Checks the definition's `ResultPath` value: a reference path that does not
    /// address the context object ("The value of ResultPath MUST NOT begin with $$",
    /// states-language.net), or `null`, or absent.
    pub fn from_definition(value: Option<&Value>) -> Result<ResultPath, String> {
        match value {
            None => Ok(ResultPath::Absent),
            Some(Value::Null) => Ok(ResultPath::Null),
            Some(Value::String(text)) => ResultPath::parse(text),
            Some(other) => Err(format!(
                "The value for the field 'ResultPath' must be a string or null, found {}",
                type_name(other)
            )),
        }
    }

    /// Parses a `ResultPath` string (see [`ResultPath::from_definition`]).
    pub fn parse(text: &str) -> Result<ResultPath, String> {
        let path = Path::parse(text).map_err(|e| {
            format!("The value for the field 'ResultPath' must be a valid JSONPath: {e}")
        })?;
        if path.is_context() {
            return Err(format!(
                "The value for the field 'ResultPath' must not begin with '$$' (it cannot write into the context object): '{text}'"
            ));
        }
        if !path.is_reference() {
            return Err(format!(
                "The value for the field 'ResultPath' must be a reference path (only .name, ['name'] and [index] steps): '{text}'"
            ));
        }
        Ok(ResultPath::Path(path))
    }
}

/// ResultPath: absent → `$` (result replaces input); `null` → input kept, result
/// discarded; a reference path → result set there, creating missing intermediate
/// objects ("with intervening fields constructed as necessary", states-language.net).
/// A node in the way that is not an object, an index step over something that is not
/// an array or past its end, or an input that is not an object (spec example: input
/// `"foo"` with `$.x`) → `States.ResultPathMatchFailure`. Accepts `ResultPath` or
/// `&ResultPath`.
pub fn apply_result_path(
    input: Value,
    result_path: impl Borrow<ResultPath>,
    result: Value,
) -> Result<Value, AslError> {
    match result_path.borrow() {
        ResultPath::Absent => Ok(result),
        ResultPath::Null => Ok(input),
        ResultPath::Path(path) => place_result(input, path, result),
    }
}

fn place_result(mut input: Value, path: &Path, result: Value) -> Result<Value, AslError> {
    let failure = |at: &[Step], reason: String, input: &Value| {
        AslError::new(
            names::RESULT_PATH_MATCH_FAILURE,
            format!(
                "Unable to apply ResultPath '{}' to input '{input}': {} {reason}",
                path.text,
                render(at)
            ),
        )
    };
    if path.context {
        return Err(failure(
            &[],
            "is the context object, which cannot be written".to_owned(),
            &input,
        ));
    }
    let steps = &path.query.steps;
    let Some((last, parents)) = steps.split_last() else {
        return Ok(result);
    };
    // Walk (creating objects) to the parent of the last step, then check the whole
    // route before mutating so the error can show the untouched input.
    if let Err((depth, reason)) = check_route(&input, parents, last) {
        return Err(failure(steps.get(..depth).unwrap_or(&[]), reason, &input));
    }
    let mut node = &mut input;
    for step in parents {
        node = match (step, node) {
            (Step::Name(name), Value::Object(map)) => map
                .entry(name.clone())
                .or_insert_with(|| Value::Object(Map::new())),
            (Step::Index(index), Value::Array(items)) => {
                let slot = match effective_index(*index, items.len()) {
                    Some(i) => items.get_mut(i),
                    None => None,
                };
                match slot {
                    Some(item) => item,
                    None => {
                        return Err(AslError::new(
                            names::RESULT_PATH_MATCH_FAILURE,
                            "index out of range",
                        ))
                    }
                }
            }
            _ => {
                return Err(AslError::new(
                    names::RESULT_PATH_MATCH_FAILURE,
                    format!("ResultPath '{}' is not a reference path", path.text),
                ))
            }
        };
    }
    match (last, node) {
        (Step::Name(name), Value::Object(map)) => {
            map.insert(name.clone(), result);
        }
        (Step::Index(index), Value::Array(items)) => {
            if let Some(i) = effective_index(*index, items.len()) {
                if let Some(slot) = items.get_mut(i) {
                    *slot = result;
                }
            }
        }
        _ => {}
    }
    Ok(input)
}

/// Checks that ResultPath can be applied to `input` without changing it. On failure
/// returns how many steps lead to the offending node and why it cannot be used.
fn check_route(input: &Value, parents: &[Step], last: &Step) -> Result<(), (usize, String)> {
    let mut node = Some(input);
    for (depth, step) in parents.iter().chain(std::iter::once(last)).enumerate() {
        if !matches!(step, Step::Name(_) | Step::Index(_)) {
            return Err((
                depth,
                "is followed by a step a reference path cannot have".to_owned(),
            ));
        }
        // `None`: a missing field that will be created as an empty object.
        let Some(current) = node else {
            if matches!(step, Step::Index(_)) {
                return Err((
                    depth,
                    "does not exist, and an array element cannot be created".to_owned(),
                ));
            }
            continue;
        };
        node = match (step, current) {
            (Step::Name(name), Value::Object(map)) => map.get(name),
            (Step::Name(_), other) => {
                return Err((depth, format!("is {}, not an object", describe(other))));
            }
            (Step::Index(index), Value::Array(items)) => match effective_index(*index, items.len())
            {
                Some(i) => items.get(i),
                None => {
                    return Err((
                        depth,
                        format!(
                            "has {} elements, so index {index} is out of range",
                            items.len()
                        ),
                    ))
                }
            },
            (Step::Index(_), other) => {
                return Err((depth, format!("is {}, not an array", describe(other))));
            }
            _ => None,
        };
    }
    Ok(())
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        other => format!("{} {other}", type_name(other)),
    }
}

// ---------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------

/// Jayway's PathNotFoundException (or InvalidPathException during evaluation): the
/// whole read fails with this explanation.
struct Miss(String);

/// Applies `steps` to `root`. `require_properties` is Jayway's REQUIRE_PROPERTIES
/// option, which its filter existence checks (`[?(@.isbn)]`) turn on: then any missing
/// property fails the read.
fn evaluate<'v>(
    steps: &[Step],
    root: &'v Value,
    require_properties: bool,
) -> Result<Vec<Cow<'v, Value>>, Miss> {
    let mut frontier: Vec<&'v Value> = vec![root];
    // Jayway only raises "missing" errors while every earlier step was definite.
    let mut upstream_definite = true;
    let count = steps.len();
    for (i, step) in steps.iter().enumerate() {
        let leaf = i + 1 == count;
        let at = Position {
            steps,
            index: i,
            upstream_definite,
            require_properties,
        };
        if let (Step::Names(names), true) = (step, leaf) {
            let mut merged = Vec::with_capacity(frontier.len());
            for node in frontier {
                if let Some(object) = at.object(node)? {
                    merged.push(Cow::Owned(merge_properties(object, names, &at)?));
                }
            }
            return Ok(merged);
        }
        let mut next = Vec::new();
        for node in frontier {
            at.apply(step, node, &mut next)?;
        }
        frontier = next;
        upstream_definite = upstream_definite && step.is_definite(leaf);
    }
    Ok(frontier.into_iter().map(Cow::Borrowed).collect())
}

/// Where evaluation stands: the step being applied and what Jayway knows about it.
struct Position<'p> {
    steps: &'p [Step],
    index: usize,
    upstream_definite: bool,
    require_properties: bool,
}

impl Position<'_> {
    fn leaf(&self) -> bool {
        self.index + 1 == self.steps.len()
    }

    /// The concrete path to the current node, as Jayway prints it. Exact whenever
    /// Jayway raises an error (all earlier steps definite).
    fn current_path(&self) -> String {
        render(self.steps.get(..self.index).unwrap_or(&[]))
    }

    /// The current step and the rest of the path, as Jayway's token `toString()`.
    fn remaining(&self) -> String {
        let mut out = String::new();
        for step in self.steps.get(self.index..).unwrap_or(&[]) {
            push_fragment(step, &mut out);
        }
        out
    }

    /// A property step needs an object: anything else is skipped, or an error while
    /// the path so far is definite.
    fn object<'v>(&self, node: &'v Value) -> Result<Option<&'v Map<String, Value>>, Miss> {
        match node {
            Value::Object(map) => Ok(Some(map)),
            other if self.upstream_definite => {
                let mut property = String::new();
                if let Some(step) = self.steps.get(self.index) {
                    push_fragment(step, &mut property);
                }
                Err(Miss(format!(
                    "Expected to find an object with property {property} in path {} but found '{}'. This is not a json object.",
                    self.current_path(),
                    json_type(other)
                )))
            }
            _ => Ok(None),
        }
    }

    /// An index or slice step needs an array: anything else is skipped, or an error
    /// while the path so far is definite.
    fn array<'v>(&self, node: &'v Value) -> Result<Option<&'v Vec<Value>>, Miss> {
        match node {
            Value::Array(items) => Ok(Some(items)),
            _ if !self.upstream_definite => Ok(None),
            Value::Null => Err(Miss(format!("The path {} is null", self.current_path()))),
            other => Err(Miss(format!(
                "Filter: {} can only be applied to arrays. Current context is: {other}",
                self.remaining()
            ))),
        }
    }

    /// A property that is absent: skipped, or an error when Jayway insists on it.
    fn missing(&self, name: &str, token_definite: bool) -> Result<(), Miss> {
        let path = format!("{}['{name}']", self.current_path());
        if self.leaf() {
            if self.require_properties {
                return Err(Miss(format!("No results for path: {path}")));
            }
            return Ok(());
        }
        if (self.upstream_definite && token_definite) || self.require_properties {
            return Err(Miss(format!("Missing property in path {path}")));
        }
        Ok(())
    }

    fn apply<'v>(
        &self,
        step: &Step,
        node: &'v Value,
        next: &mut Vec<&'v Value>,
    ) -> Result<(), Miss> {
        match step {
            Step::Name(name) => {
                if let Some(object) = self.object(node)? {
                    match object.get(name) {
                        Some(child) => next.push(child),
                        None => self.missing(name, true)?,
                    }
                }
            }
            Step::Names(names) => {
                // Not the last step: visit each property (merging is done by the caller).
                if let Some(object) = self.object(node)? {
                    for name in names {
                        match object.get(name) {
                            Some(child) => next.push(child),
                            None => self.missing(name, false)?,
                        }
                    }
                }
            }
            Step::Index(index) => {
                if let Some(items) = self.array(node)? {
                    push_index(items, *index, next);
                }
            }
            Step::Indexes(indexes) => {
                if let Some(items) = self.array(node)? {
                    for index in indexes {
                        push_index(items, *index, next);
                    }
                }
            }
            Step::Slice(from, to) => {
                if let Some(items) = self.array(node)? {
                    push_slice(items, *from, *to, next);
                }
            }
            Step::Wildcard => match node {
                Value::Object(map) => next.extend(map.values()),
                Value::Array(items) => next.extend(items.iter()),
                _ => {}
            },
            Step::Scan => {
                let target = self.steps.get(self.index + 1);
                let target_leaf = self.index + 2 == self.steps.len();
                scan(node, target, target_leaf, next);
            }
            Step::Filter(expr) => match node {
                Value::Object(_) if accept(expr, node) => next.push(node),
                Value::Object(_) => {}
                // "The @ operator ... does not match scalar values. It only matches
                // objects." (AWS paths page), so only object elements are tested.
                Value::Array(items) => next.extend(
                    items
                        .iter()
                        .filter(|item| item.is_object() && accept(expr, item)),
                ),
                other if self.upstream_definite => {
                    return Err(Miss(format!(
                        "Filter: {} can not be applied to primitives. Current context is: {other}",
                        self.remaining()
                    )))
                }
                _ => {}
            },
            Step::Function(name) => {
                return Err(Miss(format!(
                    "Function {name}() is not supported (Step Functions paths do not support functions)"
                )))
            }
        }
        Ok(())
    }
}

/// `['a','b']` at the end of a path: one object with the properties that exist.
fn merge_properties(
    object: &Map<String, Value>,
    names: &[String],
    at: &Position<'_>,
) -> Result<Value, Miss> {
    let mut merged = Map::new();
    for name in names {
        match object.get(name) {
            Some(value) => {
                merged.insert(name.clone(), value.clone());
            }
            None if at.require_properties => {
                let mut fragment = String::new();
                push_fragment(&Step::Names(names.to_vec()), &mut fragment);
                return Err(Miss(format!(
                    "Missing property in path {}{fragment}",
                    at.current_path()
                )));
            }
            None => {}
        }
    }
    Ok(Value::Object(merged))
}

/// Jayway: a negative index counts from the end; out of range selects nothing.
fn effective_index(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let effective = if index < 0 { len + index } else { index };
    if (0..len).contains(&effective) {
        usize::try_from(effective).ok()
    } else {
        None
    }
}

fn push_index<'v>(items: &'v [Value], index: i64, next: &mut Vec<&'v Value>) {
    if let Some(item) = effective_index(index, items.len()).and_then(|i| items.get(i)) {
        next.push(item);
    }
}

/// Jayway's slice arithmetic, quirks included (ArraySliceToken): `[from:]` and `[:to]`
/// wrap negative bounds once, but `[from:to]` does not wrap `to`, so `[1:-1]` selects
/// nothing, and a negative `from` there visits indexes from the end first.
fn push_slice<'v>(
    items: &'v [Value],
    from: Option<i64>,
    to: Option<i64>,
    next: &mut Vec<&'v Value>,
) {
    let Ok(len) = i64::try_from(items.len()) else {
        return;
    };
    let (start, end) = match (from, to) {
        (Some(from), None) => {
            let start = if from < 0 { len + from } else { from };
            (start.max(0), len)
        }
        (Some(from), Some(to)) => (from, to.min(len)),
        (None, Some(to)) => {
            let end = if to < 0 { len + to } else { to };
            (0, end.min(len))
        }
        (None, None) => (0, 0),
    };
    if len == 0 || start >= end {
        return;
    }
    for index in start..end {
        push_index(items, index, next);
    }
}

/// Deep scan: every object and array under `start` (itself included), in document
/// pre-order as Jayway walks them, that the following step can apply to.
fn scan<'v>(start: &'v Value, target: Option<&Step>, target_leaf: bool, next: &mut Vec<&'v Value>) {
    let mut stack = vec![start];
    while let Some(node) = stack.pop() {
        let children: Vec<&'v Value> = match node {
            Value::Object(map) => map.values().collect(),
            Value::Array(items) => items.iter().collect(),
            _ => continue,
        };
        if scan_matches(target, target_leaf, node) {
            next.push(node);
        }
        stack.extend(children.into_iter().rev());
    }
}

fn scan_matches(target: Option<&Step>, target_leaf: bool, node: &Value) -> bool {
    match target {
        Some(Step::Name(name)) => node.as_object().is_some_and(|map| map.contains_key(name)),
        Some(Step::Names(names)) => node.as_object().is_some_and(|map| {
            // Merged at the end of the path: Jayway requires every property.
            !target_leaf || names.iter().all(|name| map.contains_key(name))
        }),
        Some(Step::Index(_) | Step::Indexes(_) | Step::Slice(..)) => node.is_array(),
        Some(Step::Wildcard) => true,
        Some(Step::Filter(expr)) => node.is_object() && accept(expr, node),
        Some(Step::Scan | Step::Function(_)) | None => false,
    }
}

/// Whether `item` passes the filter.
fn accept(expr: &Expr, item: &Value) -> bool {
    match expr {
        Expr::Or(parts) => parts.iter().any(|part| accept(part, item)),
        Expr::And(parts) => parts.iter().all(|part| accept(part, item)),
        Expr::Not(inner) => !accept(inner, item),
        Expr::Exists { query, negate } => {
            // Jayway evaluates with REQUIRE_PROPERTIES; a definite path must find its
            // node, an indefinite one only must not hit a missing property.
            let exists = match evaluate(&query.steps, item, true) {
                Ok(hits) => !query.definite || !hits.is_empty(),
                Err(_) => false,
            };
            exists != *negate
        }
        Expr::Compare { left, op, right } => {
            let left = operand(left, item);
            let right = operand(right, item);
            compare(left.as_deref(), *op, right.as_deref())
        }
    }
}

/// An operand's value; `None` is Jayway's "undefined" (a missing property).
fn operand<'a>(operand: &'a Operand, item: &'a Value) -> Option<Cow<'a, Value>> {
    match operand {
        Operand::Literal(value) => Some(Cow::Borrowed(value)),
        Operand::Current(query) => {
            let hits = evaluate(&query.steps, item, false).ok()?;
            if query.definite {
                hits.into_iter().last()
            } else {
                Some(Cow::Owned(Value::Array(
                    hits.into_iter().map(Cow::into_owned).collect(),
                )))
            }
        }
    }
}

/// Jayway's relational operators (EvaluatorFactory): `==` compares numbers by value,
/// a number and a numeric string as equal, arrays/objects structurally; `<` and
/// friends only compare two numbers or two strings; anything involving a missing
/// property is false (so `!=` is true).
fn compare(left: Option<&Value>, op: CompareOp, right: Option<&Value>) -> bool {
    match op {
        CompareOp::Eq => loose_eq(left, right),
        CompareOp::Ne => !loose_eq(left, right),
        CompareOp::TypedEq => same_kind(left, right) && loose_eq(left, right),
        CompareOp::TypedNe => !(same_kind(left, right) && loose_eq(left, right)),
        CompareOp::Lt => order(left, right) == Some(Ordering::Less),
        CompareOp::Le => matches!(order(left, right), Some(Ordering::Less | Ordering::Equal)),
        CompareOp::Gt => order(left, right) == Some(Ordering::Greater),
        CompareOp::Ge => matches!(
            order(left, right),
            Some(Ordering::Greater | Ordering::Equal)
        ),
    }
}

fn loose_eq(left: Option<&Value>, right: Option<&Value>) -> bool {
    let (Some(left), Some(right)) = (left, right) else {
        return false;
    };
    match (left, right) {
        (Value::Array(_) | Value::Object(_), Value::Array(_) | Value::Object(_)) => left == right,
        (Value::String(a), Value::String(b)) => a == b,
        // Jayway's StringNode.equals(NumberNode) compares text, NumberNode.equals(
        // StringNode) compares numbers: the asymmetry is kept.
        (Value::String(a), Value::Number(b)) => *a == b.to_string(),
        (Value::Number(a), Value::String(b)) => {
            parse_decimal(b).is_some_and(|b| number_order(a, &b) == Some(Ordering::Equal))
        }
        (Value::Number(a), Value::Number(b)) => number_order(a, b) == Some(Ordering::Equal),
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Null, Value::Null) => true,
        _ => false,
    }
}

/// Jayway's type-safe operators compare node classes: string, number, boolean, null,
/// or JSON (array/object).
fn same_kind(left: Option<&Value>, right: Option<&Value>) -> bool {
    fn kind(value: &Value) -> u8 {
        match value {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) | Value::Object(_) => 4,
        }
    }
    matches!((left, right), (Some(a), Some(b)) if kind(a) == kind(b))
}

fn order(left: Option<&Value>, right: Option<&Value>) -> Option<Ordering> {
    match (left?, right?) {
        (Value::Number(a), Value::Number(b)) => number_order(a, b),
        // Java's String.compareTo orders by UTF-16 code units.
        (Value::String(a), Value::String(b)) => Some(a.encode_utf16().cmp(b.encode_utf16())),
        _ => None,
    }
}

fn number_order(a: &Number, b: &Number) -> Option<Ordering> {
    fn exact(n: &Number) -> Option<i128> {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    }
    match (exact(a), exact(b)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// A string Java's `BigDecimal` would read as a number (`5`, `-1.50`, `.5`, `2e3`).
fn parse_decimal(text: &str) -> Option<Number> {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (body.get(..i)?, Some(body.get(i + 1..)?)),
        None => (body, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = digits(whole)
        && fraction.is_none_or(digits)
        && !(whole.is_empty() && fraction.is_none_or(str::is_empty));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if !mantissa_ok || !exponent_ok {
        return None;
    }
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    if fraction.is_none() && exponent.is_none() {
        if let Ok(n) = unsigned.parse::<i64>() {
            return Some(Number::from(n));
        }
        if let Ok(n) = unsigned.parse::<u64>() {
            return Some(Number::from(n));
        }
    }
    unsigned.parse::<f64>().ok().and_then(Number::from_f64)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A path as Jayway prints it: `$['a'][0]`.
fn render(steps: &[Step]) -> String {
    let mut out = String::from("$");
    for step in steps {
        push_fragment(step, &mut out);
    }
    out
}

fn push_fragment(step: &Step, out: &mut String) {
    let join = |items: Vec<String>| items.join(",");
    match step {
        Step::Name(name) => out.push_str(&format!("['{name}']")),
        Step::Names(names) => out.push_str(&format!(
            "[{}]",
            join(names.iter().map(|n| format!("'{n}'")).collect())
        )),
        Step::Index(index) => out.push_str(&format!("[{index}]")),
        Step::Indexes(indexes) => out.push_str(&format!(
            "[{}]",
            join(indexes.iter().map(i64::to_string).collect())
        )),
        Step::Slice(from, to) => out.push_str(&format!(
            "[{}:{}]",
            from.map(|n| n.to_string()).unwrap_or_default(),
            to.map(|n| n.to_string()).unwrap_or_default()
        )),
        Step::Wildcard => out.push_str("[*]"),
        Step::Scan => out.push_str(".."),
        Step::Filter(_) => out.push_str("[?]"),
        Step::Function(name) => out.push_str(&format!(".{name}()")),
    }
}

// ---------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------

struct ParseError {
    message: String,
    position: usize,
}

type Parsed<T> = Result<T, ParseError>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A whole path: a dot name runs to the next `.`, `[` or `(`.
    Top,
    /// A path after `@` inside a filter: names also end at blanks, `)` and operators.
    Filter,
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn error<T>(&self, message: impl Into<String>) -> Parsed<T> {
        self.error_at(self.pos, message)
    }

    fn error_at<T>(&self, position: usize, message: impl Into<String>) -> Parsed<T> {
        Err(ParseError {
            message: message.into(),
            position,
        })
    }

    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, expected: char) -> Parsed<()> {
        match self.peek() {
            Some(c) if c == expected => {
                self.pos += 1;
                Ok(())
            }
            Some(c) => self.error(format!("expected '{expected}' but found '{c}'")),
            None => self.error(format!("expected '{expected}' but the path ended")),
        }
    }

    fn starts_with(&self, text: &str) -> bool {
        text.chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i) == Some(c))
    }

    fn check_depth(&self, depth: usize) -> Parsed<()> {
        if depth > MAX_NESTING {
            return self.error(format!(
                "filters, parentheses and '!' are nested more than {MAX_NESTING} deep"
            ));
        }
        Ok(())
    }

    /// Steps until the end of the text (or, in a filter, the end of the `@` path).
    /// Also returns whether every dot name is free of reference-path operators.
    fn parse_steps(&mut self, mode: Mode, depth: usize) -> Parsed<(Vec<Step>, bool)> {
        let mut steps = Vec::new();
        let mut plain = true;
        loop {
            match self.peek() {
                None => break,
                Some('.') => {
                    let dot = self.pos;
                    let scan = self.peek_at(1) == Some('.');
                    self.pos += if scan { 2 } else { 1 };
                    if scan {
                        steps.push(Step::Scan);
                    }
                    match self.peek() {
                        None => {
                            return self.error_at(dot, "a path must not end with '.' or '..'");
                        }
                        Some('.') => return self.error("unexpected '.'"),
                        Some('[') => steps.push(self.parse_bracket(depth)?),
                        Some('*') => {
                            self.pos += 1;
                            steps.push(Step::Wildcard);
                        }
                        Some(_) => {
                            let (step, name_plain) = self.parse_dot_name(mode)?;
                            plain &= name_plain;
                            steps.push(step);
                        }
                    }
                }
                Some('[') => steps.push(self.parse_bracket(depth)?),
                Some(_) if mode == Mode::Filter => break,
                Some(c) => return self.error(format!("expected '.' or '[' but found '{c}'")),
            }
        }
        Ok((steps, plain))
    }

    /// A name after `.`: any characters up to `.`, `[` or `(` (Jayway), with the
    /// backslash escapes of the spec's reference-path examples (`$.store\.book`,
    /// `$.\uD800\uDF46`). A `(` makes it a function call.
    fn parse_dot_name(&mut self, mode: Mode) -> Parsed<(Step, bool)> {
        let start = self.pos;
        let mut name = String::new();
        let mut plain = true;
        loop {
            match self.peek() {
                None | Some('.' | '[') => break,
                Some('(') => return self.parse_function(start, name).map(|step| (step, false)),
                Some('\\') => {
                    self.pos += 1;
                    name.push(self.parse_escape(false)?);
                }
                Some(c) if c.is_whitespace() => {
                    if mode == Mode::Filter {
                        break;
                    }
                    return self.error("a name in dot notation cannot contain blanks; use bracket notation ['...']");
                }
                Some('<' | '>' | '=' | '!' | '~' | ')' | '&' | '|') if mode == Mode::Filter => {
                    break
                }
                Some(c) => {
                    if matches!(c, '@' | ',' | ':' | '?' | '*') {
                        plain = false;
                    }
                    name.push(c);
                    self.pos += 1;
                }
            }
        }
        if name.is_empty() {
            return self.error_at(start, "expected a name");
        }
        Ok((Step::Name(name), plain))
    }

    /// `name(...)`: read to the matching parenthesis; the call never resolves.
    fn parse_function(&mut self, start: usize, name: String) -> Parsed<Step> {
        if name.is_empty() {
            return self.error_at(start, "expected a function name before '('");
        }
        let mut open = 0usize;
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '(' => open += 1,
                ')' => {
                    open = open.saturating_sub(1);
                    if open == 0 {
                        return Ok(Step::Function(name));
                    }
                }
                _ => {}
            }
        }
        self.error_at(
            start,
            format!("the arguments of function '{name}' are not closed"),
        )
    }

    /// After a backslash: `\uXXXX` (surrogate pairs joined), and in quoted strings
    /// Jayway's `\b \f \n \r \t`; any other character stands for itself.
    fn parse_escape(&mut self, quoted: bool) -> Parsed<char> {
        let at = self.pos.saturating_sub(1);
        let Some(c) = self.peek() else {
            return self.error_at(at, "a backslash must be followed by a character");
        };
        self.pos += 1;
        let plain = match c {
            'u' => return self.parse_unicode(at),
            'b' if quoted => '\u{8}',
            'f' if quoted => '\u{c}',
            'n' if quoted => '\n',
            'r' if quoted => '\r',
            't' if quoted => '\t',
            other => other,
        };
        Ok(plain)
    }

    fn parse_unicode(&mut self, at: usize) -> Parsed<char> {
        let first = self.hex4(at)?;
        if (0xD800..0xDC00).contains(&first) {
            if self.peek() == Some('\\') && self.peek_at(1) == Some('u') {
                self.pos += 2;
                let second = self.hex4(at)?;
                if (0xDC00..0xE000).contains(&second) {
                    let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                    if let Some(c) = char::from_u32(code) {
                        return Ok(c);
                    }
                }
            }
            return self.error_at(
                at,
                "a \\u escape of a high surrogate must be followed by a low surrogate",
            );
        }
        char::from_u32(first).map_or_else(
            || self.error_at(at, "a \\u escape must name a character"),
            Ok,
        )
    }

    fn hex4(&mut self, at: usize) -> Parsed<u32> {
        let mut code = 0u32;
        for _ in 0..4 {
            match self.peek().and_then(|c| c.to_digit(16)) {
                Some(digit) => {
                    code = code * 16 + digit;
                    self.pos += 1;
                }
                None => return self.error_at(at, "a \\u escape needs four hexadecimal digits"),
            }
        }
        Ok(code)
    }

    /// A quoted string (name or filter literal), with Jayway's escapes.
    fn parse_quoted(&mut self) -> Parsed<String> {
        let start = self.pos;
        let Some(quote) = self.peek() else {
            return self.error("expected a quoted string");
        };
        self.pos += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => {
                    return self.error_at(
                        start,
                        format!("the string starting with {quote} is not closed"),
                    )
                }
                Some('\\') => {
                    self.pos += 1;
                    text.push(self.parse_escape(true)?);
                }
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(text);
                }
                Some(c) => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `[...]`: quoted names, indexes, a slice, `*`, or a filter.
    fn parse_bracket(&mut self, depth: usize) -> Parsed<Step> {
        let open = self.pos;
        self.pos += 1;
        self.skip_blanks();
        match self.peek() {
            Some('\'' | '"') => {
                let mut names = vec![self.parse_quoted()?];
                loop {
                    self.skip_blanks();
                    match self.peek() {
                        Some(',') => {
                            self.pos += 1;
                            self.skip_blanks();
                            if !matches!(self.peek(), Some('\'' | '"')) {
                                return self.error("expected a quoted name after ','");
                            }
                            names.push(self.parse_quoted()?);
                        }
                        Some(']') => {
                            self.pos += 1;
                            break;
                        }
                        Some(c) => return self.error(format!("expected ',' or ']' but found '{c}'")),
                        None => return self.error_at(open, "'[' is not closed"),
                    }
                }
                let single = if names.len() == 1 { names.pop().map(Step::Name) } else { None };
                Ok(single.unwrap_or(Step::Names(names)))
            }
            Some('*') => {
                self.pos += 1;
                self.skip_blanks();
                self.expect(']')?;
                Ok(Step::Wildcard)
            }
            Some('?') => {
                self.pos += 1;
                self.skip_blanks();
                if self.peek() != Some('(') {
                    return self.error("expected '(' after '?' (filters are written [?(...)])");
                }
                self.pos += 1;
                let expr = self.parse_or(depth + 1)?;
                self.skip_blanks();
                self.expect(')')?;
                self.skip_blanks();
                self.expect(']')?;
                Ok(Step::Filter(Box::new(expr)))
            }
            Some(c) if c.is_ascii_digit() || c == '-' || c == ':' => self.parse_indexes(open),
            Some(c) => self.error(format!(
                "expected a quoted name, an index, a slice, '*' or a filter after '[' but found '{c}'"
            )),
            None => self.error_at(open, "'[' is not closed"),
        }
    }

    /// `[0]`, `[-1]`, `[0,2]`, `[1:3]`, `[:2]`, `[-2:]`, `[0:4:2]`.
    fn parse_indexes(&mut self, open: usize) -> Parsed<Step> {
        let start = self.pos;
        let mut content = String::new();
        loop {
            match self.peek() {
                None => return self.error_at(open, "'[' is not closed"),
                Some(']') => break,
                Some(c)
                    if c.is_ascii_digit() || matches!(c, '-' | ':' | ',') || c.is_whitespace() =>
                {
                    content.push(c);
                    self.pos += 1;
                }
                Some(c) => {
                    return self.error(format!("unexpected '{c}' in an array index or slice"))
                }
            }
        }
        self.pos += 1;
        let integer = |part: &str| -> Parsed<Option<i64>> {
            let part = part.trim();
            if part.is_empty() {
                return Ok(None);
            }
            // Jayway reads indexes with Integer.parseInt.
            match part.parse::<i32>() {
                Ok(n) => Ok(Some(i64::from(n))),
                Err(_) => self.error_at(start, format!("'{part}' is not a valid array index")),
            }
        };
        if content.contains(':') {
            let parts: Vec<&str> = content.split(':').collect();
            if parts.len() > 3 || content.contains(',') {
                return self.error_at(start, "a slice is written [from:to] or [from:to:step]");
            }
            let from = integer(parts.first().copied().unwrap_or(""))?;
            let to = integer(parts.get(1).copied().unwrap_or(""))?;
            // Jayway parses only from and to; a step is ignored.
            integer(parts.get(2).copied().unwrap_or(""))?;
            if from.is_none() && to.is_none() {
                return self.error_at(start, "a slice needs a start or an end");
            }
            return Ok(Step::Slice(from, to));
        }
        let mut indexes = Vec::new();
        for part in content.split(',') {
            match integer(part)? {
                Some(index) => indexes.push(index),
                None => return self.error_at(start, "empty array index"),
            }
        }
        Ok(match indexes.as_slice() {
            [single] => Step::Index(*single),
            _ => Step::Indexes(indexes),
        })
    }

    // Filter grammar (Jayway's FilterCompiler):
    //   or       = and { '||' and }
    //   and      = unary { '&&' unary }
    //   unary    = '!' unary | '(' or ')' | relation
    //   relation = operand [ operator operand ]

    fn parse_or(&mut self, depth: usize) -> Parsed<Expr> {
        self.check_depth(depth)?;
        let mut parts = vec![self.parse_and(depth)?];
        loop {
            self.skip_blanks();
            if !self.starts_with("||") {
                break;
            }
            self.pos += 2;
            parts.push(self.parse_and(depth)?);
        }
        if parts.len() == 1 {
            if let Some(only) = parts.pop() {
                return Ok(only);
            }
        }
        Ok(Expr::Or(parts))
    }

    fn parse_and(&mut self, depth: usize) -> Parsed<Expr> {
        let mut parts = vec![self.parse_unary(depth)?];
        loop {
            self.skip_blanks();
            if !self.starts_with("&&") {
                break;
            }
            self.pos += 2;
            parts.push(self.parse_unary(depth)?);
        }
        if parts.len() == 1 {
            if let Some(only) = parts.pop() {
                return Ok(only);
            }
        }
        Ok(Expr::And(parts))
    }

    fn parse_unary(&mut self, depth: usize) -> Parsed<Expr> {
        self.check_depth(depth)?;
        self.skip_blanks();
        match self.peek() {
            Some('!') => {
                let bang = self.pos;
                self.pos += 1;
                self.skip_blanks();
                if matches!(self.peek(), Some('@' | '$')) {
                    // `!@.isbn`: the '!' belongs to the operand.
                    self.pos = bang;
                    return self.parse_relation(depth);
                }
                Ok(Expr::Not(Box::new(self.parse_unary(depth + 1)?)))
            }
            Some('(') => {
                self.pos += 1;
                let inner = self.parse_or(depth + 1)?;
                self.skip_blanks();
                self.expect(')')?;
                Ok(inner)
            }
            _ => self.parse_relation(depth),
        }
    }

    fn parse_relation(&mut self, depth: usize) -> Parsed<Expr> {
        let start = self.pos;
        let (left, negated) = self.parse_operand(depth)?;
        self.skip_blanks();
        match self.parse_operator()? {
            // As in Jayway, a '!' before a compared path is ignored.
            Some(op) => {
                let (right, _) = self.parse_operand(depth)?;
                Ok(Expr::Compare { left, op, right })
            }
            None => match left {
                Operand::Current(query) => Ok(Expr::Exists {
                    query,
                    negate: negated,
                }),
                Operand::Literal(_) => {
                    self.error_at(start, "a literal must be compared with something")
                }
            },
        }
    }

    fn parse_operator(&mut self) -> Parsed<Option<CompareOp>> {
        let start = self.pos;
        let mut symbol = String::new();
        while let Some(c @ ('<' | '>' | '=' | '!' | '~')) = self.peek() {
            symbol.push(c);
            self.pos += 1;
        }
        if symbol.is_empty() {
            let mut word = String::new();
            while let Some(c) = self.peek().filter(char::is_ascii_alphabetic) {
                word.push(c);
                self.pos += 1;
            }
            const LEXICAL: [&str; 11] = [
                "in", "nin", "subsetof", "anyof", "noneof", "size", "empty", "contains", "all",
                "type", "matches",
            ];
            if LEXICAL.contains(&word.to_ascii_lowercase().as_str()) {
                return self.error_at(
                    start,
                    format!("the filter operator '{word}' is not supported (Step Functions paths support no lexical operators)"),
                );
            }
            self.pos = start;
            return Ok(None);
        }
        let op = match symbol.as_str() {
            "==" => CompareOp::Eq,
            "!=" => CompareOp::Ne,
            "===" => CompareOp::TypedEq,
            "!==" => CompareOp::TypedNe,
            "<" => CompareOp::Lt,
            "<=" => CompareOp::Le,
            ">" => CompareOp::Gt,
            ">=" => CompareOp::Ge,
            "=~" => {
                return self.error_at(
                    start,
                    "regular expressions (=~) are not supported in Step Functions filters",
                )
            }
            other => return self.error_at(start, format!("unknown filter operator '{other}'")),
        };
        Ok(Some(op))
    }

    /// An operand and whether a '!' preceded it.
    fn parse_operand(&mut self, depth: usize) -> Parsed<(Operand, bool)> {
        self.skip_blanks();
        let start = self.pos;
        match self.peek() {
            Some('!') => {
                self.pos += 1;
                self.skip_blanks();
                if self.peek() == Some('@') {
                    Ok((Operand::Current(self.parse_current(depth)?), true))
                } else {
                    self.parse_operand_root(start)
                }
            }
            Some('@') => Ok((Operand::Current(self.parse_current(depth)?), false)),
            Some('$') => self.parse_operand_root(start),
            Some('\'' | '"') => Ok((Operand::Literal(Value::String(self.parse_quoted()?)), false)),
            Some('[' | '{') => Ok((Operand::Literal(self.parse_json_literal()?), false)),
            Some(c) if c == '-' || c.is_ascii_digit() => {
                Ok((Operand::Literal(self.parse_number()?), false))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let mut word = String::new();
                while let Some(c) = self.peek().filter(char::is_ascii_alphanumeric) {
                    word.push(c);
                    self.pos += 1;
                }
                let value = match word.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    _ => return self.error_at(start, format!("unexpected '{word}' in a filter")),
                };
                Ok((Operand::Literal(value), false))
            }
            Some('/') => {
                self.error("regular expressions are not supported in Step Functions filters")
            }
            Some(c) => self.error(format!("unexpected '{c}' in a filter")),
            None => self.error("the filter is not closed"),
        }
    }

    fn parse_operand_root<T>(&self, start: usize) -> Parsed<T> {
        if self.peek() == Some('$') {
            // "Filtering ... by referencing another value in the JSON structure isn't
            // supported" (AWS paths page).
            return self.error(
                "a filter cannot reference the document root '$' in Step Functions; use '@'",
            );
        }
        self.error_at(start, "expected '@' after '!'")
    }

    fn parse_current(&mut self, depth: usize) -> Parsed<Query> {
        self.check_depth(depth + 1)?;
        self.pos += 1; // '@'
        let (steps, _) = self.parse_steps(Mode::Filter, depth + 1)?;
        Ok(Query::new(steps))
    }

    fn parse_number(&mut self) -> Parsed<Value> {
        let start = self.pos;
        let mut text = String::new();
        while let Some(c) = self
            .peek()
            .filter(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        {
            text.push(c);
            self.pos += 1;
        }
        match serde_json::from_str::<Number>(&text) {
            Ok(number) => Ok(Value::Number(number)),
            Err(_) => self.error_at(start, format!("'{text}' is not a valid number")),
        }
    }

    /// `[...]` or `{...}` compared as JSON.
    fn parse_json_literal(&mut self) -> Parsed<Value> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        let mut escaped = false;
        while let Some(c) = self.peek() {
            self.pos += 1;
            if let Some(q) = quote {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
                continue;
            }
            match c {
                '"' | '\'' => quote = Some(c),
                '[' | '{' => depth += 1,
                ']' | '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        let text: String = self
                            .chars
                            .get(start..self.pos)
                            .unwrap_or(&[])
                            .iter()
                            .collect();
                        return match serde_json::from_str::<Value>(&text) {
                            Ok(value) => Ok(value),
                            Err(e) => {
                                self.error_at(start, format!("invalid JSON literal {text}: {e}"))
                            }
                        };
                    }
                }
                _ => {}
            }
        }
        self.error_at(start, "the JSON literal is not closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(text: &str) -> Path {
        match Path::parse(text) {
            Ok(path) => path,
            Err(e) => panic!("{e}"),
        }
    }

    fn sel(text: &str, root: &Value) -> Option<Value> {
        match p(text).select(root) {
            Ok(found) => found,
            Err(e) => panic!("{e}"),
        }
    }

    fn parse_err(text: &str) -> String {
        match Path::parse(text) {
            Ok(path) => panic!("{text} parsed as {path:?}"),
            Err(e) => e,
        }
    }

    fn store() -> Value {
        // The Jayway README document.
        json!({
            "store": {
                "book": [
                    {"category": "reference", "author": "Nigel Rees", "title": "Sayings of the Century", "price": 8.95},
                    {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword of Honour", "price": 12.99},
                    {"category": "fiction", "author": "Herman Melville", "title": "Moby Dick", "isbn": "0-553-21311-3", "price": 8.99},
                    {"category": "fiction", "author": "J. R. R. Tolkien", "title": "The Lord of the Rings", "isbn": "0-395-19395-8", "price": 22.99}
                ],
                "bicycle": {"color": "red", "price": 19.95}
            },
            "expensive": 10
        })
    }

    fn ref_doc() -> Value {
        // AWS paths page example.
        json!({"foo": 123, "bar": ["a", "b", "c"], "car": {"cdr": true},
               "jar": [{"a": 1}, {"a": 5}, {"a": 2}, {"a": 7}, {"a": 3}]})
    }

    // --- AWS documentation examples -------------------------------------------------

    #[test]
    fn aws_paths_page_reference_examples() {
        let doc = ref_doc();
        assert_eq!(sel("$.foo", &doc), Some(json!(123)));
        assert_eq!(sel("$.bar", &doc), Some(json!(["a", "b", "c"])));
        assert_eq!(sel("$.car.cdr", &doc), Some(json!(true)));
    }

    #[test]
    fn aws_paths_page_filter_example() {
        assert_eq!(
            sel("$.jar[?(@.a >= 5)]", &ref_doc()),
            Some(json!([{"a": 5}, {"a": 7}]))
        );
    }

    #[test]
    fn aws_inputpath_slice_example() {
        // input-output-inputpath-params: "$.a[0:2]" on {"a": [1,2,3,4]} is [1, 2].
        assert_eq!(
            sel("$.a[0:2]", &json!({"a": [1, 2, 3, 4]})),
            Some(json!([1, 2]))
        );
    }

    #[test]
    fn spec_union_example() {
        // states-language.net: "$.a[0,1]" yields 1 and 2, gathered into an array.
        assert_eq!(
            sel("$.a[0,1]", &json!({"a": [1, 2, 3, 4]})),
            Some(json!([1, 2]))
        );
    }

    #[test]
    fn spec_payload_template_paths() {
        let input = json!({"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]});
        assert_eq!(sel("$.vals[0]", &input), Some(json!(0)));
        assert_eq!(sel("$.vals[-3:]", &input), Some(json!([30, 40, 50])));
        assert_eq!(sel("$.vals[3:]", &input), Some(json!([30, 40, 50])));
    }

    #[test]
    fn aws_inputpath_dataset_example() {
        let input = json!({"comment": "Example for InputPath.",
            "dataset1": {"val1": 1, "val2": 2, "val3": 3},
            "dataset2": {"val1": "a", "val2": "b", "val3": "c"}});
        assert_eq!(
            sel("$.dataset2", &input),
            Some(json!({"val1": "a", "val2": "b", "val3": "c"}))
        );
    }

    // --- Roots ----------------------------------------------------------------------

    #[test]
    fn root_selects_whole_document() {
        let doc = json!({"a": 1});
        assert_eq!(sel("$", &doc), Some(doc.clone()));
        assert!(p("$").is_root());
        assert!(p("$").is_definite());
        assert!(!p("$").is_context());
    }

    #[test]
    fn context_root() {
        let path = p("$$.Execution.Id");
        assert!(path.is_context());
        assert!(path.is_reference());
        assert_eq!(
            path.select(&json!({"Execution": {"Id": "x"}}))
                .ok()
                .flatten(),
            Some(json!("x"))
        );
        assert!(p("$$").is_context());
        assert!(p("$$").is_root());
    }

    #[test]
    fn display_and_as_str_keep_the_text() {
        let path = p("$.a['b'][0]");
        assert_eq!(path.as_str(), "$.a['b'][0]");
        assert_eq!(path.to_string(), "$.a['b'][0]");
    }

    // --- Dot and bracket names ------------------------------------------------------

    #[test]
    fn dot_names_allow_hyphens_and_unicode() {
        // The spec's own Catcher example uses "$.error-info".
        let doc = json!({"error-info": 1, "detail-type": "x", "&Ж中": 2, "a:b": 3, "$x": 4});
        assert_eq!(sel("$.error-info", &doc), Some(json!(1)));
        assert_eq!(sel("$.detail-type", &doc), Some(json!("x")));
        assert_eq!(sel("$.&Ж中", &doc), Some(json!(2)));
        assert_eq!(sel("$.a:b", &doc), Some(json!(3)));
        assert_eq!(sel("$.$x", &doc), Some(json!(4)));
    }

    #[test]
    fn spec_reference_path_examples_parse() {
        // states-language.net "Reference Paths": all of these are acceptable.
        for text in [
            "$.store.book",
            "$.store\\.book",
            "$.\\stor\\e.boo\\k",
            "$.store.book.title",
            "$.foo.\\.bar",
            "$.foo\\@bar.baz\\[\\[.\\?pretty",
            "$.&Ж中.\\uD800\\uDF46",
            "$.ledgers.branch[0].pending.count",
            "$.ledgers.branch[0]",
            "$.ledgers[0][22][315].foo",
            "$['store']['book']",
            "$['store'][0]['book']",
        ] {
            let path = p(text);
            assert!(path.is_reference(), "{text} should be a reference path");
            assert!(path.is_definite(), "{text}");
        }
    }

    #[test]
    fn dot_name_escapes() {
        let doc = json!({"store.book": 1, "store": {"book": 2}, "foo": {".bar": 3},
            "foo@bar": {"baz[[": {"?pretty": 4}}, "x": {"\u{10346}": 5}});
        assert_eq!(sel("$.store\\.book", &doc), Some(json!(1)));
        assert_eq!(sel("$.\\stor\\e.boo\\k", &doc), Some(json!(2)));
        assert_eq!(sel("$.foo.\\.bar", &doc), Some(json!(3)));
        assert_eq!(sel("$.foo\\@bar.baz\\[\\[.\\?pretty", &doc), Some(json!(4)));
        assert_eq!(sel("$.x.\\uD800\\uDF46", &doc), Some(json!(5)));
    }

    #[test]
    fn bracket_names_single_and_double_quotes() {
        let doc = json!({"a b": 1, "it's": 2, "say \"hi\"": 3, "": 4, "tab\there": 5, "é": 6});
        assert_eq!(sel("$['a b']", &doc), Some(json!(1)));
        assert_eq!(sel("$[\"a b\"]", &doc), Some(json!(1)));
        assert_eq!(sel("$['it\\'s']", &doc), Some(json!(2)));
        assert_eq!(sel("$[\"it's\"]", &doc), Some(json!(2)));
        assert_eq!(sel("$['say \"hi\"']", &doc), Some(json!(3)));
        assert_eq!(sel("$[\"say \\\"hi\\\"\"]", &doc), Some(json!(3)));
        assert_eq!(sel("$['']", &doc), Some(json!(4)));
        assert_eq!(sel("$['tab\\there']", &doc), Some(json!(5)));
        assert_eq!(sel("$['\\u00e9']", &doc), Some(json!(6)));
        assert_eq!(sel("$[ 'a b' ]", &doc), Some(json!(1)));
    }

    #[test]
    fn aws_bracket_after_dot() {
        // The AWS paths page writes "$.abc.['def ghi']".
        let doc = json!({"abc": {"def ghi": 1}});
        assert_eq!(sel("$.abc.['def ghi']", &doc), Some(json!(1)));
        assert_eq!(sel("$.abc['def ghi']", &doc), Some(json!(1)));
    }

    #[test]
    fn bracket_and_dot_mix() {
        let doc = json!({"a": {"b": [{"c": 1}, {"c": 2}]}});
        assert_eq!(sel("$['a'].b[1]['c']", &doc), Some(json!(2)));
        assert_eq!(sel("$.a.b[0].c", &doc), Some(json!(1)));
    }

    // --- Indexes --------------------------------------------------------------------

    #[test]
    fn indexes_including_negative() {
        let doc = json!({"a": [10, 20, 30]});
        assert_eq!(sel("$.a[0]", &doc), Some(json!(10)));
        assert_eq!(sel("$.a[2]", &doc), Some(json!(30)));
        assert_eq!(sel("$.a[-1]", &doc), Some(json!(30)));
        assert_eq!(sel("$.a[-3]", &doc), Some(json!(10)));
        assert_eq!(sel("$.a[ 1 ]", &doc), Some(json!(20)));
    }

    #[test]
    fn index_out_of_range_is_absent() {
        let doc = json!({"a": [10, 20, 30]});
        assert_eq!(sel("$.a[3]", &doc), None);
        assert_eq!(sel("$.a[-4]", &doc), None);
        assert_eq!(sel("$.a[0]", &json!({"a": []})), None);
    }

    #[test]
    fn root_array_index() {
        assert_eq!(sel("$[1]", &json!(["x", "y"])), Some(json!("y")));
        assert_eq!(sel("$[0].a", &json!([{"a": 1}])), Some(json!(1)));
    }

    #[test]
    fn index_unions() {
        let doc = json!({"a": [10, 20, 30]});
        assert_eq!(sel("$.a[0,2]", &doc), Some(json!([10, 30])));
        assert_eq!(sel("$.a[2,0]", &doc), Some(json!([30, 10])));
        assert_eq!(sel("$.a[0, -1]", &doc), Some(json!([10, 30])));
        // Out-of-range members are skipped.
        assert_eq!(sel("$.a[0,7]", &doc), Some(json!([10])));
        assert!(!p("$.a[0,1]").is_definite());
    }

    // --- Slices (Jayway arithmetic) -------------------------------------------------

    #[test]
    fn slices() {
        let doc = json!({"a": [0, 1, 2, 3, 4]});
        assert_eq!(sel("$.a[1:3]", &doc), Some(json!([1, 2])));
        assert_eq!(sel("$.a[:2]", &doc), Some(json!([0, 1])));
        assert_eq!(sel("$.a[3:]", &doc), Some(json!([3, 4])));
        assert_eq!(sel("$.a[-2:]", &doc), Some(json!([3, 4])));
        assert_eq!(sel("$.a[:-2]", &doc), Some(json!([0, 1, 2])));
        assert_eq!(sel("$.a[0:100]", &doc), Some(json!([0, 1, 2, 3, 4])));
        assert_eq!(sel("$.a[-100:]", &doc), Some(json!([0, 1, 2, 3, 4])));
        assert_eq!(sel("$.a[10:]", &doc), Some(json!([])));
        assert_eq!(sel("$.a[3:1]", &doc), Some(json!([])));
        assert_eq!(sel("$.a[1:3]", &json!({"a": []})), Some(json!([])));
    }

    #[test]
    fn slice_quirks_follow_jayway() {
        let doc = json!({"a": [0, 1, 2, 3, 4]});
        // [from:to] does not wrap a negative `to`.
        assert_eq!(sel("$.a[1:-1]", &doc), Some(json!([])));
        // ... and a negative `from` visits indexes counted from the end first.
        assert_eq!(sel("$.a[-2:2]", &doc), Some(json!([3, 4, 0, 1])));
        assert_eq!(sel("$.a[-3:-1]", &doc), Some(json!([2, 3])));
    }

    #[test]
    fn slice_step_is_accepted_and_ignored_like_jayway() {
        let doc = json!({"a": [0, 1, 2, 3, 4]});
        assert_eq!(sel("$.a[0:4:2]", &doc), Some(json!([0, 1, 2, 3])));
        assert_eq!(sel("$.a[1::3]", &doc), Some(json!([1, 2, 3, 4])));
        assert!(parse_err("$.a[::2]").contains("a slice needs a start or an end"));
    }

    #[test]
    fn slice_results_are_arrays_even_for_one_match() {
        assert_eq!(sel("$.a[0:1]", &json!({"a": [7, 8]})), Some(json!([7])));
    }

    // --- Wildcards ------------------------------------------------------------------

    #[test]
    fn wildcards() {
        let doc = store();
        assert_eq!(
            sel("$.store.book[*].author", &doc),
            Some(json!([
                "Nigel Rees",
                "Evelyn Waugh",
                "Herman Melville",
                "J. R. R. Tolkien"
            ]))
        );
        assert_eq!(sel("$.store.bicycle.*", &doc), Some(json!(["red", 19.95])));
        assert_eq!(sel("$.store.bicycle[*]", &doc), Some(json!(["red", 19.95])));
        assert_eq!(sel("$.a[*]", &json!({"a": [1, 2]})), Some(json!([1, 2])));
        assert_eq!(sel("$.*", &json!({"a": 1, "b": 2})), Some(json!([1, 2])));
    }

    #[test]
    fn wildcard_on_scalar_or_empty_matches_nothing() {
        assert_eq!(sel("$.a[*]", &json!({"a": 5})), Some(json!([])));
        assert_eq!(sel("$.a.*", &json!({"a": "s"})), Some(json!([])));
        assert_eq!(sel("$.a[*]", &json!({"a": []})), Some(json!([])));
    }

    #[test]
    fn indefinite_path_skips_elements_without_the_property() {
        let doc = json!({"a": [{"b": 1}, {"c": 2}, 3, {"b": 4}]});
        assert_eq!(sel("$.a[*].b", &doc), Some(json!([1, 4])));
        assert_eq!(sel("$.a[*].b.c", &doc), Some(json!([])));
    }

    #[test]
    fn nested_wildcards_keep_document_order() {
        let doc = json!({"a": [{"b": [1, 2]}, {"b": [3]}]});
        assert_eq!(sel("$.a[*].b[*]", &doc), Some(json!([1, 2, 3])));
    }

    // --- Name unions ----------------------------------------------------------------

    #[test]
    fn name_union_at_the_end_merges_like_jayway() {
        let doc = json!({"a": 1, "b": 2, "c": 3});
        assert_eq!(sel("$['a','b']", &doc), Some(json!({"a": 1, "b": 2})));
        assert_eq!(
            sel("$['a', \"c\", 'zz']", &doc),
            Some(json!({"a": 1, "c": 3}))
        );
        assert_eq!(sel("$['x','y']", &doc), Some(json!({})));
        assert!(p("$['a','b']").is_definite());
        assert!(!p("$['a','b']").is_reference());
    }

    #[test]
    fn name_union_inside_visits_each() {
        let doc = json!({"a": {"v": 1}, "b": {"v": 2}, "c": {}});
        assert_eq!(sel("$['a','b','c'].v", &doc), Some(json!([1, 2])));
        assert_eq!(sel("$['a','zz'].v", &doc), Some(json!([1])));
        assert!(!p("$['a','b'].v").is_definite());
    }

    // --- Deep scan ------------------------------------------------------------------

    #[test]
    fn deep_scan_jayway_readme_examples() {
        let doc = store();
        assert_eq!(
            sel("$..author", &doc),
            Some(json!([
                "Nigel Rees",
                "Evelyn Waugh",
                "Herman Melville",
                "J. R. R. Tolkien"
            ]))
        );
        assert_eq!(sel("$..book[2].title", &doc), Some(json!(["Moby Dick"])));
        assert_eq!(
            sel("$..book[-1].title", &doc),
            Some(json!(["The Lord of the Rings"]))
        );
        assert_eq!(sel("$..book[0,1].price", &doc), Some(json!([8.95, 12.99])));
        assert_eq!(sel("$..book[:2].price", &doc), Some(json!([8.95, 12.99])));
        assert_eq!(
            sel("$..book[?(@.isbn)].title", &doc),
            Some(json!(["Moby Dick", "The Lord of the Rings"]))
        );
        assert_eq!(
            sel("$..book[?(@.price < 10)].title", &doc),
            Some(json!(["Sayings of the Century", "Moby Dick"]))
        );
    }

    #[test]
    fn deep_scan_is_preorder_and_includes_the_start() {
        let doc = json!({"a": 1, "b": {"a": 2, "c": [{"a": 3}]}, "d": {"a": 4}});
        assert_eq!(sel("$..a", &doc), Some(json!([1, 2, 3, 4])));
        assert_eq!(sel("$.b..a", &doc), Some(json!([2, 3])));
    }

    #[test]
    fn deep_scan_price_order() {
        // Jayway walks objects in document order: the books (first in the store),
        // then the bicycle, as its README's example result lists them.
        let found = sel("$.store..price", &store());
        assert_eq!(found, Some(json!([8.95, 12.99, 8.99, 22.99, 19.95])));
    }

    #[test]
    fn deep_scan_wildcard_lists_every_descendant() {
        let doc = json!({"a": {"b": 1}, "c": [2]});
        assert_eq!(sel("$..*", &doc), Some(json!([{"b": 1}, [2], 1, 2])));
    }

    #[test]
    fn deep_scan_with_brackets() {
        let doc = json!({"x": {"a b": 1}, "y": [[5, 6], [7]]});
        assert_eq!(sel("$..['a b']", &doc), Some(json!([1])));
        assert_eq!(sel("$..[0]", &doc), Some(json!([[5, 6], 5, 7])));
        assert_eq!(sel("$..[?(@['a b'])]", &doc), Some(json!([{"a b": 1}])));
    }

    #[test]
    fn deep_scan_on_scalars_and_missing() {
        assert_eq!(sel("$..a", &json!(5)), Some(json!([])));
        assert_eq!(sel("$..zz", &store()), Some(json!([])));
    }

    #[test]
    fn deep_scan_survives_deep_data() {
        let mut doc = json!({"leaf": true});
        for _ in 0..10_000 {
            // Not json!: it would re-serialize `doc` recursively.
            let mut map = Map::new();
            map.insert("n".to_owned(), doc);
            doc = Value::Object(map);
        }
        assert_eq!(sel("$..leaf", &doc), Some(json!([true])));
        // serde_json drops values recursively: unwind this one iteratively.
        let mut node = doc;
        while let Value::Object(mut map) = node {
            node = map.remove("n").unwrap_or(Value::Null);
        }
    }

    // --- Filters --------------------------------------------------------------------

    #[test]
    fn filter_comparisons() {
        let doc = store();
        let titles = |f: &str| sel(&format!("$.store.book[?({f})].title"), &doc);
        assert_eq!(
            titles("@.price < 10"),
            Some(json!(["Sayings of the Century", "Moby Dick"]))
        );
        assert_eq!(
            titles("@.price <= 8.95"),
            Some(json!(["Sayings of the Century"]))
        );
        assert_eq!(
            titles("@.price > 20"),
            Some(json!(["The Lord of the Rings"]))
        );
        assert_eq!(
            titles("@.price >= 12.99"),
            Some(json!(["Sword of Honour", "The Lord of the Rings"]))
        );
        assert_eq!(
            titles("@.category == 'reference'"),
            Some(json!(["Sayings of the Century"]))
        );
        assert_eq!(
            titles("@.category == \"reference\""),
            Some(json!(["Sayings of the Century"]))
        );
        assert_eq!(
            titles("@.category != 'fiction'"),
            Some(json!(["Sayings of the Century"]))
        );
        assert_eq!(titles("@.price==8.99"), Some(json!(["Moby Dick"])));
    }

    #[test]
    fn filter_logic() {
        let doc = store();
        let titles = |f: &str| sel(&format!("$.store.book[?({f})].title"), &doc);
        assert_eq!(
            titles("@.category == 'fiction' && @.price < 10"),
            Some(json!(["Moby Dick"]))
        );
        assert_eq!(
            titles("@.price < 9 || @.price > 20"),
            Some(json!([
                "Sayings of the Century",
                "Moby Dick",
                "The Lord of the Rings"
            ]))
        );
        assert_eq!(
            titles("!(@.category == 'fiction')"),
            Some(json!(["Sayings of the Century"]))
        );
        assert_eq!(
            titles("(@.price < 9 || @.price > 20) && @.isbn"),
            Some(json!(["Moby Dick", "The Lord of the Rings"]))
        );
        // && binds tighter than ||.
        assert_eq!(
            titles("@.price > 20 || @.price < 9 && @.isbn"),
            Some(json!(["Moby Dick", "The Lord of the Rings"]))
        );
        assert_eq!(
            titles("!!@.isbn"),
            Some(json!(["Moby Dick", "The Lord of the Rings"]))
        );
    }

    #[test]
    fn filter_existence() {
        let doc = store();
        assert_eq!(
            sel("$.store.book[?(@.isbn)].title", &doc),
            Some(json!(["Moby Dick", "The Lord of the Rings"]))
        );
        assert_eq!(
            sel("$.store.book[?(!@.isbn)].title", &doc),
            Some(json!(["Sayings of the Century", "Sword of Honour"]))
        );
        // A property whose value is null exists.
        assert_eq!(
            sel("$.a[?(@.x)]", &json!({"a": [{"x": null}, {}]})),
            Some(json!([{"x": null}]))
        );
        // Nested existence.
        assert_eq!(
            sel("$.a[?(@.x.y)]", &json!({"a": [{"x": {"y": 1}}, {"x": 2}]})),
            Some(json!([{"x": {"y": 1}}]))
        );
    }

    #[test]
    fn filter_literals() {
        let doc = json!({"a": [{"v": true}, {"v": false}, {"v": null}, {"v": "x"}, {"v": -1.5}, {"v": [1, 2]}, {"v": {"k": 1}}]});
        assert_eq!(sel("$.a[?(@.v == true)]", &doc), Some(json!([{"v": true}])));
        assert_eq!(
            sel("$.a[?(@.v == false)]", &doc),
            Some(json!([{"v": false}]))
        );
        assert_eq!(sel("$.a[?(@.v == null)]", &doc), Some(json!([{"v": null}])));
        assert_eq!(sel("$.a[?(@.v == -1.5)]", &doc), Some(json!([{"v": -1.5}])));
        assert_eq!(
            sel("$.a[?(@.v == -15e-1)]", &doc),
            Some(json!([{"v": -1.5}]))
        );
        assert_eq!(
            sel("$.a[?(@.v == [1,2])]", &doc),
            Some(json!([{"v": [1, 2]}]))
        );
        assert_eq!(
            sel("$.a[?(@.v == {\"k\": 1})]", &doc),
            Some(json!([{"v": {"k": 1}}]))
        );
        assert_eq!(sel("$.a[?(@.v < 0)]", &doc), Some(json!([{"v": -1.5}])));
    }

    #[test]
    fn filter_type_rules_follow_jayway() {
        let doc = json!({"a": [{"v": 5}, {"v": "5"}, {"v": "abc"}, {"v": 5.0}]});
        // A number equals a numeric string; ordering needs two numbers or two strings.
        assert_eq!(
            sel("$.a[?(@.v == '5')]", &doc),
            Some(json!([{"v": 5}, {"v": "5"}, {"v": 5.0}]))
        );
        assert_eq!(
            sel("$.a[?(@.v == 5)]", &doc),
            Some(json!([{"v": 5}, {"v": "5"}, {"v": 5.0}]))
        );
        assert_eq!(
            sel("$.a[?(@.v === 5)]", &doc),
            Some(json!([{"v": 5}, {"v": 5.0}]))
        );
        assert_eq!(
            sel("$.a[?(@.v !== 5)]", &doc),
            Some(json!([{"v": "5"}, {"v": "abc"}]))
        );
        assert_eq!(
            sel("$.a[?(@.v > 4)]", &doc),
            Some(json!([{"v": 5}, {"v": 5.0}]))
        );
        assert_eq!(
            sel("$.a[?(@.v > 'abb')]", &doc),
            Some(json!([{"v": "abc"}]))
        );
    }

    #[test]
    fn filter_missing_property_compares_false_except_not_equal() {
        let doc = json!({"a": [{"v": 1}, {}]});
        assert_eq!(sel("$.a[?(@.v == 1)]", &doc), Some(json!([{"v": 1}])));
        assert_eq!(sel("$.a[?(@.v != 1)]", &doc), Some(json!([{}])));
        assert_eq!(sel("$.a[?(@.v < 5)]", &doc), Some(json!([{"v": 1}])));
        assert_eq!(sel("$.a[?(@.v == null)]", &doc), Some(json!([])));
    }

    #[test]
    fn filter_compares_two_paths() {
        let doc = json!({"a": [{"x": 1, "y": 1}, {"x": 1, "y": 2}]});
        assert_eq!(
            sel("$.a[?(@.x == @.y)]", &doc),
            Some(json!([{"x": 1, "y": 1}]))
        );
        assert_eq!(
            sel("$.a[?(@.x < @.y)]", &doc),
            Some(json!([{"x": 1, "y": 2}]))
        );
    }

    #[test]
    fn filter_string_order_is_utf16() {
        // Java compares UTF-16 code units: U+10000 (D800 DC00) sorts before U+FF61,
        // the reverse of code point order.
        let doc = json!({"a": [{"s": "\u{FF61}"}, {"s": "\u{10000}"}]});
        assert_eq!(
            sel("$.a[?(@.s > '\u{FF00}')]", &doc),
            Some(json!([{"s": "\u{FF61}"}]))
        );
    }

    #[test]
    fn filter_at_only_matches_objects() {
        // AWS paths page: "@ ... does not match scalar values. It only matches objects."
        assert_eq!(
            sel("$.a[?(@ > 1)]", &json!({"a": [1, 2, 3]})),
            Some(json!([]))
        );
        assert_eq!(
            sel("$.a[?(@)]", &json!({"a": [1, {"b": 1}, [2]]})),
            Some(json!([{"b": 1}]))
        );
    }

    #[test]
    fn filter_on_an_object_tests_the_object() {
        // Jayway applies a filter to an object node itself.
        let doc = json!({"o": {"k": 1}});
        assert_eq!(sel("$.o[?(@.k == 1)]", &doc), Some(json!([{"k": 1}])));
        assert_eq!(sel("$.o[?(@.k == 2)]", &doc), Some(json!([])));
    }

    #[test]
    fn filter_with_nested_paths_and_filters() {
        let doc = json!({"a": [{"tags": [{"n": "x"}]}, {"tags": [{"n": "y"}]}, {"tags": []}]});
        assert_eq!(
            sel("$.a[?(@.tags[0].n == 'y')]", &doc),
            Some(json!([{"tags": [{"n": "y"}]}]))
        );
        assert_eq!(
            sel("$.a[?(@.tags[?(@.n == 'x')])]", &doc),
            // Existence of an indefinite path: true unless a property is missing.
            Some(json!([{"tags": [{"n": "x"}]}, {"tags": [{"n": "y"}]}, {"tags": []}]))
        );
        assert_eq!(
            sel("$.a[?(@.tags[*].n == [\"x\"])]", &doc),
            Some(json!([{"tags": [{"n": "x"}]}]))
        );
        assert_eq!(
            sel("$.a[?(@['tags'][0]['n'] == 'x')]", &doc),
            Some(json!([{"tags": [{"n": "x"}]}]))
        );
    }

    #[test]
    fn filter_then_more_steps() {
        assert_eq!(
            sel(
                "$.a[?(@.ok)].v[0]",
                &json!({"a": [{"ok": 1, "v": [9]}, {"v": [8]}]})
            ),
            Some(json!([9]))
        );
    }

    #[test]
    fn filter_blanks_are_flexible() {
        let doc = ref_doc();
        for text in [
            "$.jar[?(@.a>=5)]",
            "$.jar[ ?( @.a >= 5 ) ]",
            "$.jar[?(  @.a  >=  5  )]",
            "$.jar[?((@.a >= 5))]",
        ] {
            assert_eq!(sel(text, &doc), Some(json!([{"a": 5}, {"a": 7}])), "{text}");
        }
    }

    #[test]
    fn bang_before_a_compared_path_is_ignored_like_jayway() {
        assert_eq!(
            sel("$.jar[?(!@.a == 5)]", &ref_doc()),
            Some(json!([{"a": 5}]))
        );
    }

    // --- Functions ------------------------------------------------------------------

    #[test]
    fn functions_parse_but_never_resolve() {
        // re:Post: "$.Jobs.sum()" is accepted, then "could not be found" at run time.
        let path = p("$.Jobs.sum()");
        assert!(!path.is_reference());
        let input = json!({"Jobs": [0, 1]});
        assert_eq!(path.select(&input).ok().flatten(), None);
        assert_eq!(sel("$.a.length()", &json!({"a": [1]})), None);
        assert_eq!(sel("$.a[*].length()", &json!({"a": [[1]]})), None);
        // Inside a filter the function is simply not found.
        assert_eq!(
            sel("$.a[?(@.b.length() > 0)]", &json!({"a": [{"b": [1]}]})),
            Some(json!([]))
        );
    }

    // --- Definite vs indefinite misses ----------------------------------------------

    #[test]
    fn definite_misses_are_none() {
        let doc = json!({"a": {"b": 1}, "n": 5, "z": null});
        assert_eq!(sel("$.x", &doc), None);
        assert_eq!(sel("$.a.x", &doc), None);
        assert_eq!(sel("$.x.y", &doc), None);
        assert_eq!(sel("$.n.y", &doc), None);
        assert_eq!(sel("$.n[0]", &doc), None);
        assert_eq!(sel("$.z[0]", &doc), None);
        assert_eq!(sel("$.a[0]", &doc), None);
    }

    #[test]
    fn present_null_is_found() {
        assert_eq!(sel("$.z", &json!({"z": null})), Some(Value::Null));
    }

    #[test]
    fn indefinite_path_with_missing_definite_prefix_is_none_like_jayway() {
        let doc = json!({"n": 5, "o": {}});
        assert_eq!(sel("$.missing[*]", &doc), None);
        assert_eq!(sel("$.n.a[*]", &doc), None);
        assert_eq!(sel("$.o[1:2]", &doc), None);
        assert_eq!(sel("$.n[?(@.a)]", &doc), None);
        // ... but a missing leaf after an indefinite step is simply skipped.
        assert_eq!(sel("$.o.*.x", &doc), Some(json!([])));
    }

    #[test]
    fn select_never_errors() {
        assert!(p("$.a").select(&Value::Null).is_ok());
        assert_eq!(sel("$", &Value::Null), Some(Value::Null));
        assert_eq!(sel("$.a", &Value::Null), None);
    }

    // --- Reference paths ------------------------------------------------------------

    #[test]
    fn reference_path_classification() {
        for text in [
            "$",
            "$.a",
            "$.a.b[0]",
            "$['a'][1]['b c']",
            "$[0]",
            "$.a[-1]",
            "$$.Map.Item.Value",
        ] {
            assert!(p(text).is_reference(), "{text}");
        }
        for text in [
            "$.a[*]",
            "$.*",
            "$..a",
            "$.a[0,1]",
            "$.a[0:1]",
            "$['a','b']",
            "$.a[?(@.b)]",
            "$.a.length()",
            "$.a@b",
            "$.a,b",
            "$.a:b",
            "$.a?",
            "$.a*",
        ] {
            assert!(!p(text).is_reference(), "{text}");
        }
    }

    // --- Parse errors ---------------------------------------------------------------

    #[test]
    fn parse_errors_name_the_problem_and_position() {
        let cases = [
            ("", "must begin with '$'", 0),
            ("a.b", "must begin with '$'", 0),
            (" $.a", "must begin with '$'", 0),
            ("$a", "expected '.' or '['", 1),
            ("$.", "must not end with '.'", 1),
            ("$..", "must not end with '.' or '..'", 1),
            ("$.a.", "must not end with '.'", 3),
            ("$...a", "unexpected '.'", 3),
            ("$.a b", "cannot contain blanks", 3),
            ("$.a[", "'[' is not closed", 3),
            ("$.a[0", "'[' is not closed", 3),
            ("$['a'", "'[' is not closed", 1),
            ("$['a", "not closed", 2),
            ("$['a' 'b']", "expected ',' or ']'", 6),
            ("$['a',]", "expected a quoted name after ','", 6),
            ("$[abc]", "expected a quoted name, an index", 2),
            ("$[]", "expected a quoted name, an index", 2),
            ("$[1.5]", "unexpected '.'", 3),
            ("$[0,,1]", "empty array index", 2),
            ("$[:]", "needs a start or an end", 2),
            ("$[1:2:3:4]", "slice is written", 2),
            ("$[99999999999]", "not a valid array index", 2),
            ("$[-]", "not a valid array index", 2),
            ("$[*", "expected ']'", 3),
            ("$[?@.a]", "expected '('", 3),
            ("$.a(", "not closed", 2),
            ("$.(x)", "expected a function name", 2),
            ("$.a\\", "backslash must be followed", 3),
            ("$.\\u12", "four hexadecimal digits", 2),
            ("$.\\uD800x", "low surrogate", 2),
            ("$['a']b", "expected '.' or '['", 6),
            ("$.*a", "expected '.' or '['", 3),
            ("$$$", "expected '.' or '['", 2),
        ];
        for (text, message, position) in cases {
            let error = parse_err(text);
            assert!(error.contains(message), "{text}: {error}");
            assert!(
                error.ends_with(&format!("at position {position}")),
                "{text}: {error}"
            );
            assert!(
                error.starts_with(&format!("Invalid JSONPath '{text}'")),
                "{error}"
            );
        }
    }

    #[test]
    fn filter_parse_errors() {
        let cases = [
            ("$.a[?(@.b =~ /x/)]", "regular expressions"),
            ("$.a[?(@.b in ['x'])]", "'in' is not supported"),
            ("$.a[?(@.b nin ['x'])]", "'nin' is not supported"),
            ("$.a[?(@.b subsetof ['x'])]", "'subsetof' is not supported"),
            ("$.a[?(@.b anyof ['x'])]", "'anyof' is not supported"),
            ("$.a[?(@.b noneof ['x'])]", "'noneof' is not supported"),
            ("$.a[?(@.b size 2)]", "'size' is not supported"),
            ("$.a[?(@.b empty true)]", "'empty' is not supported"),
            ("$.a[?(@.b contains 'x')]", "'contains' is not supported"),
            ("$.a[?(@.b == $.c)]", "cannot reference the document root"),
            ("$.a[?($.c)]", "cannot reference the document root"),
            ("$.a[?(@.b <> 1)]", "unknown filter operator '<>'"),
            ("$.a[?(@.b == )]", "unexpected ')'"),
            ("$.a[?(@.b == 1", "expected ')'"),
            ("$.a[?(@.b == 1)", "expected ']'"),
            ("$.a[?(5)]", "must be compared"),
            ("$.a[?(@.b == tru)]", "unexpected 'tru'"),
            ("$.a[?(@.b == 01)]", "not a valid number"),
            ("$.a[?(@.b == [1,)]", "invalid JSON literal"),
            ("$.a[?(@.b == [1,2", "not closed"),
            ("$.a[?(@.b == {'k':1})]", "invalid JSON literal"),
            ("$.a[?(@.b == 'x)]", "not closed"),
            ("$.a[?(@.b ==  /x/)]", "regular expressions"),
            ("$.a[?(@.b == !5)]", "expected '@' after '!'"),
            ("$.a[?(!5)]", "must be compared"),
            ("$.a[?(@.b && )]", "unexpected ')'"),
            ("$.a[?(@.)]", "expected a name"),
            ("$.a[?(@x)]", "expected ')'"),
        ];
        for (text, message) in cases {
            let error = parse_err(text);
            assert!(error.contains(message), "{text}: {error}");
            assert!(error.contains("at position"), "{error}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep_parens = format!("$.a[?({}@.b{})]", "(".repeat(100), ")".repeat(100));
        assert!(parse_err(&deep_parens).contains("nested more than 64"));
        let deep_bangs = format!("$.a[?({}@.b == 1)]", "!(".repeat(80)) + &")".repeat(80);
        assert!(parse_err(&deep_bangs).contains("nested more than 64"));
        let mut nested = String::from("@.x");
        for _ in 0..40 {
            nested = format!("@.a[?({nested})]");
        }
        assert!(parse_err(&format!("$[?({nested})]")).contains("nested more than 64"));
        // Moderate nesting is fine.
        let fine = format!("$.a[?({}@.b{})]", "(".repeat(20), ")".repeat(20));
        assert!(Path::parse(&fine).is_ok());
    }

    #[test]
    fn long_flat_paths_are_fine() {
        let text = format!("${}", ".a".repeat(5000));
        let path = p(&text);
        assert_eq!(path.select(&json!({"a": 1})).ok().flatten(), None);
    }

    // --- read / resolve -------------------------------------------------------------

    #[test]
    fn read_finds_values() {
        let input = json!({"a": {"b": 2}});
        let context = json!({"Execution": {"Id": "arn:x"}});
        assert_eq!(read("$.a.b", "b.$", &input, &context), Ok(json!(2)));
        assert_eq!(
            read("$$.Execution.Id", "id.$", &input, &context),
            Ok(json!("arn:x"))
        );
        assert_eq!(read("$", "all.$", &input, &context), Ok(input.clone()));
        assert_eq!(read("$$", "ctx.$", &input, &context), Ok(context.clone()));
    }

    #[test]
    fn read_miss_uses_aws_wording() {
        // LocalStack snapshot recorded against AWS: "The JSONPath '$.no_such_jsonpath'
        // specified for the field 'value.$' could not be found in the input '...'".
        let input = json!({"Jobs": [0, 1]});
        let error = match read("$.no_such_jsonpath", "value.$", &input, &json!({})) {
            Err(e) => e,
            Ok(v) => panic!("{v}"),
        };
        assert_eq!(error.error, names::RUNTIME);
        assert_eq!(
            error.cause,
            "The JSONPath '$.no_such_jsonpath' specified for the field 'value.$' could not be found in the input '{\"Jobs\":[0,1]}'"
        );
    }

    #[test]
    fn read_function_miss_matches_repost_report() {
        let input = json!({"Jobs": [0, 0, 1]});
        let error = read("$.Jobs.sum()", "Jobs.$", &input, &json!({})).err();
        assert_eq!(
            error.map(|e| e.cause),
            Some("The JSONPath '$.Jobs.sum()' specified for the field 'Jobs.$' could not be found in the input '{\"Jobs\":[0,0,1]}'".to_owned())
        );
    }

    #[test]
    fn read_context_miss() {
        let error = read(
            "$$.Execution.Input.nope",
            "value.$",
            &json!({"k": 1}),
            &json!({"Execution": {"Input": {}}}),
        )
        .err();
        let error = error.map(|e| (e.error, e.cause));
        assert_eq!(
            error,
            Some((
                names::RUNTIME.to_owned(),
                "The JSONPath '$$.Execution.Input.nope' specified for the field 'value.$' could not be found in the input '{\"k\":1}'".to_owned()
            ))
        );
    }

    #[test]
    fn read_on_null_input_fails_like_aws() {
        for path in ["$", "$.a"] {
            let error = read(path, "Input.$", &Value::Null, &json!({})).err();
            assert_eq!(error, Some(AslError::runtime(NULL_INPUT_CAUSE)), "{path}");
        }
        // The context object is still readable.
        assert_eq!(
            read("$$.a", "x.$", &Value::Null, &json!({"a": 1})),
            Ok(json!(1))
        );
    }

    #[test]
    fn read_indefinite_miss_is_an_empty_array() {
        assert_eq!(
            read("$.a[?(@.x)]", "f.$", &json!({"a": [{}]}), &json!({})),
            Ok(json!([]))
        );
    }

    #[test]
    fn read_bad_path_is_runtime_error() {
        let error = read("$.a[", "f.$", &json!({}), &json!({})).err();
        assert_eq!(
            error.as_ref().map(|e| e.error.as_str()),
            Some(names::RUNTIME)
        );
        assert!(error.is_some_and(|e| e.cause.contains("'[' is not closed")));
    }

    #[test]
    fn resolve_messages_follow_jayway() {
        let resolve = |path: &str, input: Value| match p(path).resolve(&input, &json!({})) {
            Err(e) => {
                assert_eq!(e.error, names::RUNTIME);
                e.cause
            }
            Ok(v) => panic!("{v}"),
        };
        // LocalStack snapshots recorded against AWS.
        assert_eq!(
            resolve("$.NoSuchInputPath", json!({})),
            "Invalid path '$.NoSuchInputPath' : No results for path: $['NoSuchInputPath']"
        );
        assert_eq!(
            resolve("$.no.such.result.path", json!({})),
            "Invalid path '$.no.such.result.path' : Missing property in path $['no']"
        );
        assert_eq!(
            resolve("$.a[5]", json!({"a": [1]})),
            "Invalid path '$.a[5]' : No results for path: $['a'][5]"
        );
        assert_eq!(
            resolve("$.a.b", json!({"a": 3})),
            "Invalid path '$.a.b' : Expected to find an object with property ['b'] in path $['a'] but found 'number'. This is not a json object."
        );
        assert_eq!(
            resolve("$.a[0].b", json!({"a": {"x": 1}})),
            "Invalid path '$.a[0].b' : Filter: [0]['b'] can only be applied to arrays. Current context is: {\"x\":1}"
        );
        assert_eq!(
            resolve("$.a[0]", json!({"a": null})),
            "Invalid path '$.a[0]' : The path $['a'] is null"
        );
        assert_eq!(
            resolve("$.a[?(@.x)]", json!({"a": 3})),
            "Invalid path '$.a[?(@.x)]' : Filter: [?] can not be applied to primitives. Current context is: 3"
        );
        assert!(resolve("$.a.max()", json!({"a": [1]})).contains("max() is not supported"));
    }

    // --- InputPath / OutputPath -----------------------------------------------------

    #[test]
    fn path_field_from_definition() {
        assert_eq!(
            PathField::from_definition("InputPath", None),
            Ok(PathField::Absent)
        );
        assert_eq!(
            PathField::from_definition("InputPath", Some(&Value::Null)),
            Ok(PathField::Null)
        );
        assert_eq!(
            PathField::from_definition("InputPath", Some(&json!("$.a"))),
            Ok(PathField::Path(p("$.a")))
        );
        let bad = PathField::from_definition("OutputPath", Some(&json!("a")));
        assert!(bad
            .is_err_and(|e| e.contains("'OutputPath' must be a valid JSONPath")
                && e.contains("at position 0")));
        let wrong_type = PathField::from_definition("InputPath", Some(&json!(3)));
        assert!(wrong_type.is_err_and(|e| e.contains("must be a string or null, found a number")));
    }

    #[test]
    fn aws_input_output_processing_example() {
        // amazon-states-language-input-output-processing: InputPath "$.numbers",
        // ResultPath "$.sum", OutputPath "$" (then "$.sum").
        let input = json!({"title": "Numbers to add", "numbers": {"val1": 3, "val2": 4}});
        let context = json!({});
        let effective = apply_input_path(input.clone(), &PathField::Path(p("$.numbers")), &context);
        assert_eq!(effective, Ok(json!({"val1": 3, "val2": 4})));
        let with_sum = apply_result_path(input, ResultPath::Path(p("$.sum")), json!(7));
        assert_eq!(
            with_sum,
            Ok(json!({"title": "Numbers to add", "numbers": {"val1": 3, "val2": 4}, "sum": 7}))
        );
        let Ok(with_sum) = with_sum else { return };
        assert_eq!(
            apply_output_path(with_sum.clone(), &PathField::Path(p("$")), &context),
            Ok(with_sum.clone())
        );
        assert_eq!(
            apply_output_path(with_sum, &PathField::Path(p("$.sum")), &context),
            Ok(json!(7))
        );
    }

    #[test]
    fn input_path_absent_null_and_indefinite() {
        let input = json!({"a": [1, 2, 3, 4]});
        let context = json!({});
        assert_eq!(
            apply_input_path(input.clone(), &PathField::Absent, &context),
            Ok(input.clone())
        );
        assert_eq!(
            apply_input_path(input.clone(), &PathField::Null, &context),
            Ok(json!({}))
        );
        assert_eq!(
            apply_input_path(input.clone(), &PathField::Path(p("$.a[0:2]")), &context),
            Ok(json!([1, 2]))
        );
        assert_eq!(
            apply_input_path(
                json!({"x": 1}),
                &PathField::Path(p("$$.Execution.Input")),
                &json!({"Execution": {"Input": {"y": 2}}})
            ),
            Ok(json!({"y": 2}))
        );
    }

    #[test]
    fn input_path_miss_is_runtime_error() {
        let error = apply_input_path(
            json!({}),
            &PathField::Path(p("$.NoSuchInputPath")),
            &json!({}),
        )
        .err();
        assert_eq!(
            error,
            Some(AslError::runtime(
                "Invalid path '$.NoSuchInputPath' : No results for path: $['NoSuchInputPath']"
            ))
        );
    }

    #[test]
    fn output_path_null_and_absent() {
        assert_eq!(
            apply_output_path(json!([1]), &PathField::Null, &json!({})),
            Ok(json!({}))
        );
        assert_eq!(
            apply_output_path(Value::Null, &PathField::Absent, &json!({})),
            Ok(Value::Null)
        );
        let error = apply_output_path(Value::Null, &PathField::Path(p("$.a")), &json!({})).err();
        assert_eq!(error, Some(AslError::runtime(NULL_INPUT_CAUSE)));
    }

    // --- ResultPath -----------------------------------------------------------------

    fn rp(text: &str) -> ResultPath {
        match ResultPath::parse(text) {
            Ok(result_path) => result_path,
            Err(e) => panic!("{e}"),
        }
    }

    fn lambda_input() -> Value {
        json!({"comment": "This is a test of the input and output of a Task state.",
               "details": "Default example", "who": "AWS Step Functions"})
    }

    #[test]
    fn aws_resultpath_replace_default() {
        // input-output-resultpath: absent or "$" replaces the input.
        let result = json!("Hello, AWS Step Functions!");
        assert_eq!(
            apply_result_path(lambda_input(), ResultPath::Absent, result.clone()),
            Ok(result.clone())
        );
        assert_eq!(
            apply_result_path(lambda_input(), rp("$"), result.clone()),
            Ok(result)
        );
    }

    #[test]
    fn aws_resultpath_null_discards_result() {
        assert_eq!(
            apply_result_path(
                lambda_input(),
                ResultPath::Null,
                json!("Hello, AWS Step Functions!")
            ),
            Ok(lambda_input())
        );
    }

    #[test]
    fn aws_resultpath_include_result() {
        let mut expected = lambda_input();
        if let Value::Object(map) = &mut expected {
            map.insert("taskresult".into(), json!("Hello, AWS Step Functions!"));
        }
        // Both `&ResultPath` and `ResultPath` are accepted.
        let result_path = rp("$.taskresult");
        let result = json!("Hello, AWS Step Functions!");
        assert_eq!(
            apply_result_path(lambda_input(), &result_path, result.clone()),
            Ok(expected.clone())
        );
        assert_eq!(
            apply_result_path(lambda_input(), result_path, result),
            Ok(expected)
        );
    }

    #[test]
    fn aws_resultpath_child_node() {
        let input = json!({"comment": "An input comment.",
            "strings": {"string1": "foo", "string2": "bar", "string3": "baz"}, "who": "AWS Step Functions"});
        assert_eq!(
            apply_result_path(
                input,
                rp("$.strings.lambdaresult"),
                json!("Hello, AWS Step Functions!")
            ),
            Ok(json!({"comment": "An input comment.",
                "strings": {"string1": "foo", "string2": "bar", "string3": "baz",
                            "lambdaresult": "Hello, AWS Step Functions!"},
                "who": "AWS Step Functions"}))
        );
    }

    #[test]
    fn aws_resultpath_update_node() {
        let mut expected = lambda_input();
        if let Value::Object(map) = &mut expected {
            map.insert("comment".into(), json!("Hello, AWS Step Functions!"));
        }
        assert_eq!(
            apply_result_path(
                lambda_input(),
                rp("$.comment"),
                json!("Hello, AWS Step Functions!")
            ),
            Ok(expected)
        );
    }

    #[test]
    fn aws_resultpath_catch_error() {
        assert_eq!(
            apply_result_path(
                json!({"foo": "bar"}),
                rp("$.error"),
                json!({"Error": "Error here"})
            ),
            Ok(json!({"foo": "bar", "error": {"Error": "Error here"}}))
        );
    }

    #[test]
    fn spec_resultpath_examples() {
        // states-language.net "Input and Output Processing".
        let input = json!({"master": {"detail": [1, 2, 3]}});
        assert_eq!(
            apply_result_path(input.clone(), rp("$.master.detail"), json!(6)),
            Ok(json!({"master": {"detail": 6}}))
        );
        assert_eq!(
            apply_result_path(input, rp("$.master.result.sum"), json!(6)),
            Ok(json!({"master": {"detail": [1, 2, 3], "result": {"sum": 6}}}))
        );
        assert_eq!(
            apply_result_path(json!({"a": 1}), rp("$.b.greeting"), json!("Hi!")),
            Ok(json!({"a": 1, "b": {"greeting": "Hi!"}}))
        );
    }

    #[test]
    fn spec_resultpath_on_string_input_fails() {
        // "Suppose a state's input is the string "foo", and its ResultPath field has
        // the value "$.x". Then ... States.ResultPathMatchFailure."
        let error = apply_result_path(json!("foo"), rp("$.x"), json!(1)).err();
        assert_eq!(
            error.as_ref().map(|e| e.error.as_str()),
            Some(names::RESULT_PATH_MATCH_FAILURE)
        );
        assert_eq!(
            error.map(|e| e.cause),
            Some("Unable to apply ResultPath '$.x' to input '\"foo\"': $ is a string \"foo\", not an object".to_owned())
        );
    }

    #[test]
    fn resultpath_match_failures() {
        let fail = |input: Value, path: &str| match apply_result_path(input, rp(path), json!(1)) {
            Err(e) => {
                assert_eq!(e.error, names::RESULT_PATH_MATCH_FAILURE, "{path}");
                e.cause
            }
            Ok(v) => panic!("{path}: {v}"),
        };
        assert!(fail(json!({"a": 3}), "$.a.b").contains("$['a'] is a number 3, not an object"));
        assert!(fail(json!({"a": null}), "$.a.b").contains("$['a'] is null, not an object"));
        assert!(fail(json!({"a": [1]}), "$.a.b").contains("$['a'] is an array [1], not an object"));
        assert!(fail(Value::Null, "$.x").contains("$ is null, not an object"));
        assert!(fail(json!([1]), "$.x").contains("not an object"));
        assert!(fail(json!({"a": [1]}), "$.a[1]")
            .contains("$['a'] has 1 elements, so index 1 is out of range"));
        assert!(fail(json!({"a": {}}), "$.a[0]").contains("$['a'] is an object {}, not an array"));
        assert!(fail(json!({}), "$.a[0]").contains("$['a'] does not exist"));
        assert!(fail(json!({}), "$.a.b[0]").contains("$['a']['b'] does not exist"));
    }

    #[test]
    fn resultpath_into_arrays() {
        assert_eq!(
            apply_result_path(json!({"a": [1, 2, 3]}), rp("$.a[1]"), json!("x")),
            Ok(json!({"a": [1, "x", 3]}))
        );
        assert_eq!(
            apply_result_path(json!({"a": [1, 2, 3]}), rp("$.a[-1]"), json!("x")),
            Ok(json!({"a": [1, 2, "x"]}))
        );
        assert_eq!(
            apply_result_path(json!([{"k": 1}]), rp("$[0].r"), json!(2)),
            Ok(json!([{"k": 1, "r": 2}]))
        );
        assert_eq!(
            apply_result_path(json!({"a": [{}]}), rp("$['a'][0]['b c']"), json!(2)),
            Ok(json!({"a": [{"b c": 2}]}))
        );
    }

    #[test]
    fn resultpath_overwrites_non_object_leaf() {
        assert_eq!(
            apply_result_path(json!({"a": {"b": [1]}}), rp("$.a.b"), json!({"new": true})),
            Ok(json!({"a": {"b": {"new": true}}}))
        );
    }

    #[test]
    fn resultpath_definition_checks() {
        assert_eq!(ResultPath::from_definition(None), Ok(ResultPath::Absent));
        assert_eq!(
            ResultPath::from_definition(Some(&Value::Null)),
            Ok(ResultPath::Null)
        );
        assert_eq!(
            ResultPath::from_definition(Some(&json!("$.a"))),
            Ok(ResultPath::Path(p("$.a")))
        );
        for (value, message) in [
            (json!("$$.Execution"), "must not begin with '$$'"),
            (json!("$.a[*]"), "must be a reference path"),
            (json!("$..a"), "must be a reference path"),
            (json!("$.a[0:1]"), "must be a reference path"),
            (json!("$.a[?(@.b)]"), "must be a reference path"),
            (json!("$['a','b']"), "must be a reference path"),
            (json!("$.a.length()"), "must be a reference path"),
            (json!("a"), "must be a valid JSONPath"),
            (json!(true), "must be a string or null, found a boolean"),
        ] {
            let result = ResultPath::from_definition(Some(&value));
            assert!(
                result.as_ref().is_err_and(|e| e.contains(message)),
                "{value}: {result:?}"
            );
        }
    }

    #[test]
    fn resultpath_with_non_reference_path_built_by_hand_fails() {
        let error = apply_result_path(json!({}), ResultPath::Path(p("$.a[*]")), json!(1)).err();
        assert_eq!(
            error.map(|e| e.error),
            Some(names::RESULT_PATH_MATCH_FAILURE.to_owned())
        );
        let error = apply_result_path(json!({}), ResultPath::Path(p("$$.a")), json!(1)).err();
        assert_eq!(
            error.map(|e| e.error),
            Some(names::RESULT_PATH_MATCH_FAILURE.to_owned())
        );
    }

    #[test]
    fn decimal_strings() {
        for (text, expected) in [
            ("5", Some(5.0)),
            ("-1.50", Some(-1.5)),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("2e3", Some(2000.0)),
            ("+7", Some(7.0)),
        ] {
            assert_eq!(
                parse_decimal(text).and_then(|n| n.as_f64()),
                expected,
                "{text}"
            );
        }
        for text in ["", "-", ".", "e5", "1e", "abc", "1.2.3", "inf", "NaN", " 5"] {
            assert!(parse_decimal(text).is_none(), "{text}");
        }
    }
}
