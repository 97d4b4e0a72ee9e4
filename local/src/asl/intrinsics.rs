//! Intrinsic functions (`States.Format(...)`, `States.Array(...)`, ...) of the JSONPath
//! query language, as the AWS page "Intrinsic functions for JSONPath states in Step
//! Functions" (docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html)
//! defines them.
//!
//! [`parse`] is the definition-time check: syntax, the reserved-character escapes,
//! argument counts and the nesting limit. [`evaluate`] / [`Call::evaluate`] run a call against the state
//! data; path arguments are resolved by a caller-supplied function, and every failure
//! of an argument's type or value is a `States.IntrinsicFailure` whose cause names the
//! function and the argument.
//!
//! Where the docs are silent, behaviour follows what AWS was recorded doing in
//! LocalStack's AWS-validated snapshot tests
//! (tests/aws/services/stepfunctions/v2/intrinsic_functions/*.snapshot.json); each
//! such rule says so where it is implemented.

use std::fmt;
use std::io;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::AslError;

/// At most this many intrinsic calls in one field, the outermost included. The docs
/// say "You can nest up to 10 intrinsic functions within a field" and count the calls
/// of their nine-function example (whose depth is only five), so the limit is on the
/// number of calls, which also bounds the parser's and evaluator's recursion.
pub const MAX_CALLS: usize = 10;

/// Most characters `States.Base64Encode`, `States.Base64Decode` and `States.Hash`
/// accept ("a data string of up to 10,000 characters").
pub const MAX_ENCODE_CHARS: usize = 10_000;

/// Most elements `States.ArrayRange` may produce ("can't contain more than 1000 items").
pub const MAX_RANGE_ITEMS: usize = 1000;

/// `States.ArrayPartition` and `States.ArrayContains`: "The input array can't exceed
/// Step Functions' payload size limit of 256 KiB" (measured as compact JSON text).
pub const MAX_ARRAY_BYTES: usize = 256 * 1024;

/// Deepest JSON nesting the recursive helpers here (Format rendering, ArrayUnique
/// keys) walk: the same 128 levels `serde_json` itself accepts when parsing, so any
/// parsed state data fits, and anything deeper fails instead of exhausting the stack.
const MAX_VALUE_DEPTH: usize = 128;

/// True when `expr` is written as an intrinsic call rather than a path: it starts
/// (after blanks) with `States.`. Payload templates use this to pick [`evaluate`].
pub fn is_intrinsic_call(expr: &str) -> bool {
    expr.trim_start().starts_with("States.")
}

/// Every intrinsic function, with its name and accepted argument counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Function {
    /// All functions, in the order of the docs page.
    pub const ALL: [Function; 18] = [
        Function::Array,
        Function::ArrayPartition,
        Function::ArrayContains,
        Function::ArrayRange,
        Function::ArrayGetItem,
        Function::ArrayLength,
        Function::ArrayUnique,
        Function::Base64Encode,
        Function::Base64Decode,
        Function::Hash,
        Function::JsonMerge,
        Function::StringToJson,
        Function::JsonToString,
        Function::MathRandom,
        Function::MathAdd,
        Function::StringSplit,
        Function::Uuid,
        Function::Format,
    ];

    /// The name as written in a definition, e.g. `States.ArrayGetItem`.
    pub fn name(self) -> &'static str {
        match self {
            Function::Format => "States.Format",
            Function::StringToJson => "States.StringToJson",
            Function::JsonToString => "States.JsonToString",
            Function::Array => "States.Array",
            Function::ArrayPartition => "States.ArrayPartition",
            Function::ArrayContains => "States.ArrayContains",
            Function::ArrayRange => "States.ArrayRange",
            Function::ArrayGetItem => "States.ArrayGetItem",
            Function::ArrayLength => "States.ArrayLength",
            Function::ArrayUnique => "States.ArrayUnique",
            Function::Base64Encode => "States.Base64Encode",
            Function::Base64Decode => "States.Base64Decode",
            Function::Hash => "States.Hash",
            Function::JsonMerge => "States.JsonMerge",
            Function::MathRandom => "States.MathRandom",
            Function::MathAdd => "States.MathAdd",
            Function::StringSplit => "States.StringSplit",
            Function::Uuid => "States.UUID",
        }
    }

    fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }

    /// (fewest, most) arguments; `None` means no upper bound.
    fn arity(self) -> (usize, Option<usize>) {
        match self {
            Function::Format => (1, None),
            Function::Array => (0, None),
            Function::Uuid => (0, Some(0)),
            Function::StringToJson
            | Function::JsonToString
            | Function::ArrayLength
            | Function::ArrayUnique
            | Function::Base64Encode
            | Function::Base64Decode => (1, Some(1)),
            Function::ArrayPartition
            | Function::ArrayContains
            | Function::ArrayGetItem
            | Function::Hash
            | Function::MathAdd
            | Function::StringSplit => (2, Some(2)),
            Function::ArrayRange | Function::JsonMerge => (3, Some(3)),
            Function::MathRandom => (2, Some(3)),
        }
    }

    /// Names of the arguments, for error causes ("argument 2 (chunk size)").
    fn arg_name(self, index: usize) -> &'static str {
        let names: &[&str] = match self {
            Function::Format => &["template"],
            Function::StringToJson => &["JSON string"],
            Function::JsonToString => &["value"],
            Function::Array => &[],
            Function::ArrayPartition => &["array", "chunk size"],
            Function::ArrayContains => &["array", "value to look for"],
            Function::ArrayRange => &["first element", "last element", "step"],
            Function::ArrayGetItem => &["array", "index"],
            Function::ArrayLength | Function::ArrayUnique => &["array"],
            Function::Base64Encode => &["data"],
            Function::Base64Decode => &["Base64 data"],
            Function::Hash => &["data", "algorithm"],
            Function::JsonMerge => &["first object", "second object", "deep merge flag"],
            Function::MathRandom => &["start", "end", "seed"],
            Function::MathAdd => &["first value", "second value"],
            Function::StringSplit => &["string", "delimiting characters"],
            Function::Uuid => &[],
        };
        match (self, names.get(index)) {
            (_, Some(name)) => name,
            (Function::Format, None) => "placeholder value",
            _ => "value",
        }
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One argument of a call.
#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// A single-quoted string with its escapes removed. `placeholders` are the byte
    /// offsets in `value` of each unescaped `{}`: only those are `States.Format`
    /// placeholders, while an escaped `\{\}` is literal text.
    Str {
        value: String,
        placeholders: Vec<usize>,
    },
    /// A number, `true`, `false` or `null`.
    Literal(Value),
    /// `$...` or `$$...` (or a `$variable`), resolved at evaluation time.
    Path(String),
    Call(Box<Call>),
}

/// A parsed intrinsic call (definition-time check; messages name the problem and its
/// position).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    function: Function,
    args: Vec<Arg>,
}

impl Call {
    /// The function this call invokes.
    pub fn function(&self) -> Function {
        self.function
    }

    /// Every path argument, nested calls included, in source order; lets a definition
    /// checker validate them without evaluating anything.
    pub fn paths(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_paths(&mut out);
        out
    }

    fn collect_paths<'a>(&'a self, out: &mut Vec<&'a str>) {
        for arg in &self.args {
            match arg {
                Arg::Path(path) => out.push(path),
                Arg::Call(call) => call.collect_paths(out),
                Arg::Str { .. } | Arg::Literal(_) => {}
            }
        }
    }

    /// Evaluates the call. `resolve` maps a path argument (`$.a`, `$$.Execution.Id`)
    /// to its value; its errors are returned unchanged. Recursion over nested calls is
    /// bounded by [`MAX_CALLS`], which [`parse`] enforces.
    pub fn evaluate(
        &self,
        resolve: &dyn Fn(&str) -> Result<Value, AslError>,
    ) -> Result<Value, AslError> {
        let mut values = Vec::with_capacity(self.args.len());
        for arg in &self.args {
            values.push(eval_arg(arg, resolve)?);
        }
        let args = Args {
            function: self.function,
            values,
        };
        match self.function {
            Function::Format => self.format(&args),
            Function::StringToJson => string_to_json(&args),
            Function::JsonToString => json_to_string(&args),
            Function::Array => Ok(Value::Array(args.values)),
            Function::ArrayPartition => array_partition(&args),
            Function::ArrayContains => array_contains(&args),
            Function::ArrayRange => array_range(&args),
            Function::ArrayGetItem => array_get_item(&args),
            Function::ArrayLength => Ok(Value::from(args.array(0)?.len())),
            Function::ArrayUnique => array_unique(&args),
            Function::Base64Encode => base64_encode(&args),
            Function::Base64Decode => base64_decode(&args),
            Function::Hash => hash(&args),
            Function::JsonMerge => json_merge(&args),
            Function::MathRandom => math_random(&args),
            Function::MathAdd => math_add(&args),
            Function::StringSplit => string_split(&args),
            Function::Uuid => Ok(Value::String(uuid::Uuid::new_v4().to_string())),
        }
    }

    /// `States.Format`: each `{}` of the template is replaced by the next argument;
    /// "There must be as many remaining arguments ... as there are occurrences of {}".
    /// A literal template's placeholders were found at parse time, so an escaped
    /// `\{\}` stays text; a template that comes from a path or a nested call is a
    /// runtime string in which every `{}` is a placeholder (escapes belong to the
    /// invocation syntax, not to data).
    fn format(&self, args: &Args) -> Result<Value, AslError> {
        let template = args.string(0)?;
        let placeholders: Vec<usize> = match self.args.first() {
            Some(Arg::Str { placeholders, .. }) => placeholders.clone(),
            _ => template.match_indices("{}").map(|(i, _)| i).collect(),
        };
        let values = args.values.get(1..).unwrap_or_default();
        if placeholders.len() != values.len() {
            return Err(fail(
                Function::Format,
                format!(
                    "the template has {} '{{}}' placeholder(s) but {} value argument(s) were given",
                    placeholders.len(),
                    values.len()
                ),
            ));
        }
        let mut out = String::with_capacity(template.len());
        let mut copied = 0;
        for (i, (offset, value)) in placeholders.iter().zip(values).enumerate() {
            out.push_str(template.get(copied..*offset).unwrap_or_default());
            render_format_value(value, 0, &mut out).map_err(|e| args.invalid(i + 1, e))?;
            copied = offset + 2;
        }
        out.push_str(template.get(copied..).unwrap_or_default());
        Ok(Value::String(out))
    }
}

fn eval_arg(
    arg: &Arg,
    resolve: &dyn Fn(&str) -> Result<Value, AslError>,
) -> Result<Value, AslError> {
    match arg {
        Arg::Str { value, .. } => Ok(Value::String(value.clone())),
        Arg::Literal(v) => Ok(v.clone()),
        Arg::Path(path) => resolve(path),
        Arg::Call(call) => call.evaluate(resolve),
    }
}

/// Parses an intrinsic call such as `States.Format('{} of {}', $.a, $$.Execution.Name)`.
pub fn parse(expr: &str) -> Result<Call, String> {
    parse_inner(expr).map_err(|e| e.message)
}

/// Parses then evaluates `expr`. A malformed invocation (bad syntax, unknown function,
/// an open escape backslash) is a `States.Runtime` error, as the docs' note on open
/// escapes says; a wrong argument count, and every failure of an argument's type or
/// value, is `States.IntrinsicFailure`.
pub fn evaluate(
    expr: &str,
    resolve: &dyn Fn(&str) -> Result<Value, AslError>,
) -> Result<Value, AslError> {
    let call = parse_inner(expr).map_err(|e| match e.kind {
        ParseErrorKind::Syntax => AslError::runtime(e.message),
        ParseErrorKind::Arguments => AslError::intrinsic_failure(e.message),
    })?;
    call.evaluate(resolve)
}

// ---------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParseErrorKind {
    /// Not a well-formed invocation.
    Syntax,
    /// Well-formed, but the arguments do not fit the function.
    Arguments,
}

#[derive(Debug)]
struct ParseError {
    kind: ParseErrorKind,
    message: String,
}

fn parse_inner(expr: &str) -> Result<Call, ParseError> {
    let mut parser = Parser {
        chars: expr.chars().collect(),
        pos: 0,
        calls: 0,
    };
    parser.skip_ws();
    if !parser.starts_with("States.") {
        return Err(parser.syntax("expected an intrinsic function call starting with 'States.'"));
    }
    let call = parser.call()?;
    parser.skip_ws();
    if parser.pos < parser.chars.len() {
        return Err(parser.syntax("unexpected text after the closing ')' of the call"));
    }
    Ok(call)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    /// Calls opened so far, for [`MAX_CALLS`].
    calls: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i) == Some(c))
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// An error at the current position (reported 1-based, in characters).
    fn syntax(&self, message: &str) -> ParseError {
        self.syntax_at(self.pos, message)
    }

    fn syntax_at(&self, pos: usize, message: &str) -> ParseError {
        ParseError {
            kind: ParseErrorKind::Syntax,
            message: format!("{message} at position {}", pos + 1),
        }
    }

    /// `States.Name(arg, ...)`; the cursor is on the `S`.
    fn call(&mut self) -> Result<Call, ParseError> {
        let start = self.pos;
        self.calls += 1;
        if self.calls > MAX_CALLS {
            return Err(self.syntax_at(
                start,
                &format!("more than {MAX_CALLS} intrinsic functions in one field"),
            ));
        }
        let name_start = self.pos;
        self.pos += "States.".len();
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.pos += 1;
        }
        let name: String = self
            .chars
            .get(name_start..self.pos)
            .unwrap_or_default()
            .iter()
            .collect();
        let Some(function) = Function::from_name(&name) else {
            return Err(self.syntax_at(name_start, &format!("unknown intrinsic function '{name}'")));
        };
        self.skip_ws();
        if self.peek() != Some('(') {
            return Err(self.syntax(&format!("expected '(' after {name}")));
        }
        self.pos += 1;
        self.skip_ws();
        let mut args = Vec::new();
        if self.peek() == Some(')') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                args.push(self.arg(function, args.len())?);
                self.skip_ws();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    Some(_) => {
                        return Err(
                            self.syntax(&format!("expected ',' or ')' in the arguments of {name}"))
                        )
                    }
                    None => return Err(self.syntax(&format!("missing ')' to close {name}"))),
                }
            }
        }
        check_arguments(function, &args, start + 1)?;
        Ok(Call { function, args })
    }

    fn arg(&mut self, function: Function, index: usize) -> Result<Arg, ParseError> {
        match self.peek() {
            Some('\'') => self.string(),
            Some('$') => self.path(),
            Some('-' | '0'..='9') => self.number(),
            Some(_) if self.starts_with("States.") => Ok(Arg::Call(Box::new(self.call()?))),
            Some(c) if c.is_ascii_alphabetic() => self.keyword(),
            Some(',' | ')') => Err(self.syntax(&format!(
                "missing argument {} of {}",
                index + 1,
                function.name()
            ))),
            Some(c) => Err(self.syntax(&format!(
                "unexpected '{c}' (an argument is a 'string', a number, true, false, null, a path or an intrinsic call)"
            ))),
            None => Err(self.syntax(&format!("missing ')' to close {}", function.name()))),
        }
    }

    /// A single-quoted string. The docs reserve `'`, `{`, `}` and `\`: they appear in
    /// a value only escaped as `\'`, `\{`, `\}` and `\\`, and "If an open escape
    /// backslash \ is found in the intrinsic invocation string, the interpreter will
    /// return a runtime error". AWS also rejects other escapes such as `\"` at
    /// definition time (recorded in LocalStack's test_illegal_escapes snapshot). An
    /// unescaped `{}` pair is kept as a `States.Format` placeholder; a lone unescaped
    /// brace is an error.
    fn string(&mut self) -> Result<Arg, ParseError> {
        let open = self.pos;
        self.pos += 1;
        let mut value = String::new();
        let mut placeholders = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.syntax_at(open, "unterminated string (no closing ')"));
            };
            match c {
                '\'' => {
                    self.pos += 1;
                    return Ok(Arg::Str {
                        value,
                        placeholders,
                    });
                }
                '\\' => match self.peek_at(1) {
                    Some(e @ ('\'' | '{' | '}' | '\\')) => {
                        value.push(e);
                        self.pos += 2;
                    }
                    Some(e) => {
                        return Err(self.syntax(&format!(
                            "invalid escape '\\{e}' (only \\', \\{{, \\}} and \\\\ are allowed)"
                        )))
                    }
                    None => return Err(self.syntax("open escape backslash")),
                },
                '{' if self.peek_at(1) == Some('}') => {
                    placeholders.push(value.len());
                    value.push_str("{}");
                    self.pos += 2;
                }
                '{' | '}' => {
                    return Err(self.syntax(&format!(
                        "unescaped '{c}' in a string (write \\{c}, or {{}} for a placeholder)"
                    )))
                }
                _ => {
                    value.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// A path: `$` or `$$` and the path text up to the next `,` `)` or blank outside
    /// brackets. Brackets may hold quoted names and filter expressions, so quotes and
    /// nested brackets/parentheses are skipped over (iteratively). The text is checked
    /// only for balance here; `resolve` interprets it.
    fn path(&mut self) -> Result<Arg, ParseError> {
        let start = self.pos;
        let mut closers: Vec<char> = Vec::new();
        let mut quote: Option<char> = None;
        while let Some(c) = self.peek() {
            if let Some(q) = quote {
                if c == '\\' {
                    self.pos += 1;
                } else if c == q {
                    quote = None;
                }
                self.pos += 1;
                continue;
            }
            if closers.is_empty() && (c == ',' || c == ')' || c.is_whitespace()) {
                break;
            }
            match c {
                '[' => closers.push(']'),
                '(' if !closers.is_empty() => closers.push(')'),
                '(' => return Err(self.syntax("unexpected '(' in a path")),
                '\'' | '"' if !closers.is_empty() => quote = Some(c),
                ']' | ')' if closers.last() == Some(&c) => {
                    closers.pop();
                }
                ']' | ')' => return Err(self.syntax(&format!("unbalanced '{c}' in a path"))),
                _ => {}
            }
            self.pos += 1;
        }
        if quote.is_some() {
            return Err(self.syntax_at(start, "unterminated quoted name in a path"));
        }
        if let Some(closer) = closers.last() {
            return Err(self.syntax_at(start, &format!("missing '{closer}' in a path")));
        }
        let path: String = self
            .chars
            .get(start..self.pos)
            .unwrap_or_default()
            .iter()
            .collect();
        Ok(Arg::Path(path))
    }

    /// A JSON number: integer or decimal, optionally negative, with an exponent.
    fn number(&mut self) -> Result<Arg, ParseError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        {
            self.pos += 1;
        }
        let text: String = self
            .chars
            .get(start..self.pos)
            .unwrap_or_default()
            .iter()
            .collect();
        match serde_json::from_str::<Value>(&text) {
            // An integer `-0` is 0, as Java reads it (serde_json keeps it as -0.0).
            Ok(Value::Number(_)) if text == "-0" => Ok(Arg::Literal(Value::from(0))),
            Ok(v @ Value::Number(_)) => Ok(Arg::Literal(v)),
            _ => Err(self.syntax_at(start, &format!("invalid number '{text}'"))),
        }
    }

    /// `true`, `false` or `null`.
    fn keyword(&mut self) -> Result<Arg, ParseError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.pos += 1;
        }
        let word: String = self
            .chars
            .get(start..self.pos)
            .unwrap_or_default()
            .iter()
            .collect();
        match word.as_str() {
            "true" => Ok(Arg::Literal(Value::Bool(true))),
            "false" => Ok(Arg::Literal(Value::Bool(false))),
            "null" => Ok(Arg::Literal(Value::Null)),
            _ => Err(self.syntax_at(
                start,
                &format!("unexpected '{word}' (strings are single-quoted; paths start with '$')"),
            )),
        }
    }
}

/// The definition-time argument checks: the count, and that a literal `States.Format`
/// template is a string. The placeholder count is checked when the call runs, for
/// literal and path templates alike: the docs' own nine-function `myArn` example has
/// three `{}` and two values, so a definition-time rejection could refuse a definition
/// that AWS accepts.
fn check_arguments(function: Function, args: &[Arg], position: usize) -> Result<(), ParseError> {
    let error = |message: String| ParseError {
        kind: ParseErrorKind::Arguments,
        message: format!("{message} (call at position {position})"),
    };
    let (min, max) = function.arity();
    let n = args.len();
    if n < min || max.is_some_and(|max| n > max) {
        let expected = match max {
            Some(max) if max == min => format!("{min}"),
            Some(max) => format!("{min} to {max}"),
            None => format!("at least {min}"),
        };
        return Err(error(format!(
            "{} takes {expected} argument(s), got {n}",
            function.name()
        )));
    }
    if let (Function::Format, Some(Arg::Literal(v))) = (function, args.first()) {
        return Err(error(format!(
            "States.Format: argument 1 (template) must be a string, got {}",
            describe(v)
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Functions
// ---------------------------------------------------------------------------------

/// The evaluated arguments of one call, with typed accessors whose errors name the
/// function and the argument.
struct Args {
    function: Function,
    values: Vec<Value>,
}

impl Args {
    fn get(&self, i: usize) -> Result<&Value, AslError> {
        self.values.get(i).ok_or_else(|| {
            fail(
                self.function,
                format!("argument {} ({}) is missing", i + 1, self.label(i)),
            )
        })
    }

    fn label(&self, i: usize) -> &'static str {
        self.function.arg_name(i)
    }

    fn wrong(&self, i: usize, expected: &str, got: &Value) -> AslError {
        fail(
            self.function,
            format!(
                "argument {} ({}) must be {expected}, got {}",
                i + 1,
                self.label(i),
                describe(got)
            ),
        )
    }

    fn invalid(&self, i: usize, problem: impl fmt::Display) -> AslError {
        fail(
            self.function,
            format!("argument {} ({}) {problem}", i + 1, self.label(i)),
        )
    }

    fn string(&self, i: usize) -> Result<&str, AslError> {
        match self.get(i)? {
            Value::String(s) => Ok(s),
            v => Err(self.wrong(i, "a string", v)),
        }
    }

    fn array(&self, i: usize) -> Result<&Vec<Value>, AslError> {
        match self.get(i)? {
            Value::Array(a) => Ok(a),
            v => Err(self.wrong(i, "an array", v)),
        }
    }

    fn object(&self, i: usize) -> Result<&Map<String, Value>, AslError> {
        match self.get(i)? {
            Value::Object(o) => Ok(o),
            v => Err(self.wrong(i, "a JSON object", v)),
        }
    }

    /// An integer argument where the docs say a non-integer "will round it off to the
    /// nearest integer" (ArrayPartition, ArrayRange, MathRandom, MathAdd).
    fn rounded_int(&self, i: usize) -> Result<i64, AslError> {
        let v = self.get(i)?;
        let Value::Number(n) = v else {
            return Err(self.wrong(i, "an integer", v));
        };
        if let Some(i) = n.as_i64() {
            return Ok(i);
        }
        n.as_f64()
            .map(java_round)
            .and_then(f64_to_i64)
            .ok_or_else(|| self.invalid(i, format!("is out of range: {n}")))
    }

    /// A string of at most [`MAX_ENCODE_CHARS`] characters.
    fn limited_string(&self, i: usize) -> Result<&str, AslError> {
        let s = self.string(i)?;
        let len = s.chars().count();
        if len > MAX_ENCODE_CHARS {
            return Err(self.invalid(
                i,
                format!("is {len} characters long; the limit is {MAX_ENCODE_CHARS}"),
            ));
        }
        Ok(s)
    }

    /// An array within the 256 KiB payload limit.
    fn limited_array(&self, i: usize) -> Result<&Vec<Value>, AslError> {
        let array = self.array(i)?;
        if json_len_exceeds(self.get(i)?, MAX_ARRAY_BYTES) {
            return Err(self.invalid(
                i,
                format!("exceeds the payload size limit of {MAX_ARRAY_BYTES} bytes"),
            ));
        }
        Ok(array)
    }
}

fn fail(function: Function, message: impl fmt::Display) -> AslError {
    AslError::intrinsic_failure(format!("{}: {message}", function.name()))
}

/// `States.StringToJson`. AWS returns null for an empty or blank string (LocalStack
/// snapshot test_string_to_json: `""` and `" "` both give null).
fn string_to_json(args: &Args) -> Result<Value, AslError> {
    let s = args.string(0)?;
    if s.trim().is_empty() {
        return Ok(Value::Null);
    }
    let mut v =
        serde_json::from_str(s).map_err(|e| args.invalid(0, format!("is not valid JSON: {e}")))?;
    integer_negative_zero(&mut v, 0);
    Ok(v)
}

/// `serde_json` reads the integer `-0` as the float `-0.0`; Java's parser reads it as
/// the integer 0, and AWS returns `StringToJson("-0") = 0` (LocalStack snapshot
/// test_string_to_json). Turns every `-0.0` into `0` (a `-0.0` written as a decimal
/// also becomes 0, a difference that only the sign of a zero can show).
fn integer_negative_zero(v: &mut Value, depth: usize) {
    if depth > MAX_VALUE_DEPTH {
        return;
    }
    match v {
        Value::Number(n) if n.as_f64().is_some_and(|f| f == 0.0 && f.is_sign_negative()) => {
            *v = Value::from(0);
        }
        Value::Array(items) => {
            for item in items {
                integer_negative_zero(item, depth + 1);
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                integer_negative_zero(item, depth + 1);
            }
        }
        _ => {}
    }
}

/// `States.JsonToString`: compact JSON text (AWS gives `{"Arg1":1,"Arg2":[]}`, per the
/// LocalStack snapshot test_json_to_string).
fn json_to_string(args: &Args) -> Result<Value, AslError> {
    let v = args.get(0)?;
    serde_json::to_string(v)
        .map(Value::String)
        .map_err(|e| args.invalid(0, format!("cannot be serialized: {e}")))
}

/// `States.ArrayPartition`: chunks of the (rounded) size, the last one shorter.
fn array_partition(args: &Args) -> Result<Value, AslError> {
    let array = args.limited_array(0)?;
    let size = args.rounded_int(1)?;
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s > 0)
        .ok_or_else(|| {
            args.invalid(
                1,
                format!("must be a non-zero, positive integer, got {size}"),
            )
        })?;
    Ok(Value::Array(
        array
            .chunks(size)
            .map(|chunk| Value::Array(chunk.to_vec()))
            .collect(),
    ))
}

/// `States.ArrayContains`: JSON equality (so `1` and `1.0` differ, as Jackson's
/// IntNode and DoubleNode do).
fn array_contains(args: &Args) -> Result<Value, AslError> {
    let array = args.limited_array(0)?;
    let needle = args.get(1)?;
    Ok(Value::Bool(array.contains(needle)))
}

/// `States.ArrayRange(first, last, step)`: `last` is included when a step lands on
/// it ("the second argument is the final element"); a negative step counts down; a
/// zero step or more than [`MAX_RANGE_ITEMS`] elements fails. A range whose step
/// points away from `last` is empty.
fn array_range(args: &Args) -> Result<Value, AslError> {
    let first = i128::from(args.rounded_int(0)?);
    let last = i128::from(args.rounded_int(1)?);
    let step = i128::from(args.rounded_int(2)?);
    if step == 0 {
        return Err(args.invalid(2, "must be a non-zero integer"));
    }
    let count = if (step > 0 && first > last) || (step < 0 && first < last) {
        0
    } else {
        (last - first) / step + 1
    };
    if count > MAX_RANGE_ITEMS as i128 {
        return Err(fail(
            args.function,
            format!("the range would have {count} elements; the limit is {MAX_RANGE_ITEMS}"),
        ));
    }
    let mut out = Vec::new();
    let mut value = first;
    for _ in 0..count {
        // Every element lies between `first` and `last`, both i64.
        out.push(Value::from(i64::try_from(value).unwrap_or_default()));
        value += step;
    }
    Ok(Value::Array(out))
}

/// `States.ArrayGetItem(array, index)`: a zero-based index. The docs do not say the
/// index is rounded, so a fractional index fails (an integral decimal such as 5.0 is
/// accepted), as do negative and out-of-range ones.
fn array_get_item(args: &Args) -> Result<Value, AslError> {
    let array = args.array(0)?;
    let v = args.get(1)?;
    let Value::Number(n) = v else {
        return Err(args.wrong(1, "an integer", v));
    };
    let index = if let Some(u) = n.as_u64() {
        Some(u)
    } else if n.is_i64() {
        return Err(args.invalid(1, format!("must not be negative, got {n}")));
    } else {
        n.as_f64().filter(|f| f.fract() == 0.0).and_then(|f| {
            if f < 0.0 {
                None
            } else {
                f64_to_i64(f).and_then(|i| u64::try_from(i).ok())
            }
        })
    };
    let Some(index) = index else {
        return Err(args.invalid(1, format!("must be a non-negative integer, got {n}")));
    };
    usize::try_from(index)
        .ok()
        .and_then(|i| array.get(i))
        .cloned()
        .ok_or_else(|| {
            args.invalid(
                1,
                format!(
                    "is out of range: {index} is not below the array length {}",
                    array.len()
                ),
            )
        })
}

/// `States.ArrayUnique`: keeps the first occurrence of each value, in order. Values
/// are compared as JSON (object key order ignored), through a canonical text key so a
/// large array is not compared pairwise.
fn array_unique(args: &Args) -> Result<Value, AslError> {
    let array = args.array(0)?;
    let mut seen = std::collections::HashSet::with_capacity(array.len());
    let mut out = Vec::new();
    for item in array {
        let mut key = String::new();
        canonical_json(item, 0, &mut key)
            .map_err(|e| args.invalid(0, format!("has an element that {e}")))?;
        if seen.insert(key) {
            out.push(item.clone());
        }
    }
    Ok(Value::Array(out))
}

/// The standard (RFC 4648) Base64 alphabet, with padding on output. On input the
/// padding may be omitted, as Java's basic decoder allows. No line breaks are
/// inserted: AWS's "MIME Base64" output is unwrapped in every recorded example.
fn base64_engine() -> base64::engine::GeneralPurpose {
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_encode_padding(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    )
}

/// `States.Base64Encode`: the UTF-8 bytes of a string of up to 10,000 characters.
fn base64_encode(args: &Args) -> Result<Value, AslError> {
    let s = args.limited_string(0)?;
    Ok(Value::String(base64_engine().encode(s.as_bytes())))
}

/// `States.Base64Decode`: a Base64 string of up to 10,000 characters, decoded as UTF-8.
/// Bytes that are not UTF-8 become U+FFFD, as Java's `new String(bytes, UTF_8)` does
/// (the docs are silent).
fn base64_decode(args: &Args) -> Result<Value, AslError> {
    let s = args.limited_string(0)?;
    let bytes = base64_engine()
        .decode(s)
        .map_err(|e| args.invalid(0, format!("is not valid Base64: {e}")))?;
    Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
}

/// `States.Hash(data, algorithm)`: lowercase hex digest of the UTF-8 bytes of a string
/// of up to 10,000 characters. The algorithm name must be exactly one of the five the
/// docs list.
fn hash(args: &Args) -> Result<Value, AslError> {
    let data = args.limited_string(0)?.as_bytes();
    let algorithm = args.string(1)?;
    let digest: Vec<u8> = match algorithm {
        "MD5" => <md5::Md5 as md5::Digest>::digest(data).to_vec(),
        "SHA-1" => <sha1::Sha1 as sha1::Digest>::digest(data).to_vec(),
        "SHA-256" => <sha2::Sha256 as sha2::Digest>::digest(data).to_vec(),
        "SHA-384" => <sha2::Sha384 as sha2::Digest>::digest(data).to_vec(),
        "SHA-512" => <sha2::Sha512 as sha2::Digest>::digest(data).to_vec(),
        _ => {
            return Err(args.invalid(
                1,
                format!(
                    "must be one of MD5, SHA-1, SHA-256, SHA-384, SHA-512, got {}",
                    describe(args.get(1)?)
                ),
            ))
        }
    };
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        use fmt::Write as _;
        let _ = write!(hex, "{byte:02x}");
    }
    Ok(Value::String(hex))
}

/// `States.JsonMerge(a, b, false)`: shallow merge, the second object's keys winning.
/// "Currently, Step Functions only supports the shallow merging mode; therefore, you
/// must specify the boolean value as false."
fn json_merge(args: &Args) -> Result<Value, AslError> {
    let first = args.object(0)?;
    let second = args.object(1)?;
    match args.get(2)? {
        Value::Bool(false) => {}
        Value::Bool(true) => {
            return Err(args.invalid(
                2,
                "must be false: only the shallow merging mode is supported",
            ))
        }
        v => return Err(args.wrong(2, "the boolean false", v)),
    }
    let mut merged = first.clone();
    for (key, value) in second {
        merged.insert(key.clone(), value.clone());
    }
    Ok(Value::Object(merged))
}

/// `States.MathRandom(start, end[, seed])`: an integer from start (inclusive) to end
/// (exclusive), per the docs; non-integers are rounded. AWS's generator is
/// `java.util.Random` (its JSONata `$random(42)` returns Java's
/// `new Random(42).nextDouble()` bit for bit, as Floci issue 2662 measured), so a
/// seeded call computes `new Random(seed).nextInt(end - start) + start` and the same
/// seed always gives the same number. An unseeded call seeds from the OS.
fn math_random(args: &Args) -> Result<Value, AslError> {
    let start = args.rounded_int(0)?;
    let end = args.rounded_int(1)?;
    let bound = i128::from(end) - i128::from(start);
    let Some(bound) = i32::try_from(bound).ok().filter(|b| *b > 0) else {
        return Err(fail(
            args.function,
            format!(
                "argument 2 (end) must be greater than argument 1 (start) by at most {}, got start {start} and end {end}",
                i32::MAX
            ),
        ));
    };
    let seed = if args.values.len() > 2 {
        args.rounded_int(2)?
    } else {
        let bits = getrandom::u64()
            .map_err(|e| fail(args.function, format!("no randomness available: {e}")))?;
        i64::from_ne_bytes(bits.to_ne_bytes())
    };
    let offset = JavaRandom::new(seed).next_int(bound);
    Ok(Value::from(start + i64::from(offset)))
}

/// `States.MathAdd(a, b)`: both rounded to integers, which must lie in
/// [-2147483648, 2147483647] ("You must specify integer values in the range of
/// -2147483648 and 2147483647"). Rounding is Java's `Math.round` (halves go up):
/// AWS gives `MathAdd(-1.5, 0) = -1` and `MathAdd(2.5, 0) = 3` (LocalStack snapshot
/// test_math_add). The sum itself is not truncated to 32 bits.
fn math_add(args: &Args) -> Result<Value, AslError> {
    let mut sum = 0i64;
    for i in 0..2 {
        let v = args.rounded_int(i)?;
        if i32::try_from(v).is_err() {
            return Err(args.invalid(
                i,
                format!("must lie between -2147483648 and 2147483647, got {v}"),
            ));
        }
        sum += v;
    }
    Ok(Value::from(sum))
}

/// `States.StringSplit(string, delimiters)`: every character of the second argument is
/// a delimiter (the docs split "This.is+a,test=string" on ".+,="), and empty pieces are
/// dropped (AWS behaviour, as Java's StringTokenizer does).
fn string_split(args: &Args) -> Result<Value, AslError> {
    let s = args.string(0)?;
    let delimiters = args.string(1)?;
    Ok(Value::Array(
        s.split(|c: char| delimiters.contains(c))
            .filter(|piece| !piece.is_empty())
            .map(|piece| Value::String(piece.to_owned()))
            .collect(),
    ))
}

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

/// How `States.Format` writes a value, as AWS does (Java's `toString` of the parsed
/// JSON): strings raw, numbers/booleans/null as JSON, arrays as `[a, b]` and objects as
/// `{k=v, k2=v2}`, nested strings raw too. AWS was recorded rendering the object
/// `{"Arg1": 1, "Arg2": []}` as `{Arg1=1, Arg2=[]}` and `$$.StateMachine` as
/// `{Id=arn:..., Name=...}` (LocalStack snapshots test_format_2, test_context_json_path),
/// although the ASL specification says arrays and objects "MUST NOT" be used.
fn render_format_value(v: &Value, depth: usize, out: &mut String) -> Result<(), String> {
    if depth > MAX_VALUE_DEPTH {
        return Err(format!("is nested more than {MAX_VALUE_DEPTH} levels deep"));
    }
    match v {
        Value::String(s) => out.push_str(s),
        Value::Null | Value::Bool(_) | Value::Number(_) => out.push_str(&v.to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_format_value(item, depth + 1, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(key);
                out.push('=');
                render_format_value(item, depth + 1, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// JSON text with object keys sorted, so equal values give equal text.
fn canonical_json(v: &Value, depth: usize, out: &mut String) -> Result<(), String> {
    if depth > MAX_VALUE_DEPTH {
        return Err(format!("is nested more than {MAX_VALUE_DEPTH} levels deep"));
    }
    match v {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, depth + 1, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(item, depth + 1, out)?;
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
    Ok(())
}

/// True when `v`'s compact JSON text is longer than `limit` bytes; stops writing as
/// soon as it is.
fn json_len_exceeds(v: &Value, limit: usize) -> bool {
    struct Counter {
        written: usize,
        limit: usize,
    }
    impl io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written = self.written.saturating_add(buf.len());
            if self.written > self.limit {
                Err(io::Error::other("limit exceeded"))
            } else {
                Ok(buf.len())
            }
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter { written: 0, limit };
    serde_json::to_writer(&mut counter, v).is_err()
}

/// A value in an error cause: its JSON text, cut at 100 characters.
fn describe(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(100) {
        Some((cut, _)) => format!("{}...", text.get(..cut).unwrap_or_default()),
        None => text,
    }
}

/// Java's `Math.round`: the nearest integer, halves rounded up (towards +infinity).
fn java_round(x: f64) -> f64 {
    let floor = x.floor();
    if x - floor >= 0.5 {
        floor + 1.0
    } else {
        floor
    }
}

/// `x` as an i64 when it is integral and in range.
fn f64_to_i64(x: f64) -> Option<i64> {
    // 2^63 is exactly representable; i64::MAX is not.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if x.fract() == 0.0 && (-LIMIT..LIMIT).contains(&x) {
        Some(x as i64)
    } else {
        None
    }
}

/// `java.util.Random`'s 48-bit linear congruential generator, so that a seeded
/// `States.MathRandom` returns what AWS (a Java service) returns for the same seed.
struct JavaRandom {
    seed: u64,
}

impl JavaRandom {
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const ADDEND: u64 = 0xB;
    const MASK: u64 = (1 << 48) - 1;

    fn new(seed: i64) -> JavaRandom {
        JavaRandom {
            seed: (u64::from_ne_bytes(seed.to_ne_bytes()) ^ Self::MULTIPLIER) & Self::MASK,
        }
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.seed = self
            .seed
            .wrapping_mul(Self::MULTIPLIER)
            .wrapping_add(Self::ADDEND)
            & Self::MASK;
        // Java's `(int)(seed >>> (48 - bits))`: keep the low 32 bits.
        let low = (self.seed >> (48 - bits)) as u32;
        i32::from_ne_bytes(low.to_ne_bytes())
    }

    /// `Random.nextInt(bound)` for `bound > 0`.
    fn next_int(&mut self, bound: i32) -> i32 {
        let mut r = self.next(31);
        let m = bound - 1;
        if bound & m == 0 {
            // A power of two: the high bits.
            let scaled = (i64::from(bound) * i64::from(r)) >> 31;
            return i32::try_from(scaled).unwrap_or_default();
        }
        let mut u = r;
        loop {
            r = u % bound;
            if u.wrapping_sub(r).wrapping_add(m) >= 0 {
                return r;
            }
            u = self.next(31);
        }
    }

    #[cfg(test)]
    fn next_double(&mut self) -> f64 {
        let high = i64::from(self.next(26)) << 27;
        let low = i64::from(self.next(27));
        (high + low) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A test `resolve`: `$...` against `input`, `$$...` against `context`, dotted
    /// names and `[n]` indexes only; a path that matches nothing is States.Runtime.
    fn resolver(input: Value, context: Value) -> impl Fn(&str) -> Result<Value, AslError> {
        move |path: &str| {
            let (root, rest) = if let Some(rest) = path.strip_prefix("$$") {
                (&context, rest)
            } else if let Some(rest) = path.strip_prefix('$') {
                (&input, rest)
            } else {
                return Err(AslError::runtime(format!("bad path {path}")));
            };
            let mut current = root;
            let mut rest = rest;
            while !rest.is_empty() {
                let next = if let Some(r) = rest.strip_prefix('.') {
                    let end = r.find(['.', '[']).unwrap_or(r.len());
                    let (name, tail) = r.split_at(end);
                    rest = tail;
                    current.get(name)
                } else if let Some(r) = rest.strip_prefix('[') {
                    let end = r.find(']').unwrap_or(r.len());
                    let (index, tail) = r.split_at(end);
                    rest = tail.get(1..).unwrap_or_default();
                    index.parse::<usize>().ok().and_then(|i| current.get(i))
                } else {
                    None
                };
                current = next.ok_or_else(|| {
                    AslError::runtime(format!(
                        "The JSONPath '{path}' could not be found in the input"
                    ))
                })?;
            }
            Ok(current.clone())
        }
    }

    fn eval_with(expr: &str, input: Value) -> Result<Value, AslError> {
        let resolve = resolver(input, json!({}));
        evaluate(expr, &resolve)
    }

    fn ok(expr: &str, input: Value) -> Value {
        match eval_with(expr, input) {
            Ok(v) => v,
            Err(e) => panic!("{expr}: {e}"),
        }
    }

    fn lit(expr: &str) -> Value {
        ok(expr, json!({}))
    }

    /// Asserts a States.IntrinsicFailure whose cause contains every fragment.
    fn intrinsic_failure(expr: &str, input: Value, fragments: &[&str]) {
        match eval_with(expr, input) {
            Ok(v) => panic!("{expr}: expected a failure, got {v}"),
            Err(e) => {
                assert_eq!(e.error, "States.IntrinsicFailure", "{expr}: {e}");
                for fragment in fragments {
                    assert!(
                        e.cause.contains(fragment),
                        "{expr}: cause {:?} lacks {fragment:?}",
                        e.cause
                    );
                }
            }
        }
    }

    fn parse_err(expr: &str, fragments: &[&str]) {
        match parse(expr) {
            Ok(call) => panic!("{expr}: expected a parse error, got {call:?}"),
            Err(message) => {
                for fragment in fragments {
                    assert!(
                        message.contains(fragment),
                        "{expr}: message {message:?} lacks {fragment:?}"
                    );
                }
            }
        }
    }

    // ----- parsing: literals, paths, whitespace, nesting ---------------------------

    #[test]
    fn parses_every_literal_kind() {
        let v = lit("States.Array('Foo', 2020, -3, 1.5, -0.25, 1e3, true, false, null)");
        assert_eq!(
            v,
            json!(["Foo", 2020, -3, 1.5, -0.25, 1000.0, true, false, null])
        );
        assert_eq!(lit("States.Array(-0, '')"), json!([0, ""]));
    }

    #[test]
    fn spec_example_array_with_mixed_arguments() {
        // ASL specification example: States.Array('Foo', 2020, $.someJson, null).
        let input = json!({"someJson": {"random": "abcdefg"}, "zebra": "stripe"});
        let v = ok("States.Array('Foo', 2020, $.someJson, null)", input);
        assert_eq!(v, json!(["Foo", 2020, {"random": "abcdefg"}, null]));
    }

    #[test]
    fn whitespace_around_arguments_and_call() {
        let v = ok("  States.Array(  $.a ,\t'x'\n, 1 )  ", json!({"a": 7}));
        assert_eq!(v, json!([7, "x", 1]));
        assert_eq!(lit("States.Array ( )"), json!([]));
    }

    #[test]
    fn context_paths_are_resolved() {
        let resolve = resolver(
            json!({}),
            json!({"Execution": {"Id": "arn:x", "Name": "exec-1"}}),
        );
        let v = evaluate(
            "States.Format('{} of {}', $$.Execution.Name, $$.Execution.Id)",
            &resolve,
        );
        assert_eq!(v, Ok(json!("exec-1 of arn:x")));
    }

    #[test]
    fn root_path_and_indexed_path() {
        assert_eq!(ok("States.Array($)", json!({"a": 1})), json!([{"a": 1}]));
        assert_eq!(
            ok("States.Array($.a.b[1])", json!({"a": {"b": [5, 6]}})),
            json!([6])
        );
    }

    #[test]
    fn bracketed_paths_keep_commas_parentheses_and_quotes() {
        let call = parse("States.Array($.abc.['def, ghi)'], $.x[?(@.a == 'b,c')], $.y)")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            call.paths(),
            vec!["$.abc.['def, ghi)']", "$.x[?(@.a == 'b,c')]", "$.y"]
        );
    }

    #[test]
    fn paths_lists_nested_call_paths_in_order() {
        let call = parse("States.Format('{}{}', $.a, States.ArrayLength($$.Map.Item.Value))")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(call.paths(), vec!["$.a", "$$.Map.Item.Value"]);
        assert_eq!(call.function(), Function::Format);
    }

    #[test]
    fn resolve_errors_pass_through_unchanged() {
        let err = eval_with("States.Array($.missing)", json!({})).err();
        let err = err.unwrap_or_else(|| panic!("expected an error"));
        assert_eq!(err.error, "States.Runtime");
        assert!(err.cause.contains("$.missing"));
    }

    #[test]
    fn variables_are_handed_to_resolve() {
        let resolve = |path: &str| {
            if path == "$myVar.x" {
                Ok(json!(3))
            } else {
                Err(AslError::runtime(path.to_string()))
            }
        };
        assert_eq!(
            evaluate("States.MathAdd($myVar.x, 1)", &resolve),
            Ok(json!(4))
        );
    }

    #[test]
    fn nested_calls_as_arguments() {
        // LocalStack test_nested_calls_2 shape (AWS-validated).
        let context = json!({"StateMachine": {"Name": "alpha-beta-gamma"}});
        let resolve = resolver(json!({}), context);
        let expr = "States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), States.MathAdd(States.ArrayLength(States.StringSplit($$.StateMachine.Name, '-')), -1))";
        assert_eq!(evaluate(expr, &resolve), Ok(json!("gamma")));
    }

    #[test]
    fn docs_example_nine_nested_functions() {
        // The docs' myArn example: nine functions in one field. Its template has three
        // placeholders for two values, so it parses but fails when it runs.
        let input = json!({"ImageRecipe": {"Arn": "arn:aws:imagebuilder:us-east-1:123:image-recipe/my.recipe.name/1.0.0"}});
        let expr = "States.Format('{}.{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 0), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 1))";
        assert!(parse(expr).is_ok());
        intrinsic_failure(
            expr,
            input.clone(),
            &[
                "States.Format",
                "3 '{}' placeholder(s) but 2 value argument(s)",
            ],
        );
        let fixed = expr.replacen("'{}.{}.{}'", "'{}.{}'", 1);
        assert_eq!(ok(&fixed, input), json!("1.0"));
    }

    #[test]
    fn ten_calls_allowed_eleven_rejected() {
        let ten = format!("{}1{}", "States.Array(".repeat(10), ")".repeat(10));
        assert!(parse(&ten).is_ok());
        let eleven = format!("{}1{}", "States.Array(".repeat(11), ")".repeat(11));
        parse_err(&eleven, &["more than 10 intrinsic functions", "position"]);
        let wide = format!("States.Array({})", ["States.UUID()"; 10].join(","));
        parse_err(&wide, &["more than 10"]);
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let deep = format!(
            "{}1{}",
            "States.Array(".repeat(100_000),
            ")".repeat(100_000)
        );
        parse_err(&deep, &["more than 10"]);
    }

    #[test]
    fn syntax_errors_name_the_problem_and_position() {
        parse_err(
            "States.Nope(1)",
            &["unknown intrinsic function 'States.Nope'", "position 1"],
        );
        parse_err("States.format('x')", &["unknown intrinsic function"]);
        parse_err("$.a", &["expected an intrinsic function call"]);
        parse_err("States.Array", &["expected '('"]);
        parse_err("States.Array(1", &["missing ')'"]);
        parse_err("States.Array(1,)", &["missing argument 2"]);
        parse_err("States.Array(,1)", &["missing argument 1"]);
        parse_err("States.Array(1 2)", &["expected ',' or ')'", "position 16"]);
        parse_err("States.Array(1) x", &["unexpected text after"]);
        parse_err("States.Array(\"x\")", &["unexpected '\"'"]);
        parse_err("States.Array(yes)", &["unexpected 'yes'"]);
        parse_err("States.Array(01)", &["invalid number '01'"]);
        parse_err("States.Array(1.)", &["invalid number"]);
        parse_err("States.Array(-)", &["invalid number"]);
        parse_err("States.Array('abc)", &["unterminated string"]);
        parse_err("States.Array($.a[0)", &["unbalanced ')'"]);
        parse_err("States.Array($.a[0", &["missing ']'"]);
        parse_err("States.Array($.a(0))", &["unexpected '('"]);
        parse_err("States.Array($.a['x)", &["unterminated quoted name"]);
        parse_err("", &["expected an intrinsic function call"]);
    }

    #[test]
    fn evaluate_maps_syntax_errors_to_runtime_and_counts_to_intrinsic_failure() {
        let syntax = eval_with("States.Array('a\\x')", json!({})).err();
        assert_eq!(syntax.map(|e| e.error), Some("States.Runtime".to_string()));
        intrinsic_failure(
            "States.ArrayLength()",
            json!({}),
            &["States.ArrayLength takes 1 argument(s), got 0"],
        );
    }

    // ----- string escapes --------------------------------------------------------

    #[test]
    fn escapes_in_strings() {
        // The docs' four escapes: \' \{ \} \\ .
        assert_eq!(
            lit(r"States.Array('it\'s', '\{', '\}', 'a\\b')"),
            json!(["it's", "{", "}", "a\\b"])
        );
    }

    #[test]
    fn escaped_braces_are_not_placeholders() {
        // Literal JSON around a placeholder (the LocalStack issue 13425 case).
        let v = ok(
            r#"States.Format('\{"key":"{}"\}', $.value)"#,
            json!({"value": "test123"}),
        );
        assert_eq!(v, json!(r#"{"key":"test123"}"#));
        assert_eq!(lit(r"States.Format('\{\}')"), json!("{}"));
    }

    #[test]
    fn invalid_escapes_are_rejected() {
        parse_err(
            r#"States.Format('He said \"hi\"')"#,
            &["invalid escape '\\\"'"],
        );
        parse_err(r"States.Array('a\n')", &["invalid escape '\\n'"]);
        parse_err(r"States.Array('a\u0041')", &["invalid escape"]);
        parse_err("States.Array('a\\", &["open escape backslash"]);
    }

    #[test]
    fn unescaped_lone_braces_are_rejected() {
        parse_err("States.Format('{x}')", &["unescaped '{'"]);
        parse_err("States.Array('}')", &["unescaped '}'"]);
        parse_err(r"States.Format('{\}')", &["unescaped '{'"]);
    }

    #[test]
    fn raw_control_characters_are_kept() {
        // LocalStack test_escape_sequence: a JSON "\n" is a real newline in the call.
        assert_eq!(
            lit("States.StringSplit('Hello\nWorld', '\n')"),
            json!(["Hello", "World"])
        );
    }

    #[test]
    fn unicode_in_strings() {
        assert_eq!(lit("States.Array('héllo ✓ 🎉')"), json!(["héllo ✓ 🎉"]));
    }

    // ----- arity ---------------------------------------------------------------------

    #[test]
    fn argument_counts_are_checked_for_every_function() {
        let cases = [
            ("States.Format()", "at least 1"),
            ("States.StringToJson()", "takes 1 argument"),
            ("States.StringToJson('a', 'b')", "takes 1 argument"),
            ("States.JsonToString()", "takes 1 argument"),
            ("States.ArrayPartition($.a)", "takes 2 argument"),
            ("States.ArrayContains($.a)", "takes 2 argument"),
            ("States.ArrayRange(1, 2)", "takes 3 argument"),
            ("States.ArrayGetItem($.a, 1, 2)", "takes 2 argument"),
            ("States.ArrayLength($.a, $.b)", "takes 1 argument"),
            ("States.ArrayUnique()", "takes 1 argument"),
            ("States.Base64Encode()", "takes 1 argument"),
            ("States.Base64Decode('a', 'b')", "takes 1 argument"),
            ("States.Hash('a')", "takes 2 argument"),
            ("States.JsonMerge($.a, $.b)", "takes 3 argument"),
            ("States.MathRandom(1)", "takes 2 to 3 argument"),
            ("States.MathRandom(1, 2, 3, 4)", "takes 2 to 3 argument"),
            ("States.MathAdd(1)", "takes 2 argument"),
            ("States.StringSplit('a')", "takes 2 argument"),
            ("States.UUID(1)", "takes 0 argument"),
        ];
        for (expr, fragment) in cases {
            parse_err(expr, &[fragment, "position"]);
            intrinsic_failure(expr, json!({}), &[fragment]);
        }
    }

    #[test]
    fn arity_errors_in_nested_calls_give_the_nested_position() {
        parse_err(
            "States.Array(1, States.MathAdd(1))",
            &["States.MathAdd takes 2", "position 17"],
        );
    }

    // ----- States.Format ---------------------------------------------------------------

    #[test]
    fn format_docs_example_literal_template() {
        let input = json!({"name": "Arnav", "template": "Hello, my name is {}."});
        assert_eq!(
            ok("States.Format('Hello, my name is {}.', $.name)", input),
            json!("Hello, my name is Arnav.")
        );
    }

    #[test]
    fn format_docs_example_path_template() {
        let input = json!({"name": "Arnav", "template": "Hello, my name is {}."});
        assert_eq!(
            ok("States.Format($.template, $.name)", input),
            json!("Hello, my name is Arnav.")
        );
    }

    #[test]
    fn format_spec_example_number_argument() {
        // ASL specification: "Your name is {}, we are in the year {}" with 2020.
        let v = ok(
            "States.Format('Your name is {}, we are in the year {}', $.name, 2020)",
            json!({"name": "Foo"}),
        );
        assert_eq!(v, json!("Your name is Foo, we are in the year 2020"));
    }

    #[test]
    fn format_renders_values_as_aws_does() {
        // LocalStack test_format_1 / test_format_2 (AWS-validated).
        let cases = [
            (json!(""), "Formatting argument ."),
            (json!(" "), "Formatting argument  ."),
            (json!("HelloWorld"), "Formatting argument HelloWorld."),
            (json!(null), "Formatting argument null."),
            (json!(1), "Formatting argument 1."),
            (json!(1.1), "Formatting argument 1.1."),
            (
                json!("{\"Arg1\": 1, \"Arg2\": []}"),
                "Formatting argument {\"Arg1\": 1, \"Arg2\": []}.",
            ),
            (
                json!({"Arg1": 1, "Arg2": []}),
                "Formatting argument {Arg1=1, Arg2=[]}.",
            ),
            (json!(true), "Formatting argument true."),
            (
                json!(["a", 1, null, {"k": "v"}]),
                "Formatting argument [a, 1, null, {k=v}].",
            ),
        ];
        for (value, expected) in cases {
            let v = ok(
                "States.Format('Formatting argument {}.', $.v)",
                json!({"v": value}),
            );
            assert_eq!(v, json!(expected));
        }
    }

    #[test]
    fn format_context_object_as_map() {
        // LocalStack test_context_json_path: $$.StateMachine renders as {Id=..., Name=...}.
        let context =
            json!({"Execution": {"Name": "e1"}, "StateMachine": {"Id": "arn:sm", "Name": "sm"}});
        let resolve = resolver(json!({}), context);
        let v = evaluate(
            "States.Format('fst={} and snd={}.', $$.Execution.Name, $$.StateMachine)",
            &resolve,
        );
        assert_eq!(v, Ok(json!("fst=e1 and snd={Id=arn:sm, Name=sm}.")));
    }

    #[test]
    fn format_without_placeholders() {
        assert_eq!(lit("States.Format('plain')"), json!("plain"));
    }

    #[test]
    fn format_adjacent_placeholders_and_nested_call() {
        assert_eq!(
            lit("States.Format('{}{}-{}', 1, 'a', States.MathAdd(1, 2))"),
            json!("1a-3")
        );
    }

    #[test]
    fn format_placeholder_count_mismatch_literal_fails_at_run_time() {
        assert!(parse("States.Format('{} {}', 1)").is_ok());
        intrinsic_failure(
            "States.Format('{} {}', 1)",
            json!({}),
            &[
                "States.Format",
                "2 '{}' placeholder(s) but 1 value argument(s)",
            ],
        );
        intrinsic_failure(
            "States.Format('{}', 1, 2)",
            json!({}),
            &["1 '{}' placeholder(s) but 2"],
        );
        intrinsic_failure(
            "States.Format('x', 1)",
            json!({}),
            &["0 '{}' placeholder(s) but 1"],
        );
        intrinsic_failure(
            r"States.Format('\{\}', 1)",
            json!({}),
            &["0 '{}' placeholder(s) but 1"],
        );
    }

    #[test]
    fn format_placeholder_count_mismatch_path_template_is_runtime_error() {
        intrinsic_failure(
            "States.Format($.t, 1)",
            json!({"t": "{} and {}"}),
            &["States.Format", "2 '{}' placeholder(s) but 1"],
        );
    }

    #[test]
    fn format_template_must_be_string() {
        parse_err(
            "States.Format(1)",
            &["argument 1 (template) must be a string"],
        );
        parse_err("States.Format(null)", &["must be a string"]);
        intrinsic_failure(
            "States.Format($.t)",
            json!({"t": 5}),
            &[
                "States.Format",
                "argument 1 (template) must be a string, got 5",
            ],
        );
    }

    #[test]
    fn format_path_template_braces_are_data() {
        // Backslashes in a template that comes from the input are plain text.
        assert_eq!(
            ok("States.Format($.t, 'x')", json!({"t": "a\\{b {}"})),
            json!("a\\{b x")
        );
    }

    #[test]
    fn format_refuses_absurdly_deep_values() {
        let mut v = json!(1);
        for _ in 0..200 {
            v = json!([v]);
        }
        intrinsic_failure(
            "States.Format('{}', $.v)",
            json!({"v": v}),
            &["States.Format", "nested more than 128"],
        );
    }

    // ----- States.StringToJson / JsonToString -----------------------------------------

    #[test]
    fn string_to_json_docs_example() {
        let input = json!({"escapedJsonString": "{\"foo\": \"bar\"}"});
        assert_eq!(
            ok("States.StringToJson($.escapedJsonString)", input),
            json!({"foo": "bar"})
        );
    }

    #[test]
    fn string_to_json_scalars_and_blank() {
        // LocalStack test_string_to_json (AWS-validated).
        let cases = [
            ("", json!(null)),
            (" ", json!(null)),
            ("null", json!(null)),
            ("-0", json!(0)),
            ("1", json!(1)),
            ("1.1", json!(1.1)),
            ("true", json!(true)),
            ("\"HelloWorld\"", json!("HelloWorld")),
            ("[1, 2, \"HelloWorld\"]", json!([1, 2, "HelloWorld"])),
            ("[-0, {\"a\": -0}]", json!([0, {"a": 0}])),
        ];
        for (text, expected) in cases {
            let v = ok("States.StringToJson($.s)", json!({"s": text}));
            assert_eq!(v, expected, "{text:?}");
        }
    }

    #[test]
    fn string_to_json_literal_with_escaped_braces() {
        assert_eq!(
            lit(r#"States.StringToJson('\{"a":[1]\}')"#),
            json!({"a": [1]})
        );
    }

    #[test]
    fn string_to_json_errors() {
        intrinsic_failure(
            "States.StringToJson($.s)",
            json!({"s": "{bad"}),
            &[
                "States.StringToJson",
                "argument 1 (JSON string) is not valid JSON",
            ],
        );
        intrinsic_failure(
            "States.StringToJson($.s)",
            json!({"s": 5}),
            &["argument 1 (JSON string) must be a string, got 5"],
        );
    }

    #[test]
    fn json_to_string_docs_example() {
        let input = json!({"unescapedJson": {"foo": "bar"}});
        assert_eq!(
            ok("States.JsonToString($.unescapedJson)", input),
            json!("{\"foo\":\"bar\"}")
        );
    }

    #[test]
    fn json_to_string_values() {
        // LocalStack test_json_to_string (AWS-validated).
        let cases = [
            (json!(null), "null"),
            (json!(0), "0"),
            (json!(1.1), "1.1"),
            (json!(true), "true"),
            (json!("HelloWorld"), "\"HelloWorld\""),
            (json!([1, 2, "HelloWorld"]), "[1,2,\"HelloWorld\"]"),
            (json!({"Arg1": 1, "Arg2": []}), "{\"Arg1\":1,\"Arg2\":[]}"),
        ];
        for (value, expected) in cases {
            assert_eq!(
                ok("States.JsonToString($.v)", json!({"v": value})),
                json!(expected)
            );
        }
    }

    #[test]
    fn json_round_trip() {
        let input = json!({"o": {"a": [1, {"b": null}]}});
        assert_eq!(
            ok("States.StringToJson(States.JsonToString($.o))", input),
            json!({"a": [1, {"b": null}]})
        );
    }

    // ----- States.Array ----------------------------------------------------------------

    #[test]
    fn array_docs_example() {
        assert_eq!(
            ok("States.Array($.Id)", json!({"Id": 123456})),
            json!([123456])
        );
    }

    #[test]
    fn array_empty_and_values() {
        // LocalStack test_array_0 / test_array_2.
        assert_eq!(lit("States.Array()"), json!([]));
        let input = json!({"fst": {"Arg1": 1, "Arg2": []}, "snd": null});
        assert_eq!(
            ok("States.Array($.fst, $.snd)", input),
            json!([{"Arg1": 1, "Arg2": []}, null])
        );
    }

    // ----- States.ArrayPartition ---------------------------------------------------------

    #[test]
    fn array_partition_docs_example() {
        let input = json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9]});
        assert_eq!(
            ok("States.ArrayPartition($.inputArray,4)", input),
            json!([[1, 2, 3, 4], [5, 6, 7, 8], [9]])
        );
    }

    #[test]
    fn array_partition_edge_cases() {
        // LocalStack test_array_partition (AWS-validated).
        assert_eq!(
            ok("States.ArrayPartition($.a, 3)", json!({"a": []})),
            json!([])
        );
        assert_eq!(
            ok("States.ArrayPartition($.a, 5)", json!({"a": [0]})),
            json!([[0]])
        );
        assert_eq!(
            ok("States.ArrayPartition($.a, 1)", json!({"a": [0, 1, 2]})),
            json!([[0], [1], [2]])
        );
        assert_eq!(
            ok("States.ArrayPartition($.a, 2)", json!({"a": [0, 1, 2, 3]})),
            json!([[0, 1], [2, 3]])
        );
        assert_eq!(
            ok("States.ArrayPartition($.a, 3)", json!({"a": [0, 1, 2, 3]})),
            json!([[0, 1, 2], [3]])
        );
    }

    #[test]
    fn array_partition_rounds_the_chunk_size() {
        // Docs: "If you specify a non-integer value ... round it off to the nearest integer."
        assert_eq!(
            ok("States.ArrayPartition($.a, 1.5)", json!({"a": [1, 2, 3]})),
            json!([[1, 2], [3]])
        );
        assert_eq!(
            ok("States.ArrayPartition($.a, 2.4)", json!({"a": [1, 2, 3]})),
            json!([[1, 2], [3]])
        );
    }

    #[test]
    fn array_partition_errors() {
        intrinsic_failure(
            "States.ArrayPartition($.a, 0)",
            json!({"a": [1]}),
            &[
                "States.ArrayPartition",
                "argument 2 (chunk size)",
                "non-zero, positive",
                "got 0",
            ],
        );
        intrinsic_failure(
            "States.ArrayPartition($.a, -2)",
            json!({"a": [1]}),
            &["argument 2 (chunk size)", "got -2"],
        );
        intrinsic_failure(
            "States.ArrayPartition($.a, 0.4)",
            json!({"a": [1]}),
            &["got 0"],
        );
        intrinsic_failure(
            "States.ArrayPartition($.a, '2')",
            json!({"a": [1]}),
            &["argument 2 (chunk size) must be an integer, got \"2\""],
        );
        intrinsic_failure(
            "States.ArrayPartition($.a, 2)",
            json!({"a": {"x": 1}}),
            &["argument 1 (array) must be an array, got {\"x\":1}"],
        );
    }

    #[test]
    fn array_partition_payload_limit() {
        let big = json!({"a": vec!["x".repeat(1000); 300]});
        intrinsic_failure(
            "States.ArrayPartition($.a, 2)",
            big,
            &["argument 1 (array) exceeds the payload size limit of 262144 bytes"],
        );
        let fits = json!({"a": vec!["x".repeat(1000); 250]});
        assert!(eval_with("States.ArrayPartition($.a, 100)", fits).is_ok());
    }

    // ----- States.ArrayContains -----------------------------------------------------------

    #[test]
    fn array_contains_docs_example() {
        let input = json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "lookingFor": 5});
        assert_eq!(
            ok("States.ArrayContains($.inputArray, $.lookingFor)", input),
            json!(true)
        );
    }

    #[test]
    fn array_contains_structural_values() {
        // LocalStack test_array_contains (AWS-validated).
        let cases = [
            (json!([]), json!(null), false),
            (json!([]), json!([]), false),
            (json!([[1, 2, 3], 2]), json!(null), false),
            (json!([[1, 2, 3], 2]), json!([1, 2, 3]), true),
            (json!([{"1": 2, "2": []}]), json!([]), false),
            (json!([{"1": 2, "2": []}]), json!({"2": [], "1": 2}), true),
            (json!([true, false]), json!(false), true),
            (json!([1]), json!(1.0), false),
        ];
        for (array, needle, expected) in cases {
            let v = ok(
                "States.ArrayContains($.a, $.n)",
                json!({"a": array, "n": needle}),
            );
            assert_eq!(v, json!(expected));
        }
        assert_eq!(
            ok("States.ArrayContains($.a, 'x')", json!({"a": ["x"]})),
            json!(true)
        );
    }

    #[test]
    fn array_contains_errors() {
        intrinsic_failure(
            "States.ArrayContains($.a, 1)",
            json!({"a": "123"}),
            &[
                "States.ArrayContains",
                "argument 1 (array) must be an array",
            ],
        );
        let big = json!({"a": vec!["x".repeat(1000); 300]});
        intrinsic_failure(
            "States.ArrayContains($.a, 1)",
            big,
            &["exceeds the payload size limit"],
        );
    }

    // ----- States.ArrayRange ------------------------------------------------------------

    #[test]
    fn array_range_docs_example() {
        assert_eq!(lit("States.ArrayRange(1, 9, 2)"), json!([1, 3, 5, 7, 9]));
    }

    #[test]
    fn array_range_cases() {
        // LocalStack test_array_range (AWS-validated).
        assert_eq!(lit("States.ArrayRange(0, 9, 3)"), json!([0, 3, 6, 9]));
        assert_eq!(lit("States.ArrayRange(0, 10, 3)"), json!([0, 3, 6, 9]));
        assert_eq!(lit("States.ArrayRange(1, 9, 9)"), json!([1]));
        assert_eq!(lit("States.ArrayRange(5, 5, 1)"), json!([5]));
    }

    #[test]
    fn array_range_negative_step_and_empty() {
        assert_eq!(lit("States.ArrayRange(9, 1, -2)"), json!([9, 7, 5, 3, 1]));
        assert_eq!(lit("States.ArrayRange(-3, -1, 1)"), json!([-3, -2, -1]));
        assert_eq!(lit("States.ArrayRange(5, 1, 1)"), json!([]));
        assert_eq!(lit("States.ArrayRange(1, 5, -1)"), json!([]));
    }

    #[test]
    fn array_range_rounds_arguments() {
        assert_eq!(lit("States.ArrayRange(0.5, 4.4, 1.5)"), json!([1, 3]));
    }

    #[test]
    fn array_range_limit_of_1000() {
        let v = lit("States.ArrayRange(1, 1000, 1)");
        assert_eq!(v.as_array().map(Vec::len), Some(1000));
        intrinsic_failure(
            "States.ArrayRange(1, 1001, 1)",
            json!({}),
            &["States.ArrayRange", "1001 elements", "limit is 1000"],
        );
        intrinsic_failure(
            "States.ArrayRange(-9223372036854775808, 9223372036854775807, 1)",
            json!({}),
            &["limit is 1000"],
        );
    }

    #[test]
    fn array_range_errors() {
        intrinsic_failure(
            "States.ArrayRange(1, 9, 0)",
            json!({}),
            &["argument 3 (step) must be a non-zero integer"],
        );
        intrinsic_failure(
            "States.ArrayRange(1, 9, 0.4)",
            json!({}),
            &["argument 3 (step)"],
        );
        intrinsic_failure(
            "States.ArrayRange('1', 9, 1)",
            json!({}),
            &["argument 1 (first element) must be an integer, got \"1\""],
        );
        intrinsic_failure(
            "States.ArrayRange(1, $.x, 1)",
            json!({"x": null}),
            &["argument 2 (last element) must be an integer, got null"],
        );
        intrinsic_failure(
            "States.ArrayRange(1, 1e300, 1)",
            json!({}),
            &["argument 2 (last element) is out of range"],
        );
    }

    // ----- States.ArrayGetItem -------------------------------------------------------------

    #[test]
    fn array_get_item_docs_example() {
        let input = json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "index": 5});
        assert_eq!(
            ok("States.ArrayGetItem($.inputArray, $.index)", input),
            json!(6)
        );
    }

    #[test]
    fn array_get_item_bounds_and_values() {
        let input = json!({"a": [{"x": 1}, null, "s"]});
        assert_eq!(
            ok("States.ArrayGetItem($.a, 0)", input.clone()),
            json!({"x": 1})
        );
        assert_eq!(
            ok("States.ArrayGetItem($.a, 1)", input.clone()),
            json!(null)
        );
        assert_eq!(ok("States.ArrayGetItem($.a, 2.0)", input), json!("s"));
    }

    #[test]
    fn array_get_item_errors() {
        let input = json!({"a": [1, 2, 3]});
        intrinsic_failure(
            "States.ArrayGetItem($.a, 3)",
            input.clone(),
            &[
                "States.ArrayGetItem",
                "argument 2 (index) is out of range: 3",
                "length 3",
            ],
        );
        intrinsic_failure(
            "States.ArrayGetItem($.a, -1)",
            input.clone(),
            &["argument 2 (index) must not be negative, got -1"],
        );
        intrinsic_failure(
            "States.ArrayGetItem($.a, 1.5)",
            input.clone(),
            &["argument 2 (index) must be a non-negative integer, got 1.5"],
        );
        intrinsic_failure(
            "States.ArrayGetItem($.a, '1')",
            input.clone(),
            &["argument 2 (index) must be an integer"],
        );
        intrinsic_failure(
            "States.ArrayGetItem($.a, 18446744073709551615)",
            input,
            &["out of range"],
        );
        intrinsic_failure(
            "States.ArrayGetItem('abc', 0)",
            json!({}),
            &["argument 1 (array) must be an array, got \"abc\""],
        );
    }

    // ----- States.ArrayLength / ArrayUnique -----------------------------------------------

    #[test]
    fn array_length_docs_example() {
        let input = json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9]});
        assert_eq!(ok("States.ArrayLength($.inputArray)", input), json!(9));
        assert_eq!(ok("States.ArrayLength($.a)", json!({"a": []})), json!(0));
    }

    #[test]
    fn array_length_errors() {
        intrinsic_failure(
            "States.ArrayLength($.a)",
            json!({"a": "abc"}),
            &[
                "States.ArrayLength",
                "argument 1 (array) must be an array, got \"abc\"",
            ],
        );
        intrinsic_failure(
            "States.ArrayLength(3)",
            json!({}),
            &["must be an array, got 3"],
        );
    }

    #[test]
    fn array_unique_docs_example() {
        let input = json!({"inputArray": [1, 2, 3, 3, 3, 3, 3, 3, 4]});
        assert_eq!(
            ok("States.ArrayUnique($.inputArray)", input),
            json!([1, 2, 3, 4])
        );
    }

    #[test]
    fn array_unique_mixed_values_keep_first_occurrence() {
        // The input of LocalStack's test_array_unique.
        let input = json!({"a": [null, null, true, true, false, false, 1, 1, 1.1, 0, 0, "HelloWorld", "HelloWorld", [], [], [null], [null], {"a": 1, "b": 2}, {"b": 2, "a": 1}, {"a": 1, "b": 1}]});
        let expected = json!([null, true, false, 1, 1.1, 0, "HelloWorld", [], [null], {"a": 1, "b": 2}, {"a": 1, "b": 1}]);
        assert_eq!(ok("States.ArrayUnique($.a)", input), expected);
        assert_eq!(
            ok("States.ArrayUnique($.a)", json!({"a": [3, 1, 3, 2, 1]})),
            json!([3, 1, 2])
        );
        assert_eq!(
            ok("States.ArrayUnique($.a)", json!({"a": [1, 1.0, "1"]})),
            json!([1, 1.0, "1"])
        );
    }

    #[test]
    fn array_unique_errors() {
        intrinsic_failure(
            "States.ArrayUnique($.a)",
            json!({"a": {"k": 1}}),
            &["States.ArrayUnique", "argument 1 (array) must be an array"],
        );
    }

    #[test]
    fn array_unique_is_fast_on_large_arrays() {
        let many: Vec<u64> = (0..50_000).map(|i| i % 1000).collect();
        let v = ok("States.ArrayUnique($.a)", json!({"a": many}));
        assert_eq!(v.as_array().map(Vec::len), Some(1000));
    }

    // ----- States.Base64Encode / Base64Decode ----------------------------------------------

    #[test]
    fn base64_encode_docs_example() {
        assert_eq!(
            ok(
                "States.Base64Encode($.input)",
                json!({"input": "Data to encode"})
            ),
            json!("RGF0YSB0byBlbmNvZGU=")
        );
        assert_eq!(lit("States.Base64Encode('')"), json!(""));
    }

    #[test]
    fn base64_decode_docs_example() {
        // The docs print "Decoded data" for this input, a typo; AWS returns the
        // original text (LocalStack test_base_64_decode, AWS-validated).
        assert_eq!(
            ok(
                "States.Base64Decode($.base64)",
                json!({"base64": "RGF0YSB0byBlbmNvZGU="})
            ),
            json!("Data to encode")
        );
        assert_eq!(lit("States.Base64Decode('')"), json!(""));
        assert_eq!(
            lit("States.Base64Decode('RGVjb2RlZCBkYXRh')"),
            json!("Decoded data")
        );
    }

    #[test]
    fn base64_utf8_round_trip_and_unpadded_input() {
        assert_eq!(
            lit("States.Base64Decode(States.Base64Encode('héllo 🎉'))"),
            json!("héllo 🎉")
        );
        assert_eq!(lit("States.Base64Decode('RGF0YQ')"), json!("Data"));
        assert_eq!(lit("States.Base64Decode('/w==')"), json!("\u{FFFD}"));
    }

    #[test]
    fn base64_long_output_has_no_line_breaks() {
        let v = ok("States.Base64Encode($.s)", json!({"s": "a".repeat(200)}));
        assert!(v
            .as_str()
            .is_some_and(|s| !s.contains('\n') && !s.contains('\r')));
    }

    #[test]
    fn base64_limits_of_10000_characters() {
        assert!(eval_with("States.Base64Encode($.s)", json!({"s": "é".repeat(10_000)})).is_ok());
        intrinsic_failure(
            "States.Base64Encode($.s)",
            json!({"s": "a".repeat(10_001)}),
            &[
                "States.Base64Encode",
                "argument 1 (data) is 10001 characters long; the limit is 10000",
            ],
        );
        let encoded = "QUJD".repeat(2500);
        assert!(eval_with("States.Base64Decode($.s)", json!({"s": encoded})).is_ok());
        intrinsic_failure(
            "States.Base64Decode($.s)",
            json!({"s": "QUJD".repeat(2501)}),
            &["States.Base64Decode", "10004 characters long"],
        );
    }

    #[test]
    fn base64_errors() {
        intrinsic_failure(
            "States.Base64Encode(1)",
            json!({}),
            &["argument 1 (data) must be a string, got 1"],
        );
        intrinsic_failure(
            "States.Base64Decode('@@@@')",
            json!({}),
            &[
                "States.Base64Decode",
                "argument 1 (Base64 data) is not valid Base64",
            ],
        );
        intrinsic_failure(
            "States.Base64Decode($.b)",
            json!({"b": ["x"]}),
            &["must be a string"],
        );
    }

    // ----- States.Hash --------------------------------------------------------------------

    #[test]
    fn hash_docs_example_sha1() {
        // The docs print the digest with a digit missing; this is the full value AWS
        // returns (LocalStack test_hash, AWS-validated).
        let input = json!({"Data": "input data", "Algorithm": "SHA-1"});
        assert_eq!(
            ok("States.Hash($.Data, $.Algorithm)", input),
            json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
        );
    }

    #[test]
    fn hash_all_algorithms() {
        // LocalStack test_hash (AWS-validated).
        let cases = [
            ("MD5", "812f45842bc6d66ee14572ce20db8e86"),
            ("SHA-256", "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3"),
            ("SHA-384", "d28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1fb9e9374a15562"),
            ("SHA-512", "6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23bf2954f0f1d593fc50283731a533d30d425402d4f91316d871303aac4"),
        ];
        for (algorithm, digest) in cases {
            let expr = format!("States.Hash('input data', '{algorithm}')");
            assert_eq!(lit(&expr), json!(digest), "{algorithm}");
        }
    }

    #[test]
    fn hash_limit_and_errors() {
        assert!(eval_with("States.Hash($.s, 'MD5')", json!({"s": "a".repeat(10_000)})).is_ok());
        intrinsic_failure(
            "States.Hash($.s, 'MD5')",
            json!({"s": "a".repeat(10_001)}),
            &["States.Hash", "argument 1 (data) is 10001 characters long"],
        );
        intrinsic_failure("States.Hash('x', 'sha-1')", json!({}), &["argument 2 (algorithm) must be one of MD5, SHA-1, SHA-256, SHA-384, SHA-512, got \"sha-1\""]);
        intrinsic_failure(
            "States.Hash('x', 'SHA1')",
            json!({}),
            &["argument 2 (algorithm)"],
        );
        intrinsic_failure(
            "States.Hash($.o, 'MD5')",
            json!({"o": {"a": 1}}),
            &["argument 1 (data) must be a string"],
        );
        intrinsic_failure(
            "States.Hash('x', 5)",
            json!({}),
            &["argument 2 (algorithm) must be a string, got 5"],
        );
    }

    // ----- States.JsonMerge ---------------------------------------------------------------

    #[test]
    fn json_merge_docs_example() {
        let input = json!({"json1": {"a": {"a1": 1, "a2": 2}, "b": 2}, "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}});
        let expected = json!({"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3});
        assert_eq!(
            ok("States.JsonMerge($.json1, $.json2, false)", input),
            expected
        );
    }

    #[test]
    fn json_merge_second_wins() {
        // LocalStack test_json_merge (AWS-validated).
        let input = json!({"fst": {"a": {"a1": 1, "a2": 2}, "b": 2, "d": 3}, "snd": {"a": {"a3": 1, "a4": 2}, "c": 3, "d": 4}});
        let expected = json!({"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3, "d": 4});
        assert_eq!(ok("States.JsonMerge($.fst, $.snd, false)", input), expected);
    }

    #[test]
    fn json_merge_with_nested_string_to_json() {
        let v = ok(
            r#"States.JsonMerge($.a, States.StringToJson('\{"k":"v"\}'), false)"#,
            json!({"a": {"x": 1}}),
        );
        assert_eq!(v, json!({"x": 1, "k": "v"}));
    }

    #[test]
    fn json_merge_errors() {
        let input = json!({"a": {"x": 1}, "b": {"y": 2}, "s": "x"});
        intrinsic_failure(
            "States.JsonMerge($.a, $.b, true)",
            input.clone(),
            &[
                "States.JsonMerge",
                "argument 3 (deep merge flag) must be false",
            ],
        );
        intrinsic_failure(
            "States.JsonMerge($.a, $.b, 'false')",
            input.clone(),
            &["argument 3 (deep merge flag) must be the boolean false, got \"false\""],
        );
        intrinsic_failure(
            "States.JsonMerge($.s, $.b, false)",
            input.clone(),
            &["argument 1 (first object) must be a JSON object, got \"x\""],
        );
        intrinsic_failure(
            "States.JsonMerge($.a, $.s, false)",
            input,
            &["argument 2 (second object) must be a JSON object"],
        );
    }

    // ----- States.MathRandom --------------------------------------------------------------

    #[test]
    fn java_random_matches_java() {
        // Values printed by OpenJDK's java.util.Random.
        assert_eq!(JavaRandom::new(42).next_double(), 0.7275636800328681);
        assert_eq!(JavaRandom::new(42).next(32), -1170105035);
        assert_eq!(JavaRandom::new(42).next_int(10), 0);
        assert_eq!(JavaRandom::new(42).next_int(999), 125);
        assert_eq!(JavaRandom::new(3).next_int(999), 239);
        assert_eq!(JavaRandom::new(0).next_int(16), 11);
        assert_eq!(JavaRandom::new(-7).next_int(1_000_000_007), 577934662);
        assert_eq!(JavaRandom::new(123_456_789).next_int(i32::MAX), 1426010965);
        let mut r = JavaRandom::new(5);
        let seq: Vec<i32> = (0..5).map(|_| r.next_int(7)).collect();
        assert_eq!(seq, vec![2, 4, 4, 0, 4]);
    }

    #[test]
    fn math_random_docs_example_is_in_range() {
        let input = json!({"start": 1, "end": 999});
        for _ in 0..200 {
            let v = ok("States.MathRandom($.start, $.end)", input.clone());
            let n = v.as_i64().unwrap_or(-1);
            assert!((1..999).contains(&n), "{n}");
        }
    }

    #[test]
    fn math_random_end_is_exclusive() {
        for _ in 0..50 {
            assert_eq!(lit("States.MathRandom(7, 8)"), json!(7));
        }
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            seen.insert(lit("States.MathRandom(0, 3)").as_i64().unwrap_or(-1));
        }
        assert_eq!(seen, [0, 1, 2].into_iter().collect());
    }

    #[test]
    fn math_random_seeded_is_deterministic() {
        // LocalStack test_math_random_seeded uses (0, 999, 3); java.util.Random gives 239.
        assert_eq!(lit("States.MathRandom(0, 999, 3)"), json!(239));
        assert_eq!(lit("States.MathRandom(0, 999, 3)"), json!(239));
        // java: new Random(42).nextInt(998) + 1, and new Random(0).nextInt(5) - 10.
        assert_eq!(lit("States.MathRandom(1, 999, 42)"), json!(255));
        assert_eq!(lit("States.MathRandom(-10, -5, 0)"), json!(-10));
    }

    #[test]
    fn math_random_rounds_and_accepts_negative_ranges() {
        // LocalStack test_math_random inputs: (12.5, 44.51), (-99999, -9999).
        for _ in 0..50 {
            let n = ok(
                "States.MathRandom($.s, $.e)",
                json!({"s": 12.5, "e": 44.51}),
            )
            .as_i64()
            .unwrap_or(-1);
            assert!((13..45).contains(&n), "{n}");
            let m = ok(
                "States.MathRandom($.s, $.e)",
                json!({"s": -99999, "e": -9999}),
            )
            .as_i64()
            .unwrap_or(0);
            assert!((-99999..-9999).contains(&m), "{m}");
        }
        assert_eq!(
            lit("States.MathRandom(0, 999, 2.6)"),
            lit("States.MathRandom(0, 999, 3)")
        );
    }

    #[test]
    fn math_random_errors() {
        intrinsic_failure(
            "States.MathRandom(5, 5)",
            json!({}),
            &[
                "States.MathRandom",
                "argument 2 (end) must be greater than argument 1 (start)",
                "start 5 and end 5",
            ],
        );
        intrinsic_failure("States.MathRandom(5, 1)", json!({}), &["must be greater"]);
        intrinsic_failure(
            "States.MathRandom(-9223372036854775808, 9223372036854775807)",
            json!({}),
            &["at most 2147483647"],
        );
        intrinsic_failure(
            "States.MathRandom('1', 5)",
            json!({}),
            &["argument 1 (start) must be an integer, got \"1\""],
        );
        intrinsic_failure(
            "States.MathRandom(1, 5, 'x')",
            json!({}),
            &["argument 3 (seed) must be an integer"],
        );
    }

    // ----- States.MathAdd -----------------------------------------------------------------

    #[test]
    fn math_add_docs_example() {
        assert_eq!(
            ok(
                "States.MathAdd($.value1, $.step)",
                json!({"value1": 111, "step": -1})
            ),
            json!(110)
        );
    }

    #[test]
    fn math_add_rounds_like_java() {
        // LocalStack test_math_add (AWS-validated).
        let cases = [
            (-9.0, 3.0, -6),
            (1.49, 1.5, 3),
            (1.5, 1.51, 4),
            (-1.49, -1.5, -2),
            (-1.5, -1.51, -3),
            (1.49, -1.49, 0),
            (-1.5, 0.0, -1),
            (0.5, 0.0, 1),
            (2.5, 0.0, 3),
            (-0.5, 0.5, 1),
            (-0.5, 0.0, 0),
            (-2.5, 0.0, -2),
            (-3.5, 0.0, -3),
        ];
        for (a, b, expected) in cases {
            let v = ok("States.MathAdd($.a, $.b)", json!({"a": a, "b": b}));
            assert_eq!(v, json!(expected), "{a} + {b}");
        }
        assert_eq!(lit("States.MathAdd(0.49999999999999994, 0)"), json!(0));
    }

    #[test]
    fn math_add_range_limits() {
        assert_eq!(
            lit("States.MathAdd(2147483647, 2147483647)"),
            json!(4294967294i64)
        );
        assert_eq!(
            lit("States.MathAdd(-2147483648, -1)"),
            json!(-2147483649i64)
        );
        intrinsic_failure("States.MathAdd(2147483648, 0)", json!({}), &["States.MathAdd", "argument 1 (first value) must lie between -2147483648 and 2147483647, got 2147483648"]);
        intrinsic_failure(
            "States.MathAdd(0, -2147483649)",
            json!({}),
            &["argument 2 (second value)"],
        );
        intrinsic_failure(
            "States.MathAdd(0, 2147483647.5)",
            json!({}),
            &["got 2147483648"],
        );
    }

    #[test]
    fn math_add_type_errors() {
        intrinsic_failure(
            "States.MathAdd('1', 2)",
            json!({}),
            &["argument 1 (first value) must be an integer, got \"1\""],
        );
        intrinsic_failure("States.MathAdd($.a, 2)", json!({"a": true}), &["got true"]);
        intrinsic_failure(
            "States.MathAdd(1, null)",
            json!({}),
            &["argument 2 (second value) must be an integer, got null"],
        );
    }

    // ----- States.StringSplit -------------------------------------------------------------

    #[test]
    fn string_split_docs_examples() {
        let v = ok(
            "States.StringSplit($.inputString, $.splitter)",
            json!({"inputString": "1,2,3,4,5", "splitter": ","}),
        );
        assert_eq!(v, json!(["1", "2", "3", "4", "5"]));
        let v = ok(
            "States.StringSplit($.inputString, $.splitter)",
            json!({"inputString": "This.is+a,test=string", "splitter": ".+,="}),
        );
        assert_eq!(v, json!(["This", "is", "a", "test", "string"]));
    }

    #[test]
    fn string_split_drops_empty_pieces() {
        assert_eq!(lit("States.StringSplit(',a,,b,', ',')"), json!(["a", "b"]));
        assert_eq!(lit("States.StringSplit('', ',')"), json!([]));
        assert_eq!(lit("States.StringSplit(',,,', ',')"), json!([]));
        assert_eq!(lit("States.StringSplit('abc', '')"), json!(["abc"]));
        assert_eq!(lit("States.StringSplit('a b', ' ')"), json!(["a", "b"]));
        assert_eq!(lit("States.StringSplit('x✓y', '✓')"), json!(["x", "y"]));
    }

    #[test]
    fn string_split_with_escaped_reserved_delimiters() {
        assert_eq!(
            lit(r"States.StringSplit('a\'b\{c', '\'\{')"),
            json!(["a", "b", "c"])
        );
    }

    #[test]
    fn string_split_errors() {
        intrinsic_failure(
            "States.StringSplit(1, ',')",
            json!({}),
            &[
                "States.StringSplit",
                "argument 1 (string) must be a string, got 1",
            ],
        );
        intrinsic_failure(
            "States.StringSplit('a', $.d)",
            json!({"d": [","]}),
            &["argument 2 (delimiting characters) must be a string"],
        );
    }

    // ----- States.UUID --------------------------------------------------------------------

    #[test]
    fn uuid_is_v4_and_unique() {
        let a = lit("States.UUID()");
        let b = lit("States.UUID()");
        assert_ne!(a, b);
        let s = a.as_str().unwrap_or_default();
        assert_eq!(s.len(), 36);
        let parsed = uuid::Uuid::parse_str(s).ok();
        assert_eq!(parsed.map(|u| u.get_version_num()), Some(4));
        assert_eq!(s, s.to_lowercase());
    }

    #[test]
    fn uuid_inside_format() {
        let v = lit("States.Format('id-{}', States.UUID())");
        assert!(v
            .as_str()
            .is_some_and(|s| s.starts_with("id-") && s.len() == 39));
    }

    // ----- misc ---------------------------------------------------------------------------

    #[test]
    fn is_intrinsic_call_detects_calls() {
        assert!(is_intrinsic_call("States.Array()"));
        assert!(is_intrinsic_call("  States.Format('x')"));
        assert!(!is_intrinsic_call("$.States"));
        assert!(!is_intrinsic_call("States"));
    }

    #[test]
    fn every_function_name_parses() {
        for f in Function::ALL {
            let err = parse(&format!("{}(1, 2, 3, 4, 5)", f.name()));
            if let Err(message) = err {
                assert!(!message.contains("unknown"), "{f}: {message}");
            }
        }
    }

    #[test]
    fn parse_then_evaluate_many_times() {
        let call = parse("States.MathAdd($.n, 1)").unwrap_or_else(|e| panic!("{e}"));
        for n in 0..5 {
            let resolve = resolver(json!({"n": n}), json!({}));
            assert_eq!(call.evaluate(&resolve), Ok(json!(n + 1)));
        }
    }

    #[test]
    fn describe_truncates_long_values() {
        let long = json!("x".repeat(500));
        let text = describe(&long);
        assert!(text.ends_with("...") && text.chars().count() == 103);
    }

    #[test]
    fn java_round_halves_go_up() {
        assert_eq!(java_round(2.5), 3.0);
        assert_eq!(java_round(-2.5), -2.0);
        assert_eq!(java_round(-2.51), -3.0);
        assert_eq!(java_round(0.49999999999999994), 0.0);
    }
}
