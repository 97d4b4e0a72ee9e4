//! Choice rules in the JSONPath query language: parsing a rule from the definition and
//! deciding whether it matches the state input.
//!
//! Sources: the Choice state page of the AWS Step Functions developer guide
//! (<https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html>, "Choice
//! Rules (JSONPath)"), the Amazon States Language specification
//! (<https://states-language.net/spec.html>, "Choice Rules"), and, where both are silent,
//! results recorded against AWS (LocalStack's `tests/aws/services/stepfunctions/v2/
//! choice_operators/*.snapshot.json`) and the error AWS reports for a missing path.

use crate::util::json_type as type_name;
use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::AslError;

/// And/Or/Not nest rules inside rules; the definition is input, so nesting is bounded
/// (parsing and matching both recurse once per level).
pub const MAX_NESTING: usize = 64;

/// A Choice rule as the definition states it (a top-level rule of `Choices`, with
/// its `Next`, or a nested rule inside And/Or/Not, without).
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    next: Option<String>,
    assign: Option<Value>,
    condition: Condition,
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Test { variable: String, test: Test },
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    /// `IsBoolean`, `IsNull`, ...: the kind tested and the answer the rule wants.
    Is(Kind, bool),
    Matches(Pattern),
    Compare {
        data: DataType,
        op: Op,
        operand: Operand,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Boolean,
    Null,
    Numeric,
    Present,
    String,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataType {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equals,
    LessThan,
    GreaterThan,
    LessThanEquals,
    GreaterThanEquals,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// The value written in the definition, already checked to be of the right type.
    Literal(Value),
    /// A `...Path` operator: the reference path whose value is compared.
    Path(String),
}

/// What a field name of a rule object is.
enum Field {
    And,
    Or,
    Not,
    Is(Kind),
    Matches,
    Compare(DataType, Op, bool),
}

impl Rule {
    /// The rule in a few words, for diagrams: `copy.done == false`,
    /// `not (a is present)`, `x > 3 and y == "s"`. Paths keep their last two steps.
    pub fn describe(&self) -> String {
        self.condition.describe()
    }
}

impl Condition {
    fn describe(&self) -> String {
        let group = |rules: &[Rule], joint: &str| {
            rules
                .iter()
                .map(|r| match r.condition {
                    Condition::Test { .. } | Condition::Not(_) => r.describe(),
                    _ => format!("({})", r.describe()),
                })
                .collect::<Vec<_>>()
                .join(joint)
        };
        match self {
            Condition::And(rules) => group(rules, " and "),
            Condition::Or(rules) => group(rules, " or "),
            Condition::Not(rule) => format!("not ({})", rule.describe()),
            Condition::Test { variable, test } => {
                let variable = short_path(variable);
                match test {
                    Test::Is(kind, want) => {
                        let kind = match kind {
                            Kind::Boolean => "a boolean",
                            Kind::Null => "null",
                            Kind::Numeric => "a number",
                            Kind::Present => "present",
                            Kind::String => "a string",
                            Kind::Timestamp => "a timestamp",
                        };
                        format!("{variable} is {}{kind}", if *want { "" } else { "not " })
                    }
                    Test::Matches(pattern) => format!("{variable} matches {}", pattern.source()),
                    Test::Compare { op, operand, .. } => {
                        let op = match op {
                            Op::Equals => "==",
                            Op::LessThan => "<",
                            Op::GreaterThan => ">",
                            Op::LessThanEquals => "<=",
                            Op::GreaterThanEquals => ">=",
                        };
                        let operand = match operand {
                            Operand::Literal(value) => value.to_string(),
                            Operand::Path(path) => short_path(path),
                        };
                        format!("{variable} {op} {operand}")
                    }
                }
            }
        }
    }
}

/// `$.generated.copy.done` → `copy.done`: enough to read in a diagram.
fn short_path(path: &str) -> String {
    let steps: Vec<&str> = path.split('.').filter(|s| !s.is_empty()).collect();
    match steps.as_slice() {
        [.., a, b] if *a != "$" && *a != "$$" => format!("{a}.{b}"),
        [.., last] => last.to_string(),
        [] => path.to_string(),
    }
}

/// Parses and checks one rule: exactly one comparison operator (or And/Or/Not), a
/// `Variable` for comparisons, the operand of the right JSON type (string for
/// String*, number for Numeric*, boolean for BooleanEquals and Is*, an RFC 3339
/// timestamp string for Timestamp*, a path string for every `...Path` variant),
/// `Next` required on top-level rules and forbidden inside And/Or/Not, And/Or
/// non-empty arrays, Not an object. `top_level` says which. Messages name the problem.
pub fn parse_rule(rule: &Value, top_level: bool) -> Result<Rule, String> {
    parse_at(rule, top_level, 0, "")
}

/// Parses a Choice state's `Choices` field: a non-empty array of top-level rules.
pub fn parse_choices(choices: &Value) -> Result<Vec<Rule>, String> {
    let Some(items) = choices.as_array() else {
        return Err(format!(
            "Choices must be a non-empty array of Choice rules, got {}",
            type_name(choices)
        ));
    };
    if items.is_empty() {
        return Err("Choices must be a non-empty array of Choice rules, got []".to_string());
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_at(item, true, 0, &format!("Choices[{i}]")))
        .collect()
}

impl Rule {
    /// The state to go to when this top-level rule matches (`None` for nested rules).
    pub fn next(&self) -> Option<&str> {
        self.next.as_deref()
    }

    /// The rule's `Assign` object (workflow variables set when it matches), if any.
    pub fn assign(&self) -> Option<&Value> {
        self.assign.as_ref()
    }

    /// Whether the rule matches. `resolve(path)` returns the value at a path
    /// (`$...` in the input, `$$...` in the context object) or `Ok(None)` when it
    /// matches nothing.
    ///
    /// And/Or stop at the first rule that settles them, left to right: the docs' example
    /// guards `StringEquals` on a key that might not exist with a preceding `IsPresent`
    /// inside the same `And`.
    pub fn matches(
        &self,
        resolve: &dyn Fn(&str) -> Result<Option<Value>, AslError>,
    ) -> Result<bool, AslError> {
        match &self.condition {
            Condition::And(rules) => {
                for rule in rules {
                    if !rule.matches(resolve)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Condition::Or(rules) => {
                for rule in rules {
                    if rule.matches(resolve)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Condition::Not(rule) => Ok(!rule.matches(resolve)?),
            Condition::Test { variable, test } => test.evaluate(variable, resolve),
        }
    }
}

impl Test {
    fn evaluate(
        &self,
        variable: &str,
        resolve: &dyn Fn(&str) -> Result<Option<Value>, AslError>,
    ) -> Result<bool, AslError> {
        let value = resolve(variable)?;
        // IsPresent is the one operator for which a Variable that matches nothing is an
        // answer rather than an error (docs: the IsPresent guard example).
        if let Test::Is(Kind::Present, wanted) = self {
            return Ok(value.is_some() == *wanted);
        }
        // Every other operator fails the execution: AWS reports States.Runtime "Invalid
        // path '$.x': The choice state's condition path references an invalid value."
        let value = value.ok_or_else(|| invalid_path(variable))?;
        match self {
            Test::Is(kind, wanted) => Ok(kind.holds(&value) == *wanted),
            Test::Matches(pattern) => Ok(value.as_str().is_some_and(|s| pattern.matches(s))),
            Test::Compare { data, op, operand } => {
                let other = match operand {
                    Operand::Literal(literal) => Cow::Borrowed(literal),
                    // A `...Path` operand that matches nothing fails the same way as the
                    // Variable, naming the operand's path. The docs are silent; this is
                    // what a public conformance suite of Choice cases expects of AWS.
                    Operand::Path(path) => {
                        Cow::Owned(resolve(path)?.ok_or_else(|| invalid_path(path))?)
                    }
                };
                // Values of the wrong type never match: "Step Functions doesn't attempt
                // to match a numeric field to a string value" (docs), and AWS answers
                // false, not an error, e.g. for NumericEquals on a string or null.
                Ok(compare(*data, &value, &other).is_some_and(|order| op.accepts(order)))
            }
        }
    }
}

fn invalid_path(path: &str) -> AslError {
    AslError::runtime(format!(
        "Invalid path '{path}': The choice state's condition path references an invalid value."
    ))
}

impl Kind {
    fn holds(self, value: &Value) -> bool {
        match self {
            Kind::Boolean => value.is_boolean(),
            Kind::Null => value.is_null(),
            Kind::Numeric => value.is_number(),
            Kind::Present => true,
            Kind::String => value.is_string(),
            Kind::Timestamp => value.as_str().and_then(parse_timestamp).is_some(),
        }
    }
}

impl Op {
    fn accepts(self, order: Ordering) -> bool {
        match self {
            Op::Equals => order == Ordering::Equal,
            Op::LessThan => order == Ordering::Less,
            Op::GreaterThan => order == Ordering::Greater,
            Op::LessThanEquals => order != Ordering::Greater,
            Op::GreaterThanEquals => order != Ordering::Less,
        }
    }
}

/// Orders two values as `data`, or `None` when either is not of that type.
fn compare(data: DataType, left: &Value, right: &Value) -> Option<Ordering> {
    match data {
        DataType::String => Some(compare_strings(left.as_str()?, right.as_str()?)),
        DataType::Numeric => compare_numbers(left.as_number()?, right.as_number()?),
        DataType::Boolean => Some(left.as_bool()?.cmp(&right.as_bool()?)),
        DataType::Timestamp => {
            let left = parse_timestamp(left.as_str()?)?;
            let right = parse_timestamp(right.as_str()?)?;
            Some(left.cmp(&right))
        }
    }
}

/// The docs define string order by Java's `String.compareTo`, which compares UTF-16 code
/// units, not code points: U+1F600 (surrogates D83D DE00) sorts before U+FFFD. The two
/// orders agree everywhere except between astral characters and U+E000..U+FFFF.
fn compare_strings(left: &str, right: &str) -> Ordering {
    left.encode_utf16().cmp(right.encode_utf16())
}

/// Numbers compare by value, so `1` equals `1.0` and `-0` equals `0`. Two integers
/// compare exactly; anything involving a fraction compares as IEEE 754 binary64, the
/// precision the docs tell users to stay within.
fn compare_numbers(left: &Number, right: &Number) -> Option<Ordering> {
    if let (Some(left), Some(right)) = (integer(left), integer(right)) {
        return Some(left.cmp(&right));
    }
    left.as_f64()?.partial_cmp(&right.as_f64()?)
}

fn integer(number: &Number) -> Option<i128> {
    number
        .as_i64()
        .map(i128::from)
        .or_else(|| number.as_u64().map(i128::from))
}

/// Parses a Step Functions timestamp into nanoseconds since the Unix epoch, or `None`
/// when the string is not one.
///
/// The docs require "RFC3339 profile ISO 8601, with further restrictions: an uppercase T
/// must separate the date and time portions, an uppercase Z must denote that a numeric
/// time zone offset isn't present": `YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm)`.
/// So a date alone, a space or lowercase `t`, a lowercase `z` and a missing offset are
/// all rejected. Not settled by the docs, chosen here: the fraction takes 1 to 9 digits
/// (nanoseconds, what Java's ISO parsers take), and second 60 (a leap second, which
/// RFC 3339 allows) is rejected as Java's `OffsetDateTime` rejects it.
pub fn parse_timestamp(text: &str) -> Option<i128> {
    let mut cursor = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    let year = cursor.number(4)?;
    cursor.literal(b'-')?;
    let month = cursor.number(2)?;
    cursor.literal(b'-')?;
    let day = cursor.number(2)?;
    cursor.literal(b'T')?;
    let hour = cursor.number(2)?;
    cursor.literal(b':')?;
    let minute = cursor.number(2)?;
    cursor.literal(b':')?;
    let second = cursor.number(2)?;
    let mut nanos: i64 = 0;
    if cursor.peek() == Some(b'.') {
        cursor.at += 1;
        let mut digits = 0u32;
        while let Some(digit) = cursor.peek().filter(u8::is_ascii_digit) {
            digits += 1;
            if digits > 9 {
                return None;
            }
            nanos = nanos * 10 + i64::from(digit - b'0');
            cursor.at += 1;
        }
        if digits == 0 {
            return None;
        }
        nanos *= 10i64.pow(9 - digits);
    }
    let offset_seconds = match cursor.next()? {
        b'Z' => 0,
        sign @ (b'+' | b'-') => {
            let hours = cursor.number(2)?;
            cursor.literal(b':')?;
            let minutes = cursor.number(2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if sign == b'-' {
                -seconds
            } else {
                seconds
            }
        }
        _ => return None,
    };
    if cursor.at != cursor.bytes.len() {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(i128::from(seconds) * 1_000_000_000 + i128::from(nanos))
}

/// Reads fixed-width fields of a timestamp without indexing past the end.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn literal(&mut self, expected: u8) -> Option<()> {
        (self.next()? == expected).then_some(())
    }

    fn number(&mut self, width: usize) -> Option<i64> {
        let mut value = 0;
        for _ in 0..width {
            let digit = self.next().filter(u8::is_ascii_digit)?;
            value = value * 10 + i64::from(digit - b'0');
        }
        Some(value)
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// A `StringMatches` pattern: `*` matches any run of characters (none included) and
/// nothing else is special, except that `\*` is a literal star and `\\` a literal
/// backslash (docs: "The wildcard character is escaped by using the standard \\ ... No
/// characters other than * have any special meaning during matching"). A backslash
/// before any other character, or at the end, is itself literal (the docs are silent).
#[derive(Debug, Clone, PartialEq)]
struct Pattern {
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    Star,
    Char(char),
}

impl Pattern {
    fn parse(text: &str) -> Pattern {
        let mut tokens = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => tokens.push(Token::Star),
                '\\' => match chars.peek() {
                    Some(&escaped @ ('*' | '\\')) => {
                        chars.next();
                        tokens.push(Token::Char(escaped));
                    }
                    _ => tokens.push(Token::Char('\\')),
                },
                other => tokens.push(Token::Char(other)),
            }
        }
        Pattern { tokens }
    }

    /// Whole-string wildcard match, iterative with one backtrack point (the last star),
    /// so the time is at most pattern length × text length and there is no recursion.
    /// The pattern written back, `\\` and `\*` escaped as in the definition.
    fn source(&self) -> String {
        let mut out = String::from("\"");
        for token in &self.tokens {
            match token {
                Token::Star => out.push('*'),
                Token::Char(c @ ('*' | '\\')) => {
                    out.push('\\');
                    out.push(*c);
                }
                Token::Char(c) => out.push(*c),
            }
        }
        out.push('"');
        out
    }

    fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let (mut p, mut t) = (0, 0);
        let mut last_star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::Star) => {
                    last_star = Some((p, t));
                    p += 1;
                }
                Some(Token::Char(c)) if text.get(t) == Some(c) => {
                    p += 1;
                    t += 1;
                }
                _ => match last_star {
                    Some((star, from)) => {
                        p = star + 1;
                        t = from + 1;
                        last_star = Some((star, from + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens
            .iter()
            .skip(p)
            .all(|token| *token == Token::Star)
    }
}

fn parse_at(rule: &Value, top_level: bool, depth: usize, at: &str) -> Result<Rule, String> {
    let here = if at.is_empty() {
        "Choice rule".to_string()
    } else {
        format!("Choice rule {at}")
    };
    if depth > MAX_NESTING {
        return Err(format!(
            "{here}: And/Or/Not nest more than {MAX_NESTING} levels deep"
        ));
    }
    let Some(object) = rule.as_object() else {
        return Err(format!(
            "{here}: a Choice rule must be a JSON object, got {}",
            type_name(rule)
        ));
    };

    let mut operators: Vec<(&str, Field, &Value)> = Vec::new();
    for (key, value) in object {
        match key.as_str() {
            "Variable" | "Next" | "Assign" => {}
            "Comment" => {
                if !value.is_string() {
                    return Err(format!(
                        "{here}: Comment must be a string, got {}",
                        type_name(value)
                    ));
                }
            }
            "Condition" => {
                return Err(format!(
                    "{here}: field 'Condition' belongs to the JSONata query language; \
                     JSONPath Choice rules use Variable and a comparison operator"
                ));
            }
            name => match field(name) {
                Some(kind) => operators.push((name, kind, value)),
                None => return Err(format!("{here}: unknown field '{name}'")),
            },
        }
    }

    let next = match (object.get("Next"), top_level) {
        (Some(Value::String(next)), true) => Some(next.clone()),
        (Some(other), true) => {
            return Err(format!(
                "{here}: Next must be a string naming a state, got {}",
                type_name(other)
            ))
        }
        (None, true) => {
            return Err(format!(
                "{here}: a top-level Choice rule needs a Next field"
            ))
        }
        (Some(_), false) => {
            return Err(format!(
                "{here}: Next is only allowed on a top-level Choice rule, not inside And/Or/Not"
            ))
        }
        (None, false) => None,
    };
    let assign = match (object.get("Assign"), top_level) {
        (Some(value @ Value::Object(_)), true) => Some(value.clone()),
        (Some(other), true) => {
            return Err(format!(
                "{here}: Assign must be an object, got {}",
                type_name(other)
            ))
        }
        (Some(_), false) => {
            return Err(format!(
                "{here}: Assign is only allowed on a top-level Choice rule, not inside And/Or/Not"
            ))
        }
        (None, _) => None,
    };

    if operators.len() > 1 {
        let names: Vec<&str> = operators.iter().map(|(name, _, _)| *name).collect();
        return Err(format!(
            "{here}: a Choice rule takes exactly one operator, found {}",
            names.join(", ")
        ));
    }
    let Some((name, kind, operand)) = operators.pop() else {
        return Err(format!(
            "{here}: no comparison operator (expected And, Or, Not, or Variable with an \
             operator such as StringEquals, NumericLessThan, IsPresent)"
        ));
    };

    let condition = match kind {
        Field::And | Field::Or | Field::Not => {
            if object.contains_key("Variable") {
                return Err(format!(
                    "{here}: {name} combines other rules and cannot have a Variable"
                ));
            }
            nested(name, kind, operand, depth, at, &here)?
        }
        Field::Is(kind) => Condition::Test {
            variable: variable(object.get("Variable"), name, &here)?,
            test: Test::Is(kind, boolean_operand(name, operand, &here)?),
        },
        Field::Matches => {
            let Some(pattern) = operand.as_str() else {
                return Err(format!(
                    "{here}: {name} must be a string pattern, got {}",
                    type_name(operand)
                ));
            };
            Condition::Test {
                variable: variable(object.get("Variable"), name, &here)?,
                test: Test::Matches(Pattern::parse(pattern)),
            }
        }
        Field::Compare(data, op, is_path) => {
            let operand = if is_path {
                Operand::Path(path_operand(name, operand, &here)?)
            } else {
                Operand::Literal(literal_operand(name, data, operand, &here)?)
            };
            Condition::Test {
                variable: variable(object.get("Variable"), name, &here)?,
                test: Test::Compare { data, op, operand },
            }
        }
    };

    Ok(Rule {
        next,
        assign,
        condition,
    })
}

fn nested(
    name: &str,
    kind: Field,
    operand: &Value,
    depth: usize,
    at: &str,
    here: &str,
) -> Result<Condition, String> {
    let child_at = |suffix: String| {
        if at.is_empty() {
            suffix
        } else {
            format!("{at}.{suffix}")
        }
    };
    if let Field::Not = kind {
        if !operand.is_object() {
            return Err(format!(
                "{here}: Not must be a single Choice rule object, got {}",
                type_name(operand)
            ));
        }
        let rule = parse_at(operand, false, depth + 1, &child_at("Not".to_string()))?;
        return Ok(Condition::Not(Box::new(rule)));
    }
    let rules = match operand.as_array() {
        Some(rules) if !rules.is_empty() => rules,
        Some(_) => {
            return Err(format!(
                "{here}: {name} must be a non-empty array of Choice rules, got []"
            ))
        }
        None => {
            return Err(format!(
                "{here}: {name} must be a non-empty array of Choice rules, got {}",
                type_name(operand)
            ))
        }
    };
    let rules = rules
        .iter()
        .enumerate()
        .map(|(i, rule)| parse_at(rule, false, depth + 1, &child_at(format!("{name}[{i}]"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match kind {
        Field::And => Condition::And(rules),
        _ => Condition::Or(rules),
    })
}

/// Maps a field name to the operator it names, or `None` if it names none.
fn field(name: &str) -> Option<Field> {
    match name {
        "And" => return Some(Field::And),
        "Or" => return Some(Field::Or),
        "Not" => return Some(Field::Not),
        "StringMatches" => return Some(Field::Matches),
        _ => {}
    }
    if let Some(kind) = name.strip_prefix("Is") {
        return Some(Field::Is(match kind {
            "Boolean" => Kind::Boolean,
            "Null" => Kind::Null,
            "Numeric" => Kind::Numeric,
            "Present" => Kind::Present,
            "String" => Kind::String,
            "Timestamp" => Kind::Timestamp,
            _ => return None,
        }));
    }
    let (data, rest) = [
        ("String", DataType::String),
        ("Numeric", DataType::Numeric),
        ("Boolean", DataType::Boolean),
        ("Timestamp", DataType::Timestamp),
    ]
    .into_iter()
    .find_map(|(prefix, data)| name.strip_prefix(prefix).map(|rest| (data, rest)))?;
    let (op_name, is_path) = match rest.strip_suffix("Path") {
        Some(op_name) => (op_name, true),
        None => (rest, false),
    };
    let op = match op_name {
        "Equals" => Op::Equals,
        // Booleans have no order: BooleanEquals(Path) is the only Boolean operator.
        _ if data == DataType::Boolean => return None,
        "LessThan" => Op::LessThan,
        "GreaterThan" => Op::GreaterThan,
        "LessThanEquals" => Op::LessThanEquals,
        "GreaterThanEquals" => Op::GreaterThanEquals,
        _ => return None,
    };
    Some(Field::Compare(data, op, is_path))
}

fn variable(value: Option<&Value>, operator: &str, here: &str) -> Result<String, String> {
    match value {
        Some(Value::String(path)) if path.starts_with('$') => Ok(path.clone()),
        Some(Value::String(path)) => Err(format!(
            "{here}: Variable must be a reference path starting with '$', got \"{path}\""
        )),
        Some(other) => Err(format!(
            "{here}: Variable must be a reference path string, got {}",
            type_name(other)
        )),
        None => Err(format!("{here}: {operator} needs a Variable field")),
    }
}

fn boolean_operand(name: &str, operand: &Value, here: &str) -> Result<bool, String> {
    operand.as_bool().ok_or_else(|| {
        format!(
            "{here}: {name} must be true or false, got {}",
            type_name(operand)
        )
    })
}

fn path_operand(name: &str, operand: &Value, here: &str) -> Result<String, String> {
    match operand.as_str() {
        Some(path) if path.starts_with('$') => Ok(path.to_string()),
        Some(path) => Err(format!(
            "{here}: {name} must be a reference path starting with '$', got \"{path}\""
        )),
        None => Err(format!(
            "{here}: {name} must be a reference path string, got {}",
            type_name(operand)
        )),
    }
}

fn literal_operand(
    name: &str,
    data: DataType,
    operand: &Value,
    here: &str,
) -> Result<Value, String> {
    let fits = match data {
        DataType::String => operand.is_string(),
        DataType::Numeric => operand.is_number(),
        DataType::Boolean => operand.is_boolean(),
        DataType::Timestamp => {
            if let Some(text) = operand.as_str() {
                if parse_timestamp(text).is_none() {
                    return Err(format!(
                        "{here}: {name} must be an RFC 3339 timestamp such as \
                         \"2016-08-18T17:33:00Z\" (uppercase T and Z), got \"{text}\""
                    ));
                }
                true
            } else {
                false
            }
        }
    };
    if fits {
        return Ok(operand.clone());
    }
    let wanted = match data {
        DataType::String => "a string",
        DataType::Numeric => "a number",
        DataType::Boolean => "true or false",
        DataType::Timestamp => "a timestamp string",
    };
    Err(format!(
        "{here}: {name} must be {wanted}, got {}",
        type_name(operand)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::names;
    use serde_json::json;

    /// A small stand-in for the path module: `$`, `$$`, `.name` and `[index]` steps.
    fn lookup(root: &Value, steps: &str) -> Result<Option<Value>, AslError> {
        let mut current = root;
        let mut rest = steps;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                let (name, tail) = after.split_at(end);
                match current.get(name) {
                    Some(next) => current = next,
                    None => return Ok(None),
                }
                rest = tail;
            } else if let Some(after) = rest.strip_prefix('[') {
                let end = after
                    .find(']')
                    .ok_or_else(|| AslError::runtime(format!("bad test path {steps}")))?;
                let index: usize = after[..end]
                    .parse()
                    .map_err(|_| AslError::runtime(format!("bad test path {steps}")))?;
                match current.get(index) {
                    Some(next) => current = next,
                    None => return Ok(None),
                }
                rest = &after[end + 1..];
            } else {
                return Err(AslError::runtime(format!("bad test path {steps}")));
            }
        }
        Ok(Some(current.clone()))
    }

    fn resolver(input: Value, context: Value) -> impl Fn(&str) -> Result<Option<Value>, AslError> {
        move |path: &str| {
            if let Some(steps) = path.strip_prefix("$$") {
                lookup(&context, steps)
            } else if let Some(steps) = path.strip_prefix('$') {
                lookup(&input, steps)
            } else {
                Err(AslError::runtime(format!("bad test path {path}")))
            }
        }
    }

    fn eval(rule: Value, input: Value) -> Result<bool, AslError> {
        let rule = parse_rule(&rule, false).unwrap();
        rule.matches(&resolver(input, json!({})))
    }

    fn check(rule: Value, input: Value) -> bool {
        eval(rule, input).unwrap()
    }

    /// Runs `Choices` the way a Choice state does: the first matching rule's Next.
    fn choose(choices: Value, input: Value) -> Result<Option<String>, AslError> {
        let rules = parse_choices(&choices).unwrap();
        let resolve = resolver(input, json!({}));
        for rule in &rules {
            if rule.matches(&resolve)? {
                return Ok(rule.next().map(str::to_string));
            }
        }
        Ok(None)
    }

    fn parse_error(rule: Value, top_level: bool) -> String {
        parse_rule(&rule, top_level).unwrap_err()
    }

    fn assert_invalid_path(result: Result<bool, AslError>, path: &str) {
        let error = result.unwrap_err();
        assert_eq!(error.error, names::RUNTIME);
        assert_eq!(
            error.cause,
            format!("Invalid path '{path}': The choice state's condition path references an invalid value.")
        );
    }

    /// Binary comparison `op` of `variable` against `value`, both as literal and as Path.
    fn both(op: &str, variable: Value, value: Value) -> (bool, bool) {
        let literal = check(
            json!({"Variable": "$.v", op: value.clone()}),
            json!({"v": variable.clone()}),
        );
        let path_op = format!("{op}Path");
        let path = check(
            json!({"Variable": "$.v", path_op: "$.w"}),
            json!({"v": variable, "w": value}),
        );
        (literal, path)
    }

    /// The values LocalStack's choice-operator tests feed AWS (TYPE_COMPARISONS).
    fn sample_values() -> Vec<Value> {
        vec![
            json!(null),
            json!(0),
            json!(0.0),
            json!(1),
            json!(1.1),
            json!(""),
            json!(" "),
            json!("HelloWorld"),
            json!("2012-10-09T19:00:55"),
            json!("2012-10-09T19:00:55Z"),
            json!("2012-10-09T19:00:55+01:00"),
            json!("2023-02-24"),
            json!([]),
            json!([""]),
            json!({}),
            json!({"A": 0}),
            json!(true),
            json!(false),
        ]
    }

    // --- The docs' examples (state-choice.html) -------------------------------------

    #[test]
    fn docs_choice_state_example_goes_to_value_in_twenties() {
        let choices = json!([
            {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
            {"Variable": "$.value", "NumericEquals": 0, "Next": "ValueIsZero"},
            {"And": [
                {"Variable": "$.value", "NumericGreaterThanEquals": 20},
                {"Variable": "$.value", "NumericLessThan": 30}
            ], "Next": "ValueInTwenties"}
        ]);
        assert_eq!(
            choose(choices.clone(), json!({"type": "Private", "value": 22})).unwrap(),
            Some("ValueInTwenties".to_string())
        );
        assert_eq!(
            choose(choices.clone(), json!({"type": "Public", "value": 22})).unwrap(),
            Some("Public".to_string())
        );
        assert_eq!(
            choose(choices.clone(), json!({"type": "Private", "value": 0})).unwrap(),
            Some("ValueIsZero".to_string())
        );
        assert_eq!(
            choose(choices, json!({"type": "Private", "value": 30})).unwrap(),
            None
        );
    }

    #[test]
    fn docs_choice_state_example_fails_without_type_field() {
        // Docs: "If the state input doesn't contain the $.type field, the execution fails".
        let choices = json!([
            {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"}
        ]);
        let error = choose(choices, json!({"value": 22})).unwrap_err();
        assert_eq!(error.error, names::RUNTIME);
        assert!(error.cause.contains("'$.type'"), "{}", error.cause);
    }

    #[test]
    fn docs_numeric_equals_one() {
        let rule = json!({"Variable": "$.foo", "NumericEquals": 1, "Next": "FirstMatchState"});
        let parsed = parse_rule(&rule, true).unwrap();
        assert_eq!(parsed.next(), Some("FirstMatchState"));
        let resolve = resolver(json!({"foo": 1}), json!({}));
        assert!(parsed.matches(&resolve).unwrap());
        assert!(!parsed
            .matches(&resolver(json!({"foo": 2}), json!({})))
            .unwrap());
    }

    #[test]
    fn docs_string_equals_my_string() {
        let rule = json!({"Variable": "$.foo", "StringEquals": "MyString"});
        assert!(check(rule.clone(), json!({"foo": "MyString"})));
        assert!(!check(rule, json!({"foo": "mystring"})));
    }

    #[test]
    fn docs_string_greater_than_my_string_abc() {
        let rule = json!({"Variable": "$.foo", "StringGreaterThan": "MyStringABC"});
        assert!(check(rule.clone(), json!({"foo": "MyStringABD"})));
        assert!(check(rule.clone(), json!({"foo": "MyStringABCD"})));
        assert!(!check(rule.clone(), json!({"foo": "MyStringABC"})));
        assert!(!check(rule, json!({"foo": "MyString"})));
    }

    #[test]
    fn docs_is_null_possibly_null_value() {
        let rule = json!({"Variable": "$.possiblyNullValue", "IsNull": true});
        assert!(check(rule.clone(), json!({"possiblyNullValue": null})));
        assert!(!check(rule, json!({"possiblyNullValue": 42})));
    }

    #[test]
    fn docs_is_present_guards_string_equals_inside_and() {
        // Docs: StringEquals "is only evaluated when $.keyThatMightNotExist exists because
        // of the preceding IsPresent Choice Rule".
        let rule = json!({"And": [
            {"Variable": "$.keyThatMightNotExist", "IsPresent": true},
            {"Variable": "$.keyThatMightNotExist", "StringEquals": "foo"}
        ]});
        assert!(!check(rule.clone(), json!({})));
        assert!(check(rule.clone(), json!({"keyThatMightNotExist": "foo"})));
        assert!(!check(rule, json!({"keyThatMightNotExist": "bar"})));
    }

    #[test]
    fn docs_string_matches_log_star_txt() {
        let rule = json!({"Variable": "$.foo", "StringMatches": "log-*.txt"});
        assert!(check(rule.clone(), json!({"foo": "log-2024-01-01.txt"})));
        assert!(check(rule.clone(), json!({"foo": "log-.txt"})));
        assert!(!check(rule.clone(), json!({"foo": "log.txt"})));
        assert!(!check(rule.clone(), json!({"foo": "mylog-1.txt"})));
        assert!(!check(rule, json!({"foo": "log-1.txt.gz"})));
    }

    #[test]
    fn docs_timestamp_equals_2001() {
        let rule = json!({"Variable": "$.foo", "TimestampEquals": "2001-01-01T12:00:00Z"});
        assert!(check(rule.clone(), json!({"foo": "2001-01-01T12:00:00Z"})));
        assert!(check(
            rule.clone(),
            json!({"foo": "2001-01-01T12:00:00.000Z"})
        ));
        assert!(check(
            rule.clone(),
            json!({"foo": "2001-01-01T14:00:00+02:00"})
        ));
        assert!(!check(rule, json!({"foo": "2001-01-01T12:00:01Z"})));
    }

    #[test]
    fn docs_string_equals_path_compares_two_input_values() {
        let rule = json!({"Variable": "$.foo", "StringEqualsPath": "$.bar"});
        assert!(check(rule.clone(), json!({"foo": "x", "bar": "x"})));
        assert!(!check(rule, json!({"foo": "x", "bar": "y"})));
    }

    #[test]
    fn spec_string_matches_examples() {
        // States Language spec: foo*.log matches foo23.log, *.log matches zebra.log,
        // foo*.* matches foobar.zebra.
        let matches = |pattern: &str, text: &str| Pattern::parse(pattern).matches(text);
        assert!(matches("foo*.log", "foo23.log"));
        assert!(matches("*.log", "zebra.log"));
        assert!(matches("foo*.*", "foobar.zebra"));
        assert!(!matches("foo*.log", "foo23.txt"));
    }

    // --- String operators ----------------------------------------------------------

    #[test]
    fn string_equals_aws_recorded_cases() {
        // LocalStack's test_string_equals snapshot (recorded against AWS).
        assert_eq!(
            both("StringEquals", json!(" "), json!("     ")),
            (false, false)
        );
        assert_eq!(
            both("StringEquals", json!("\t\n"), json!("\t\r\n")),
            (false, false)
        );
        assert_eq!(
            both("StringEquals", json!("Hello"), json!("Hello")),
            (true, true)
        );
    }

    #[test]
    fn string_equals_is_false_for_every_non_string_variable() {
        for value in sample_values().into_iter().filter(|v| !v.is_string()) {
            let rule = json!({"Variable": "$.v", "StringEquals": "HelloWorld"});
            assert!(!check(rule, json!({"v": value.clone()})), "{value}");
        }
    }

    #[test]
    fn string_greater_than_aws_recorded_cases() {
        for (left, right) in [("", ""), ("A", "A "), ("A", "A\t\n\r"), ("AB", "ABC")] {
            assert_eq!(
                both("StringGreaterThan", json!(left), json!(right)),
                (false, false)
            );
        }
        assert_eq!(
            both("StringGreaterThan", json!("ABC"), json!("AB")),
            (true, true)
        );
    }

    #[test]
    fn string_greater_than_equals_aws_recorded_cases() {
        assert_eq!(
            both("StringGreaterThanEquals", json!(""), json!("")),
            (true, true)
        );
        assert_eq!(
            both("StringGreaterThanEquals", json!("A"), json!("AB")),
            (false, false)
        );
        assert_eq!(
            both("StringGreaterThanEquals", json!("AB"), json!("A")),
            (true, true)
        );
    }

    #[test]
    fn string_less_than_aws_recorded_cases() {
        assert_eq!(both("StringLessThan", json!(""), json!("")), (false, false));
        assert_eq!(
            both("StringLessThan", json!("A"), json!("AB")),
            (true, true)
        );
        assert_eq!(
            both("StringLessThan", json!("AB"), json!("A")),
            (false, false)
        );
    }

    #[test]
    fn string_less_than_equals_aws_recorded_cases() {
        assert_eq!(
            both("StringLessThanEquals", json!(""), json!("")),
            (true, true)
        );
        assert_eq!(
            both("StringLessThanEquals", json!("A"), json!("AB")),
            (true, true)
        );
        assert_eq!(
            both("StringLessThanEquals", json!("AB"), json!("A")),
            (false, false)
        );
    }

    #[test]
    fn string_order_is_case_sensitive_code_unit_order() {
        assert_eq!(both("StringLessThan", json!("Z"), json!("a")), (true, true));
        assert_eq!(both("StringLessThan", json!("B"), json!("a")), (true, true));
        assert_eq!(
            both("StringGreaterThan", json!("é"), json!("z")),
            (true, true)
        );
    }

    #[test]
    fn string_order_follows_java_utf16_not_code_points() {
        // Docs point at Java's String.compareTo: U+1F600 is D83D DE00 in UTF-16, which
        // sorts before U+FFFD although its code point is larger.
        assert_eq!(
            both("StringLessThan", json!("😀"), json!("\u{FFFD}")),
            (true, true)
        );
        assert_eq!(
            both("StringGreaterThan", json!("😀"), json!("\u{D7FF}")),
            (true, true)
        );
    }

    #[test]
    fn timestamps_are_plain_strings_to_string_equals() {
        // Docs: "a field considered to be a timestamp can be matched by a StringEquals".
        let rule = json!({"Variable": "$.t", "StringEquals": "2016-08-18T17:33:00Z"});
        assert!(check(rule.clone(), json!({"t": "2016-08-18T17:33:00Z"})));
        assert!(!check(rule, json!({"t": "2016-08-18T17:33:00.000Z"})));
    }

    #[test]
    fn string_path_operand_of_wrong_type_does_not_match() {
        let rule = json!({"Variable": "$.v", "StringEqualsPath": "$.w"});
        assert!(!check(rule.clone(), json!({"v": "1", "w": 1})));
        assert!(!check(rule, json!({"v": "null", "w": null})));
    }

    // --- StringMatches -------------------------------------------------------------

    #[test]
    fn string_matches_star_alone_matches_everything_including_empty() {
        let rule = json!({"Variable": "$.v", "StringMatches": "*"});
        assert!(check(rule.clone(), json!({"v": ""})));
        assert!(check(rule, json!({"v": "anything at all"})));
    }

    #[test]
    fn string_matches_without_star_is_whole_string_equality() {
        let rule = json!({"Variable": "$.v", "StringMatches": "abc"});
        assert!(check(rule.clone(), json!({"v": "abc"})));
        assert!(!check(rule.clone(), json!({"v": "abcd"})));
        assert!(!check(rule.clone(), json!({"v": "xabc"})));
        let empty = json!({"Variable": "$.v", "StringMatches": ""});
        assert!(check(empty.clone(), json!({"v": ""})));
        assert!(!check(empty, json!({"v": "a"})));
    }

    #[test]
    fn string_matches_escaped_star_is_literal() {
        // JSON "a\\*b" is the pattern a\*b.
        let rule = json!({"Variable": "$.v", "StringMatches": "a\\*b"});
        assert!(check(rule.clone(), json!({"v": "a*b"})));
        assert!(!check(rule, json!({"v": "aXb"})));
    }

    #[test]
    fn string_matches_escaped_backslash_is_literal_and_star_after_it_is_wild() {
        // Pattern a\\* : a literal backslash, then a wildcard.
        let rule = json!({"Variable": "$.v", "StringMatches": "a\\\\*"});
        assert!(check(rule.clone(), json!({"v": "a\\"})));
        assert!(check(rule.clone(), json!({"v": "a\\anything"})));
        assert!(!check(rule, json!({"v": "a*"})));
    }

    #[test]
    fn string_matches_other_backslashes_are_literal() {
        // Pattern C:\temp\x*.log\ : \t, \x and the final \ are literal backslashes.
        let rule = json!({"Variable": "$.v", "StringMatches": "C:\\temp\\x*.log\\"});
        assert!(check(rule.clone(), json!({"v": "C:\\temp\\x1.log\\"})));
        assert!(!check(rule.clone(), json!({"v": "C:temp*.log"})));
        assert!(!check(rule, json!({"v": "C:\\temp\\x1.log"})));
    }

    #[test]
    fn string_matches_no_other_special_characters() {
        let rule = json!({"Variable": "$.v", "StringMatches": "a?b[c].*"});
        assert!(check(rule.clone(), json!({"v": "a?b[c].txt"})));
        assert!(!check(rule, json!({"v": "axbc.txt"})));
    }

    #[test]
    fn string_matches_backtracks_across_several_stars() {
        let rule = json!({"Variable": "$.v", "StringMatches": "a*b*c"});
        assert!(check(rule.clone(), json!({"v": "aXbYbZc"})));
        assert!(check(rule.clone(), json!({"v": "abc"})));
        assert!(!check(rule.clone(), json!({"v": "aXbYbZ"})));
        let many = json!({"Variable": "$.v", "StringMatches": "**x**"});
        assert!(check(many.clone(), json!({"v": "x"})));
        assert!(!check(many, json!({"v": "yyy"})));
    }

    #[test]
    fn string_matches_counts_characters_not_bytes() {
        let rule = json!({"Variable": "$.v", "StringMatches": "ü*ß"});
        assert!(check(rule.clone(), json!({"v": "üß"})));
        assert!(check(rule, json!({"v": "ü😀ß"})));
    }

    #[test]
    fn string_matches_is_false_for_non_strings() {
        let rule = json!({"Variable": "$.v", "StringMatches": "*"});
        for value in sample_values().into_iter().filter(|v| !v.is_string()) {
            assert!(!check(rule.clone(), json!({"v": value.clone()})), "{value}");
        }
    }

    #[test]
    fn string_matches_long_input_is_not_exponential() {
        let text = "a".repeat(5000);
        let rule = json!({"Variable": "$.v", "StringMatches": "*a*a*a*a*a*a*b"});
        assert!(!check(rule, json!({"v": text})));
    }

    // --- Numeric operators ---------------------------------------------------------

    #[test]
    fn numeric_equals_aws_recorded_cases() {
        // LocalStack's test_numeric_equals(_path) snapshots (recorded against AWS).
        for (left, right, expected) in [
            (json!(0), json!(0), true),
            (json!(0), json!(0.0), true),
            (json!(0), json!(1), false),
            (json!(0.0), json!(0), true),
            (json!(1), json!(1.0), true),
            (json!(1.1), json!(1), false),
            (json!(1.1), json!(1.0), false),
            (json!(-0), json!(0), true),
            (json!(2.22), json!(2.22), true),
        ] {
            assert_eq!(
                both("NumericEquals", left.clone(), right.clone()),
                (expected, expected),
                "{left} vs {right}"
            );
        }
    }

    #[test]
    fn numeric_equals_is_false_for_every_non_number_variable() {
        // Recorded against AWS: null, "", " ", [], [""], {}, {"A":0}, false, true never
        // equal 0, 0.0, 1 or 1.0, literal or Path.
        for value in sample_values().into_iter().filter(|v| !v.is_number()) {
            for number in [json!(0), json!(0.0), json!(1), json!(1.0)] {
                assert_eq!(
                    both("NumericEquals", value.clone(), number.clone()),
                    (false, false),
                    "{value} vs {number}"
                );
            }
        }
    }

    #[test]
    fn numeric_order_aws_recorded_cases() {
        // (variable, value) pairs and expected GT, GTE, LT, LTE from the AWS snapshots.
        let cases = [
            (json!(-0), json!(0), [false, true, false, true]),
            (json!(0.0), json!(0), [false, true, false, true]),
            (json!(0), json!(1), [false, false, true, true]),
            (json!(1), json!(1), [false, true, false, true]),
            (json!(1), json!(0), [true, true, false, false]),
        ];
        let ops = [
            "NumericGreaterThan",
            "NumericGreaterThanEquals",
            "NumericLessThan",
            "NumericLessThanEquals",
        ];
        for (left, right, expected) in cases {
            for (op, want) in ops.iter().zip(expected) {
                assert_eq!(
                    both(op, left.clone(), right.clone()),
                    (want, want),
                    "{op} {left} {right}"
                );
            }
        }
    }

    #[test]
    fn numeric_compares_negatives_fractions_and_large_integers() {
        assert_eq!(
            both("NumericLessThan", json!(-5), json!(-4.5)),
            (true, true)
        );
        assert_eq!(
            both("NumericGreaterThan", json!(0.30000000000000004), json!(0.3)),
            (true, true)
        );
        assert_eq!(
            both("NumericEquals", json!(u64::MAX), json!(u64::MAX)),
            (true, true)
        );
        assert_eq!(
            both("NumericGreaterThan", json!(u64::MAX), json!(i64::MAX)),
            (true, true)
        );
        assert_eq!(
            both("NumericLessThan", json!(i64::MIN), json!(-1)),
            (true, true)
        );
        // Integers beyond 2^53 still compare exactly with each other (the docs only
        // promise binary64 precision, so this is a choice, not a requirement).
        assert_eq!(
            both(
                "NumericEquals",
                json!(9_007_199_254_740_993_i64),
                json!(9_007_199_254_740_992_i64)
            ),
            (false, false)
        );
        assert_eq!(both("NumericEquals", json!(1e3), json!(1000)), (true, true));
    }

    #[test]
    fn numeric_ordering_is_false_for_strings_that_look_like_numbers() {
        assert_eq!(
            both("NumericGreaterThan", json!("10"), json!(1)),
            (false, false)
        );
        assert_eq!(
            both("NumericLessThanEquals", json!(true), json!(1)),
            (false, false)
        );
        assert!(!check(
            json!({"Variable": "$.v", "NumericLessThanPath": "$.w"}),
            json!({"v": 1, "w": "2"})
        ));
    }

    // --- Boolean -------------------------------------------------------------------

    #[test]
    fn boolean_equals_aws_recorded_cases() {
        // LocalStack's test_boolean_equals(_path) snapshots: only booleans ever match.
        for value in sample_values() {
            for wanted in [true, false] {
                let expected = value.as_bool() == Some(wanted);
                assert_eq!(
                    both("BooleanEquals", value.clone(), json!(wanted)),
                    (expected, expected),
                    "{value} vs {wanted}"
                );
            }
        }
    }

    #[test]
    fn boolean_equals_does_not_coerce_strings_or_numbers() {
        assert_eq!(
            both("BooleanEquals", json!("true"), json!(true)),
            (false, false)
        );
        assert_eq!(both("BooleanEquals", json!(1), json!(true)), (false, false));
        assert_eq!(
            both("BooleanEquals", json!(0), json!(false)),
            (false, false)
        );
    }

    #[test]
    fn boolean_equals_path_to_non_boolean_does_not_match() {
        let rule = json!({"Variable": "$.v", "BooleanEqualsPath": "$.w"});
        assert!(!check(rule, json!({"v": true, "w": "true"})));
    }

    // --- Timestamps ----------------------------------------------------------------

    #[test]
    fn timestamp_operators_aws_recorded_cases() {
        // LocalStack's test_timestamp_* snapshots: T0 = ...:55Z, T1 = ...:56Z.
        let t0 = json!("2012-10-09T19:00:55Z");
        let t1 = json!("2012-10-09T19:00:56Z");
        let table = [
            ("TimestampEquals", [true, false, false]),
            ("TimestampGreaterThan", [false, false, true]),
            ("TimestampGreaterThanEquals", [true, false, true]),
            ("TimestampLessThan", [false, true, false]),
            ("TimestampLessThanEquals", [true, true, false]),
        ];
        for (op, expected) in table {
            let pairs = [(&t0, &t0), (&t0, &t1), (&t1, &t0)];
            for ((left, right), want) in pairs.into_iter().zip(expected) {
                assert_eq!(
                    both(op, left.clone(), right.clone()),
                    (want, want),
                    "{op} {left} {right}"
                );
            }
        }
    }

    #[test]
    fn timestamp_equals_is_false_for_non_timestamps() {
        // Recorded against AWS: none of these equal T0, including a space-separated one.
        let rule = json!({"Variable": "$.v", "TimestampEquals": "2012-10-09T19:00:55Z"});
        for value in [
            json!(null),
            json!(0),
            json!(1.1),
            json!(""),
            json!(" "),
            json!("2023-02-24 12:15:56.832957"),
            json!([]),
            json!({}),
            json!(true),
            json!("2012-10-09T19:00:55"),
            json!("2012-10-09t19:00:55z"),
        ] {
            assert!(!check(rule.clone(), json!({"v": value.clone()})), "{value}");
        }
    }

    #[test]
    fn timestamps_compare_as_instants_across_offsets() {
        assert_eq!(
            both(
                "TimestampEquals",
                json!("2025-01-01T07:00:00.000-05:00"),
                json!("2025-01-01T12:00:00Z")
            ),
            (true, true)
        );
        assert_eq!(
            both(
                "TimestampLessThan",
                json!("2025-01-01T23:30:00-01:00"),
                json!("2025-01-02T00:00:00Z")
            ),
            (false, false)
        );
        assert_eq!(
            both(
                "TimestampGreaterThan",
                json!("2025-01-01T23:30:00-01:00"),
                json!("2025-01-02T00:00:00Z")
            ),
            (true, true)
        );
        assert_eq!(
            both(
                "TimestampEquals",
                json!("2025-01-01T00:00:00+00:00"),
                json!("2025-01-01T00:00:00-00:00")
            ),
            (true, true)
        );
    }

    #[test]
    fn timestamps_compare_fractional_seconds() {
        assert_eq!(
            both(
                "TimestampLessThan",
                json!("2016-08-18T17:33:00.1Z"),
                json!("2016-08-18T17:33:00.10000001Z")
            ),
            (true, true)
        );
        assert_eq!(
            both(
                "TimestampEquals",
                json!("2016-08-18T17:33:00.5Z"),
                json!("2016-08-18T17:33:00.500000000Z")
            ),
            (true, true)
        );
        assert_eq!(
            both(
                "TimestampGreaterThanEquals",
                json!("2016-08-18T17:33:00Z"),
                json!("2016-08-18T17:32:59.999999999Z")
            ),
            (true, true)
        );
    }

    #[test]
    fn timestamp_path_operand_that_is_not_a_timestamp_does_not_match() {
        let rule = json!({"Variable": "$.v", "TimestampEqualsPath": "$.w"});
        assert!(!check(
            rule.clone(),
            json!({"v": "2025-01-01T00:00:00Z", "w": "not-a-timestamp"})
        ));
        assert!(!check(
            rule,
            json!({"v": "2025-01-01T00:00:00Z", "w": 1735689600})
        ));
    }

    #[test]
    fn parse_timestamp_accepts_the_rfc3339_profile() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:01.5Z"),
            Some(1_500_000_000)
        );
        assert_eq!(
            parse_timestamp("1969-12-31T23:59:59Z"),
            Some(-1_000_000_000)
        );
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(
            parse_timestamp("2016-03-14T01:59:00Z"),
            Some(1_457_920_740 * 1_000_000_000)
        );
        assert!(parse_timestamp("2000-02-29T00:00:00Z").is_some());
        assert!(parse_timestamp("2024-02-29T23:59:59.123456789+14:00").is_some());
        assert!(parse_timestamp("0001-01-01T00:00:00Z").is_some());
        assert!(parse_timestamp("9999-12-31T23:59:59Z").is_some());
    }

    #[test]
    fn parse_timestamp_rejects_everything_else() {
        for text in [
            "",
            "2016-03-14",
            "2016-03-14T01:59:00",
            "2016-03-14t01:59:00Z",
            "2016-03-14T01:59:00z",
            "2016-03-14 01:59:00Z",
            "2016-03-14T01:59Z",
            "2016-03-14T01:59:00.Z",
            "2016-03-14T01:59:00.1234567890Z",
            "2016-03-14T01:59:00+0100",
            "2016-03-14T01:59:00+01",
            "2016-03-14T01:59:00+24:00",
            "2016-03-14T01:59:00+01:60",
            "2016-03-14T01:59:00ZZ",
            "2016-03-14T01:59:00Z ",
            " 2016-03-14T01:59:00Z",
            "2016-13-14T01:59:00Z",
            "2016-00-14T01:59:00Z",
            "2016-03-00T01:59:00Z",
            "2015-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2016-04-31T00:00:00Z",
            "2016-03-14T24:00:00Z",
            "2016-03-14T23:60:00Z",
            "2016-12-31T23:59:60Z",
            "16-03-14T01:59:00Z",
            "+2016-03-14T01:59:00Z",
            "2016-03-14T01:59:00%3A00Z",
            "2025-01-01T00%3A00%3A00Z",
            "２０１６-03-14T01:59:00Z",
        ] {
            assert_eq!(parse_timestamp(text), None, "{text:?}");
        }
    }

    // --- Type tests (Is*) ----------------------------------------------------------

    fn is_table(op: &str, holds: impl Fn(&Value) -> bool) {
        for value in sample_values() {
            for wanted in [true, false] {
                let rule = json!({"Variable": "$.v", op: wanted});
                assert_eq!(
                    check(rule, json!({"v": value.clone()})),
                    holds(&value) == wanted,
                    "{op} {wanted} on {value}"
                );
            }
        }
    }

    #[test]
    fn is_boolean_aws_recorded_cases() {
        is_table("IsBoolean", Value::is_boolean);
    }

    #[test]
    fn is_null_aws_recorded_cases() {
        is_table("IsNull", Value::is_null);
    }

    #[test]
    fn is_numeric_aws_recorded_cases() {
        is_table("IsNumeric", Value::is_number);
    }

    #[test]
    fn is_string_aws_recorded_cases() {
        is_table("IsString", Value::is_string);
    }

    #[test]
    fn is_present_aws_recorded_cases() {
        // Every value that exists is present, null included.
        is_table("IsPresent", |_| true);
    }

    #[test]
    fn is_timestamp_table() {
        is_table("IsTimestamp", |value| {
            matches!(
                value.as_str(),
                Some("2012-10-09T19:00:55Z" | "2012-10-09T19:00:55+01:00")
            )
        });
    }

    #[test]
    fn is_present_on_missing_variable_is_an_answer_not_an_error() {
        assert!(!check(
            json!({"Variable": "$.missing", "IsPresent": true}),
            json!({})
        ));
        assert!(check(
            json!({"Variable": "$.missing", "IsPresent": false}),
            json!({})
        ));
        assert!(check(
            json!({"Variable": "$.a.b[3]", "IsPresent": false}),
            json!({"a": {"b": [1]}})
        ));
        assert!(check(
            json!({"Variable": "$.a", "IsPresent": true}),
            json!({"a": null})
        ));
    }

    #[test]
    fn is_present_negated_with_not() {
        let rule = json!({"Not": {"Variable": "$.x", "IsPresent": true}});
        assert!(check(rule.clone(), json!({})));
        assert!(!check(rule, json!({"x": 0})));
    }

    // --- Missing paths -------------------------------------------------------------

    #[test]
    fn missing_variable_fails_every_operator_but_is_present() {
        let operators = [
            json!({"IsNull": true}),
            json!({"IsBoolean": false}),
            json!({"IsNumeric": false}),
            json!({"IsString": false}),
            json!({"IsTimestamp": false}),
            json!({"StringMatches": "*"}),
            json!({"StringEquals": "x"}),
            json!({"StringLessThan": "x"}),
            json!({"StringGreaterThanEqualsPath": "$.other"}),
            json!({"NumericEquals": 1}),
            json!({"NumericGreaterThanPath": "$.other"}),
            json!({"BooleanEquals": true}),
            json!({"BooleanEqualsPath": "$.other"}),
            json!({"TimestampLessThanEquals": "2001-01-01T00:00:00Z"}),
            json!({"TimestampEqualsPath": "$.other"}),
        ];
        for operator in operators {
            let mut rule = operator.as_object().unwrap().clone();
            rule.insert("Variable".to_string(), json!("$.missing"));
            let result = eval(Value::Object(rule), json!({"other": "x"}));
            assert_invalid_path(result, "$.missing");
        }
    }

    #[test]
    fn missing_path_operand_is_a_runtime_error_naming_it() {
        for op in [
            "StringEqualsPath",
            "NumericLessThanPath",
            "BooleanEqualsPath",
            "TimestampGreaterThanPath",
        ] {
            let result = eval(
                json!({"Variable": "$.left", op: "$.right"}),
                json!({"left": 1}),
            );
            assert_invalid_path(result, "$.right");
        }
    }

    #[test]
    fn missing_path_operand_fails_even_when_variable_has_the_wrong_type() {
        let result = eval(
            json!({"Variable": "$.left", "NumericEqualsPath": "$.right"}),
            json!({"left": "text"}),
        );
        assert_invalid_path(result, "$.right");
    }

    #[test]
    fn missing_nested_variable_fails_inside_not_and_or() {
        assert_invalid_path(
            eval(
                json!({"Not": {"Variable": "$.a.b", "NumericEquals": 1}}),
                json!({"a": {}}),
            ),
            "$.a.b",
        );
        assert_invalid_path(
            eval(
                json!({"Or": [{"Variable": "$.x", "BooleanEquals": false}, {"Variable": "$.y", "BooleanEquals": true}]}),
                json!({"x": true}),
            ),
            "$.y",
        );
    }

    #[test]
    fn resolver_errors_pass_through_unchanged() {
        let rule = parse_rule(&json!({"Variable": "$.x", "IsPresent": true}), false).unwrap();
        let failing = |_: &str| -> Result<Option<Value>, AslError> {
            Err(AslError::new(names::INTRINSIC_FAILURE, "boom"))
        };
        let error = rule.matches(&failing).unwrap_err();
        assert_eq!(error, AslError::new(names::INTRINSIC_FAILURE, "boom"));
    }

    // --- Context object and nesting -------------------------------------------------

    #[test]
    fn context_object_paths_are_resolved_through_the_resolver() {
        let rule = parse_rule(
            &json!({"Variable": "$$.State.RetryCount", "NumericLessThanPath": "$.maxRetries"}),
            false,
        )
        .unwrap();
        let resolve = resolver(
            json!({"maxRetries": 3}),
            json!({"State": {"RetryCount": 2}}),
        );
        assert!(rule.matches(&resolve).unwrap());
        let resolve = resolver(
            json!({"maxRetries": 3}),
            json!({"State": {"RetryCount": 3}}),
        );
        assert!(!rule.matches(&resolve).unwrap());
    }

    #[test]
    fn variable_can_select_the_whole_input_or_array_items() {
        assert!(check(
            json!({"Variable": "$", "IsString": true}),
            json!("whole")
        ));
        assert!(check(
            json!({"Variable": "$.items[1]", "NumericEquals": 2}),
            json!({"items": [1, 2]})
        ));
        assert!(check(
            json!({"Variable": "$.items", "IsPresent": true}),
            json!({"items": []})
        ));
    }

    #[test]
    fn and_or_not_combine() {
        let rule = json!({"Or": [
            {"And": [
                {"Variable": "$.n", "NumericGreaterThan": 0},
                {"Not": {"Variable": "$.s", "StringEquals": "skip"}}
            ]},
            {"Variable": "$.force", "BooleanEquals": true}
        ]});
        assert!(check(
            rule.clone(),
            json!({"n": 1, "s": "go", "force": false})
        ));
        assert!(!check(
            rule.clone(),
            json!({"n": 1, "s": "skip", "force": false})
        ));
        assert!(check(
            rule.clone(),
            json!({"n": 0, "s": "skip", "force": true})
        ));
        assert!(!check(rule, json!({"n": 0, "s": "go", "force": false})));
    }

    #[test]
    fn double_not_is_identity() {
        let rule = json!({"Not": {"Not": {"Variable": "$.v", "IsNumeric": true}}});
        assert!(check(rule.clone(), json!({"v": 1})));
        assert!(!check(rule, json!({"v": "1"})));
    }

    #[test]
    fn and_stops_at_the_first_false_rule() {
        let rule = json!({"And": [
            {"Variable": "$.a", "BooleanEquals": true},
            {"Variable": "$.missing", "BooleanEquals": true}
        ]});
        assert!(!check(rule.clone(), json!({"a": false})));
        assert_invalid_path(eval(rule, json!({"a": true})), "$.missing");
    }

    #[test]
    fn or_stops_at_the_first_true_rule() {
        let rule = json!({"Or": [
            {"Variable": "$.a", "BooleanEquals": true},
            {"Variable": "$.missing", "BooleanEquals": true}
        ]});
        assert!(check(rule.clone(), json!({"a": true})));
        assert_invalid_path(eval(rule, json!({"a": false})), "$.missing");
    }

    #[test]
    fn single_element_and_or() {
        let and = json!({"And": [{"Variable": "$.v", "IsNull": true}]});
        let or = json!({"Or": [{"Variable": "$.v", "IsNull": true}]});
        assert!(check(and.clone(), json!({"v": null})));
        assert!(check(or.clone(), json!({"v": null})));
        assert!(!check(and, json!({"v": 1})));
        assert!(!check(or, json!({"v": 1})));
    }

    fn nest_nots(levels: usize) -> Value {
        let mut rule = json!({"Variable": "$.v", "BooleanEquals": true});
        for _ in 0..levels {
            rule = json!({"Not": rule});
        }
        rule
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        let rule = nest_nots(MAX_NESTING);
        assert!(check(rule, json!({"v": true})));
    }

    #[test]
    fn nesting_past_the_limit_is_a_parse_error() {
        let message = parse_error(nest_nots(MAX_NESTING + 1), false);
        assert!(message.contains("more than 64 levels"), "{message}");
        let mut deep = json!({"Variable": "$.v", "BooleanEquals": true});
        // serde_json's parser stops at 128 levels, so definitions never nest deeper.
        for _ in 0..120 {
            deep = json!({"And": [deep]});
        }
        assert!(parse_error(deep, false).contains("more than 64 levels"));
    }

    // --- Top-level fields ------------------------------------------------------------

    #[test]
    fn next_and_assign_are_read_from_top_level_rules() {
        let rule = parse_rule(
            &json!({"Variable": "$.v", "IsNull": false, "Next": "Go", "Comment": "why",
                    "Assign": {"seen.$": "$.v"}}),
            true,
        )
        .unwrap();
        assert_eq!(rule.next(), Some("Go"));
        assert_eq!(rule.assign(), Some(&json!({"seen.$": "$.v"})));
        let nested = parse_rule(&json!({"Variable": "$.v", "IsNull": false}), false).unwrap();
        assert_eq!(nested.next(), None);
        assert_eq!(nested.assign(), None);
    }

    #[test]
    fn comments_are_allowed_at_every_level() {
        let rule = json!({"Comment": "top", "And": [
            {"Comment": "nested", "Variable": "$.v", "IsPresent": true}
        ], "Next": "X"});
        assert!(parse_rule(&rule, true).is_ok());
    }

    #[test]
    fn parse_choices_reads_every_rule() {
        let rules = parse_choices(&json!([
            {"Variable": "$.a", "IsPresent": true, "Next": "A"},
            {"Variable": "$.b", "IsPresent": true, "Next": "B"}
        ]))
        .unwrap();
        let nexts: Vec<_> = rules.iter().map(Rule::next).collect();
        assert_eq!(nexts, [Some("A"), Some("B")]);
    }

    #[test]
    fn parse_choices_rejects_empty_and_non_arrays_and_locates_bad_rules() {
        assert!(parse_choices(&json!([])).unwrap_err().contains("non-empty"));
        assert!(parse_choices(&json!({}))
            .unwrap_err()
            .contains("non-empty array"));
        let message = parse_choices(&json!([
            {"Variable": "$.a", "IsPresent": true, "Next": "A"},
            {"Variable": "$.b", "IsPresent": true}
        ]))
        .unwrap_err();
        assert!(message.starts_with("Choice rule Choices[1]:"), "{message}");
        assert!(message.contains("Next"), "{message}");
    }

    #[test]
    fn every_choice_rule_of_the_project_state_machine_parses() {
        let definition: Value = serde_json::from_str(include_str!(
            "../../../statemachine/ensemble-training.asl.json"
        ))
        .unwrap();
        fn walk(node: &Value, found: &mut usize) {
            match node {
                Value::Object(object) => {
                    if object.get("Type") == Some(&json!("Choice")) {
                        let rules = parse_choices(&object["Choices"]).unwrap();
                        *found += rules.len();
                    }
                    object.values().for_each(|child| walk(child, found));
                }
                Value::Array(items) => items.iter().for_each(|child| walk(child, found)),
                _ => {}
            }
        }
        let mut found = 0;
        walk(&definition, &mut found);
        assert!(found >= 4, "found {found} Choice rules");
    }

    // --- Parse errors ----------------------------------------------------------------

    #[test]
    fn rejects_a_rule_that_is_not_an_object() {
        assert!(parse_error(json!("StringEquals"), false)
            .contains("must be a JSON object, got a string"));
        assert!(parse_error(json!([]), true).contains("got an array"));
    }

    #[test]
    fn rejects_a_rule_without_operator() {
        let message = parse_error(json!({"Variable": "$.v", "Next": "X"}), true);
        assert!(message.contains("no comparison operator"), "{message}");
        assert!(parse_error(json!({}), false).contains("no comparison operator"));
    }

    #[test]
    fn rejects_two_operators() {
        let message = parse_error(
            json!({"Variable": "$.v", "StringEquals": "a", "StringMatches": "a*"}),
            false,
        );
        assert!(message.contains("exactly one operator"), "{message}");
        assert!(
            message.contains("StringEquals") && message.contains("StringMatches"),
            "{message}"
        );
        let message = parse_error(json!({"And": [], "Or": []}), false);
        assert!(message.contains("exactly one operator"), "{message}");
    }

    #[test]
    fn rejects_unknown_fields_and_operators() {
        for name in [
            "Foo",
            "StringEqual",
            "BooleanLessThan",
            "BooleanGreaterThanEqualsPath",
            "StringMatchesPath",
            "IsPresentPath",
            "IsArray",
            "NumericEqualsPathPath",
            "numericEquals",
            "Variables",
        ] {
            let message = parse_error(json!({"Variable": "$.v", name: 1}), false);
            assert_eq!(message, format!("Choice rule: unknown field '{name}'"));
        }
    }

    #[test]
    fn rejects_jsonata_condition() {
        let message = parse_error(json!({"Condition": "{% $x = 1 %}", "Next": "X"}), true);
        assert!(message.contains("JSONata"), "{message}");
    }

    #[test]
    fn rejects_missing_or_malformed_variable() {
        let message = parse_error(json!({"StringEquals": "a"}), false);
        assert_eq!(message, "Choice rule: StringEquals needs a Variable field");
        let message = parse_error(json!({"Variable": 3, "IsNull": true}), false);
        assert!(
            message.contains("Variable must be a reference path string, got a number"),
            "{message}"
        );
        let message = parse_error(json!({"Variable": "foo", "IsNull": true}), false);
        assert!(
            message.contains("starting with '$'") && message.contains("\"foo\""),
            "{message}"
        );
    }

    #[test]
    fn rejects_variable_on_and_or_not() {
        for op in ["And", "Or"] {
            let message = parse_error(
                json!({"Variable": "$.v", op: [{"Variable": "$.v", "IsNull": true}]}),
                false,
            );
            assert!(
                message.contains(&format!("{op} combines other rules")),
                "{message}"
            );
        }
        let message = parse_error(
            json!({"Variable": "$.v", "Not": {"Variable": "$.v", "IsNull": true}}),
            false,
        );
        assert!(message.contains("Not combines other rules"), "{message}");
    }

    #[test]
    fn rejects_operands_of_the_wrong_type() {
        let cases = [
            (
                json!({"StringEquals": 1}),
                "StringEquals must be a string, got a number",
            ),
            (
                json!({"StringLessThanEquals": null}),
                "StringLessThanEquals must be a string, got null",
            ),
            (
                json!({"StringMatches": ["a"]}),
                "StringMatches must be a string pattern, got an array",
            ),
            (
                json!({"NumericEquals": "1"}),
                "NumericEquals must be a number, got a string",
            ),
            (
                json!({"NumericGreaterThan": true}),
                "NumericGreaterThan must be a number, got a boolean",
            ),
            (
                json!({"BooleanEquals": "true"}),
                "BooleanEquals must be true or false, got a string",
            ),
            (
                json!({"IsNull": "yes"}),
                "IsNull must be true or false, got a string",
            ),
            (
                json!({"IsPresent": 1}),
                "IsPresent must be true or false, got a number",
            ),
            (
                json!({"IsTimestamp": null}),
                "IsTimestamp must be true or false, got null",
            ),
            (
                json!({"TimestampEquals": 978350400}),
                "TimestampEquals must be a timestamp string, got a number",
            ),
            (
                json!({"NumericEqualsPath": 5}),
                "NumericEqualsPath must be a reference path string, got a number",
            ),
            (
                json!({"BooleanEqualsPath": true}),
                "BooleanEqualsPath must be a reference path string, got a boolean",
            ),
        ];
        for (operator, expected) in cases {
            let mut rule = operator.as_object().unwrap().clone();
            rule.insert("Variable".to_string(), json!("$.v"));
            let message = parse_error(Value::Object(rule), false);
            assert_eq!(message, format!("Choice rule: {expected}"));
        }
    }

    #[test]
    fn rejects_path_operands_that_are_not_paths() {
        let message = parse_error(json!({"Variable": "$.v", "StringEqualsPath": "bar"}), false);
        assert!(
            message.contains(
                "StringEqualsPath must be a reference path starting with '$', got \"bar\""
            ),
            "{message}"
        );
    }

    #[test]
    fn rejects_timestamp_literals_outside_the_profile() {
        for text in [
            "2001-01-01",
            "2001-01-01T12:00:00",
            "2001-01-01t12:00:00Z",
            "2001-01-01T12:00:00z",
            "2001-02-30T12:00:00Z",
        ] {
            let message = parse_error(
                json!({"Variable": "$.v", "TimestampGreaterThan": text}),
                false,
            );
            assert!(
                message.contains("RFC 3339") && message.contains(text),
                "{message}"
            );
        }
    }

    #[test]
    fn next_is_required_at_top_level_and_must_be_a_string() {
        let message = parse_error(json!({"Variable": "$.v", "IsNull": true}), true);
        assert_eq!(
            message,
            "Choice rule: a top-level Choice rule needs a Next field"
        );
        let message = parse_error(json!({"Variable": "$.v", "IsNull": true, "Next": 1}), true);
        assert!(message.contains("Next must be a string"), "{message}");
    }

    #[test]
    fn next_is_forbidden_in_nested_rules_and_located() {
        let message = parse_error(
            json!({"And": [
                {"Variable": "$.a", "IsNull": true},
                {"Not": {"Variable": "$.b", "IsNull": true, "Next": "X"}}
            ], "Next": "Y"}),
            true,
        );
        assert!(
            message.starts_with("Choice rule And[1].Not: Next is only allowed"),
            "{message}"
        );
        let message = parse_error(
            json!({"Variable": "$.v", "IsNull": true, "Next": "X"}),
            false,
        );
        assert!(
            message.contains("Next is only allowed on a top-level"),
            "{message}"
        );
    }

    #[test]
    fn assign_is_top_level_only_and_an_object() {
        let message = parse_error(
            json!({"Variable": "$.v", "IsNull": true, "Assign": {"a": 1}}),
            false,
        );
        assert!(
            message.contains("Assign is only allowed on a top-level"),
            "{message}"
        );
        let message = parse_error(
            json!({"Variable": "$.v", "IsNull": true, "Assign": 1, "Next": "X"}),
            true,
        );
        assert!(message.contains("Assign must be an object"), "{message}");
    }

    #[test]
    fn rejects_empty_or_malformed_and_or() {
        for op in ["And", "Or"] {
            let message = parse_error(json!({op: [], "Next": "X"}), true);
            assert_eq!(
                message,
                format!("Choice rule: {op} must be a non-empty array of Choice rules, got []")
            );
            let message = parse_error(json!({op: {"Variable": "$.v", "IsNull": true}}), false);
            assert!(message.contains("got an object"), "{message}");
            let message = parse_error(json!({op: ["x"]}), false);
            assert!(
                message.starts_with(&format!(
                    "Choice rule {op}[0]: a Choice rule must be a JSON object"
                )),
                "{message}"
            );
        }
    }

    #[test]
    fn rejects_not_that_is_not_a_single_rule() {
        let message = parse_error(json!({"Not": [{"Variable": "$.v", "IsNull": true}]}), false);
        assert_eq!(
            message,
            "Choice rule: Not must be a single Choice rule object, got an array"
        );
        let message = parse_error(json!({"Not": {}}), false);
        assert!(
            message.starts_with("Choice rule Not: no comparison operator"),
            "{message}"
        );
    }

    #[test]
    fn rejects_comment_that_is_not_a_string() {
        let message = parse_error(
            json!({"Variable": "$.v", "IsNull": true, "Comment": 1}),
            false,
        );
        assert_eq!(
            message,
            "Choice rule: Comment must be a string, got a number"
        );
    }

    #[test]
    fn nested_errors_name_their_location() {
        let message = parse_error(
            json!({"Or": [
                {"Variable": "$.a", "IsNull": true},
                {"And": [{"Variable": "$.b", "NumericEquals": "x"}]}
            ]}),
            false,
        );
        assert_eq!(
            message,
            "Choice rule Or[1].And[0]: NumericEquals must be a number, got a string"
        );
    }

    #[test]
    fn rules_describe_themselves_in_a_few_words() {
        let describe = |rule: serde_json::Value| parse_rule(&rule, false).unwrap().describe();
        assert_eq!(
            describe(json!({"Variable": "$.generated.copy.done", "BooleanEquals": false})),
            "copy.done == false"
        );
        assert_eq!(
            describe(json!({"Variable": "$.a", "NumericGreaterThanPath": "$.limits.max"})),
            "a > limits.max"
        );
        assert_eq!(
            describe(json!({"Not": {"Variable": "$.x", "IsPresent": true}})),
            "not (x is present)"
        );
        assert_eq!(
            describe(json!({"And": [
                {"Variable": "$.n", "IsNumeric": false},
                {"Or": [{"Variable": "$.s", "StringMatches": "a*\\*"},
                        {"Variable": "$.s", "StringEquals": "b"}]}]})),
            "n is not a number and (s matches \"a*\\*\" or s == \"b\")"
        );
    }
}
