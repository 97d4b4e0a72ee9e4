//! What an execution would have cost on AWS: state transitions of a Standard
//! workflow, Lambda requests and GB-seconds (x86_64, the template's architecture),
//! and SageMaker training and batch-transform instance time, at on-demand prices.
//!
//! The prices come from a table with the address of every figure and the date it
//! was read (`local/prices/aws-us-east-1.json`, shipped in the binary), or from a
//! user's own table of the same shape. Nothing is guessed: an instance type the
//! table does not list is reported as unpriced and left out of the total.
//!
//! The runner maps its own records (Lambda invocations, SageMaker jobs) into the
//! plain [`Usage`] structs, so this module depends on no integration.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The shipped table. Parsed once, on first use; a parse failure is a bug in the
/// file, which a unit test catches.
const BUILTIN_JSON: &str = include_str!("../prices/aws-us-east-1.json");
const BUILTIN_ORIGIN: &str = "local/prices/aws-us-east-1.json";

/// On-demand prices of one region, with where they came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    pub region: String,
    /// ISO code of the prices' currency (`USD`).
    pub currency: String,
    /// YYYY-MM-DD: when the prices were read from their sources.
    pub retrieved: String,
    pub sources: Sources,
    pub step_functions: StepFunctionsPrices,
    pub lambda: LambdaPrices,
    pub sagemaker: SageMakerPrices,
    /// Where each figure came from, by field (`lambda.per_request`, ...): free text
    /// for the reader who checks or updates the table.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub provenance: BTreeMap<String, String>,
}

/// One address per service, printed under every estimate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    pub step_functions: String,
    pub lambda: String,
    pub sagemaker: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepFunctionsPrices {
    /// Price of one state transition of a Standard workflow (retries included).
    pub standard_per_transition: f64,
    /// What the free tier is, for the estimate's note (it is never deducted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_tier_note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaPrices {
    pub per_request: f64,
    /// First pricing tier of x86_64 duration.
    pub per_gb_second_x86_64: f64,
}

/// Hourly on-demand prices per instance type. Transform prices are kept apart from
/// training ones: AWS prices them separately, and one is never used for the other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SageMakerPrices {
    pub training: BTreeMap<String, f64>,
    pub transform: BTreeMap<String, f64>,
}

/// Why a price table could not be used. Every message names its origin (the file),
/// and a field error names the field as a path (`lambda.per_request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceTableError {
    /// The file could not be read.
    Read { origin: String, message: String },
    /// The text is not JSON.
    Syntax { origin: String, message: String },
    /// A field is missing, unknown, of the wrong type, or out of range.
    Field {
        origin: String,
        field: String,
        problem: String,
    },
}

impl fmt::Display for PriceTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PriceTableError::Read { origin, message } => {
                write!(f, "{origin}: cannot read the price table: {message}")
            }
            PriceTableError::Syntax { origin, message } => {
                write!(f, "{origin}: the price table is not valid JSON: {message}")
            }
            PriceTableError::Field {
                origin,
                field,
                problem,
            } => write!(f, "{origin}: field `{field}`: {problem}"),
        }
    }
}

impl std::error::Error for PriceTableError {}

impl PriceTable {
    /// The table shipped with sfn-local (us-east-1).
    pub fn builtin() -> Result<&'static PriceTable, PriceTableError> {
        static BUILTIN: OnceLock<Result<PriceTable, PriceTableError>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| PriceTable::parse(BUILTIN_JSON, BUILTIN_ORIGIN))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// A user's own table, of the same shape as the builtin one.
    pub fn from_file(path: impl AsRef<Path>) -> Result<PriceTable, PriceTableError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PriceTableError::Read {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        PriceTable::parse(&text, &origin)
    }

    /// Parses and checks a table; `origin` names it in errors. The fields are
    /// walked by hand rather than through serde so that an error names the whole
    /// path of the field, not just its last key.
    pub fn parse(text: &str, origin: &str) -> Result<PriceTable, PriceTableError> {
        let value: Value = serde_json::from_str(text).map_err(|e| PriceTableError::Syntax {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        let top = Obj::root(origin, &value)?;
        top.only(&[
            "region",
            "currency",
            "retrieved",
            "sources",
            "step_functions",
            "lambda",
            "sagemaker",
            "provenance",
        ])?;

        let sources = top.object("sources")?;
        sources.only(&["step_functions", "lambda", "sagemaker"])?;
        let step_functions = top.object("step_functions")?;
        step_functions.only(&["standard_per_transition", "free_tier_note"])?;
        let lambda = top.object("lambda")?;
        lambda.only(&["per_request", "per_gb_second_x86_64"])?;
        let sagemaker = top.object("sagemaker")?;
        sagemaker.only(&["training", "transform"])?;

        Ok(PriceTable {
            region: top.text("region")?,
            currency: top.text("currency")?,
            retrieved: top.date("retrieved")?,
            sources: Sources {
                step_functions: sources.text("step_functions")?,
                lambda: sources.text("lambda")?,
                sagemaker: sources.text("sagemaker")?,
            },
            step_functions: StepFunctionsPrices {
                standard_per_transition: step_functions.price("standard_per_transition")?,
                free_tier_note: step_functions.optional_text("free_tier_note")?,
            },
            lambda: LambdaPrices {
                per_request: lambda.price("per_request")?,
                per_gb_second_x86_64: lambda.price("per_gb_second_x86_64")?,
            },
            sagemaker: SageMakerPrices {
                training: sagemaker.prices("training")?,
                transform: sagemaker.prices("transform")?,
            },
            provenance: top.optional_texts("provenance")?,
        })
    }

    /// Hourly price of an instance type for a kind of job, if the table has one.
    pub fn sagemaker_hourly(&self, kind: JobKind, instance_type: &str) -> Option<f64> {
        let table = match kind {
            JobKind::Training => &self.sagemaker.training,
            JobKind::Transform => &self.sagemaker.transform,
        };
        table.get(instance_type).copied()
    }
}

/// One JSON object of the table being parsed, with its path for error messages.
struct Obj<'v> {
    origin: &'v str,
    path: String,
    map: &'v Map<String, Value>,
}

impl<'v> Obj<'v> {
    fn root(origin: &'v str, value: &'v Value) -> Result<Obj<'v>, PriceTableError> {
        match value {
            Value::Object(map) => Ok(Obj {
                origin,
                path: String::new(),
                map,
            }),
            _ => Err(PriceTableError::Field {
                origin: origin.to_string(),
                field: "(top level)".to_string(),
                problem: format!("expected an object, found {}", kind_of(value)),
            }),
        }
    }

    fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn error(&self, field: String, problem: impl Into<String>) -> PriceTableError {
        PriceTableError::Field {
            origin: self.origin.to_string(),
            field,
            problem: problem.into(),
        }
    }

    /// Unknown keys are errors: a misspelt price would otherwise be silently absent.
    fn only(&self, allowed: &[&str]) -> Result<(), PriceTableError> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(key) => Err(self.error(
                self.path_of(key),
                format!("unknown field (expected one of: {})", allowed.join(", ")),
            )),
            None => Ok(()),
        }
    }

    fn get(&self, key: &str) -> Result<&'v Value, PriceTableError> {
        self.map
            .get(key)
            .ok_or_else(|| self.error(self.path_of(key), "missing"))
    }

    fn object(&self, key: &str) -> Result<Obj<'v>, PriceTableError> {
        match self.get(key)? {
            Value::Object(map) => Ok(Obj {
                origin: self.origin,
                path: self.path_of(key),
                map,
            }),
            other => Err(self.error(
                self.path_of(key),
                format!("expected an object, found {}", kind_of(other)),
            )),
        }
    }

    fn text(&self, key: &str) -> Result<String, PriceTableError> {
        as_text(self.get(key)?).map_err(|problem| self.error(self.path_of(key), problem))
    }

    fn optional_text(&self, key: &str) -> Result<Option<String>, PriceTableError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.text(key).map(Some),
        }
    }

    fn date(&self, key: &str) -> Result<String, PriceTableError> {
        let text = self.text(key)?;
        if is_date(&text) {
            Ok(text)
        } else {
            Err(self.error(
                self.path_of(key),
                format!("expected a date as YYYY-MM-DD, found {text:?}"),
            ))
        }
    }

    fn price(&self, key: &str) -> Result<f64, PriceTableError> {
        as_price(self.get(key)?).map_err(|problem| self.error(self.path_of(key), problem))
    }

    /// An object of instance type → hourly price. Keys hold dots (`ml.m5.large`),
    /// so an entry's path is written with brackets: `sagemaker.training["ml.m5.large"]`.
    fn prices(&self, key: &str) -> Result<BTreeMap<String, f64>, PriceTableError> {
        let obj = self.object(key)?;
        let mut prices = BTreeMap::new();
        for (name, value) in obj.map {
            let field = format!("{}[{name:?}]", obj.path);
            if name.trim().is_empty() {
                return Err(self.error(field, "an instance type cannot be empty"));
            }
            let price = as_price(value).map_err(|problem| self.error(field, problem))?;
            prices.insert(name.clone(), price);
        }
        Ok(prices)
    }

    fn optional_texts(&self, key: &str) -> Result<BTreeMap<String, String>, PriceTableError> {
        if !self.map.contains_key(key) {
            return Ok(BTreeMap::new());
        }
        let obj = self.object(key)?;
        let mut texts = BTreeMap::new();
        for (name, value) in obj.map {
            let text = as_text(value)
                .map_err(|problem| self.error(format!("{}[{name:?}]", obj.path), problem))?;
            texts.insert(name.clone(), text);
        }
        Ok(texts)
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn as_text(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) if s.trim().is_empty() => Err("cannot be empty".to_string()),
        Value::String(s) => Ok(s.clone()),
        other => Err(format!("expected a string, found {}", kind_of(other))),
    }
}

/// A price is a plain non-negative number; a quoted number is refused rather than
/// read, so that a table written by hand is written one way only.
fn as_price(value: &Value) -> Result<f64, String> {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(price) if price >= 0.0 && price.is_finite() => Ok(price),
            _ => Err(format!("expected a price of 0 or more, found {n}")),
        },
        other => Err(format!("expected a number, found {}", kind_of(other))),
    }
}

fn is_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return false;
    }
    if !digits(0..4) || !digits(5..7) || !digits(8..10) {
        return false;
    }
    let month = (bytes[5] - b'0') * 10 + (bytes[6] - b'0');
    let day = (bytes[8] - b'0') * 10 + (bytes[9] - b'0');
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// What one execution used, in the units AWS bills.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// State transitions, retries included (each retry is a billed transition).
    pub transitions: u64,
    /// One entry per Lambda invocation.
    pub lambda: Vec<LambdaUsage>,
    /// One entry per SageMaker job.
    pub sagemaker: Vec<JobUsage>,
}

/// One Lambda invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LambdaUsage {
    pub function: String,
    /// The function's configured memory (what Lambda bills, not what it used).
    pub memory_mb: u32,
    /// Duration rounded up to the millisecond, as Lambda bills it.
    pub billed_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Training,
    Transform,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Training => "training",
            JobKind::Transform => "transform",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One SageMaker training or batch-transform job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobUsage {
    pub name: String,
    pub kind: JobKind,
    pub instance_type: String,
    pub instance_count: u64,
    /// Seconds on instances, per instance (start time to end time).
    pub billable_seconds: u64,
}

/// The estimate: one line per billed item, the total of the priced lines, and what
/// could not be priced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub lines: Vec<Line>,
    /// Sum of the lines that have a cost; unpriced lines are not in it.
    pub total: f64,
    /// `<instance type> (<kind>)` for every SageMaker job the table has no price for.
    pub unpriced: Vec<String>,
    pub prices: PriceBasis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub item: String,
    pub quantity: String,
    pub unit_price: String,
    /// None when the table has no price for the item.
    pub cost: Option<f64>,
    pub note: Option<String>,
}

/// Which prices an estimate used, so that it can be checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceBasis {
    pub region: String,
    pub currency: String,
    pub retrieved: String,
    pub sources: Vec<String>,
}

/// GB-seconds of one invocation. Lambda counts a GB as 1,024 MB (its own pricing
/// examples divide the memory by 1,024).
pub fn gb_seconds(memory_mb: u32, billed_ms: u64) -> f64 {
    f64::from(memory_mb) / 1024.0 * (billed_ms as f64 / 1000.0)
}

/// Prices `usage` with `prices`. No free tier is deducted: it is per account and
/// month, so one execution cannot know what is left of it.
pub fn estimate(prices: &PriceTable, usage: &Usage) -> Estimate {
    let unit = |price: f64| unit_price(&prices.currency, price);
    let mut lines = Vec::new();

    let per_transition = prices.step_functions.standard_per_transition;
    lines.push(Line {
        item: "Step Functions transitions (Standard)".to_string(),
        quantity: thousands(usage.transitions),
        unit_price: format!("{} each", unit(per_transition)),
        cost: Some(usage.transitions as f64 * per_transition),
        note: Some(match &prices.step_functions.free_tier_note {
            Some(free_tier) => format!("no free tier deducted. {free_tier}"),
            None => "no free tier deducted".to_string(),
        }),
    });

    // One line per function: requests and GB-seconds summed over its invocations
    // (the memory can differ between them if the template changed).
    let mut functions: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
    for invocation in &usage.lambda {
        let entry = functions.entry(invocation.function.as_str()).or_default();
        entry.0 += 1;
        entry.1 += gb_seconds(invocation.memory_mb, invocation.billed_ms);
    }
    for (index, (function, (requests, gb_s))) in functions.into_iter().enumerate() {
        let cost =
            requests as f64 * prices.lambda.per_request + gb_s * prices.lambda.per_gb_second_x86_64;
        lines.push(Line {
            item: format!("Lambda {function}"),
            quantity: format!(
                "{} {}, {} GB-s",
                thousands(requests),
                if requests == 1 { "request" } else { "requests" },
                amount(gb_s)
            ),
            unit_price: format!(
                "{}/request + {}/GB-s",
                unit(prices.lambda.per_request),
                unit(prices.lambda.per_gb_second_x86_64)
            ),
            cost: Some(cost),
            note: (index == 0).then(|| {
                "x86_64 prices (the template's architecture); no free tier deducted".to_string()
            }),
        });
    }

    let mut unpriced: Vec<String> = Vec::new();
    // How SageMaker bills is said once, under the first priced job.
    let mut billing_noted = false;
    for job in &usage.sagemaker {
        let quantity = format!(
            "{} x {} x {} s",
            job.instance_count,
            job.instance_type,
            thousands(job.billable_seconds)
        );
        let item = format!("SageMaker {} {}", job.kind, job.name);
        let line = match prices.sagemaker_hourly(job.kind, &job.instance_type) {
            Some(hourly) => {
                let note = (!billing_noted).then(|| {
                    "billed per second of billable time x instance count; \
                     no minimum charge in the sources"
                        .to_string()
                });
                billing_noted = true;
                Line {
                    item,
                    quantity,
                    unit_price: format!("{}/h", unit(hourly)),
                    cost: Some(
                        job.instance_count as f64 * job.billable_seconds as f64 / 3600.0 * hourly,
                    ),
                    note,
                }
            }
            None => {
                let what = format!("{} ({})", job.instance_type, job.kind);
                if !unpriced.contains(&what) {
                    unpriced.push(what);
                }
                Line {
                    item,
                    quantity,
                    unit_price: "no price".to_string(),
                    cost: None,
                    note: Some(format!(
                        "no price for {} ({}) in the table; not in the total",
                        job.instance_type, job.kind
                    )),
                }
            }
        };
        lines.push(line);
    }

    let total = lines.iter().filter_map(|line| line.cost).sum();
    Estimate {
        lines,
        total,
        unpriced,
        prices: PriceBasis {
            region: prices.region.clone(),
            currency: prices.currency.clone(),
            retrieved: prices.retrieved.clone(),
            sources: vec![
                prices.sources.step_functions.clone(),
                prices.sources.lambda.clone(),
                prices.sources.sagemaker.clone(),
            ],
        },
    }
}

impl Estimate {
    /// An aligned text table (item, quantity, unit price, cost), each note indented
    /// under its line, then the total and the line naming the prices used.
    pub fn render(&self) -> String {
        let money = |amount: f64| money(&self.prices.currency, amount);
        let header = ["item", "quantity", "unit price", "cost"];
        let rows: Vec<[String; 4]> = self
            .lines
            .iter()
            .map(|line| {
                [
                    line.item.clone(),
                    line.quantity.clone(),
                    line.unit_price.clone(),
                    line.cost.map_or_else(|| "-".to_string(), money),
                ]
            })
            .collect();
        let total_item = if self.unpriced.is_empty() {
            "total".to_string()
        } else {
            format!("total (without {})", self.unpriced.join(", "))
        };
        let total_cost = money(self.total);

        let width = |column: usize| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .chain([header[column].chars().count()])
                .max()
                .unwrap_or(0)
        };
        let widths = [width(0), width(1), width(2), width(3)];
        // The table's full width, so the total's cost lines up with the others.
        let full = widths.iter().sum::<usize>() + 3 * 2;

        let mut out = String::new();
        let row_text = |cells: [&str; 4]| {
            format!(
                "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
            )
        };
        out.push_str(row_text(header).trim_end());
        out.push('\n');
        for (row, line) in rows.iter().zip(&self.lines) {
            out.push_str(&row_text([&row[0], &row[1], &row[2], &row[3]]));
            out.push('\n');
            if let Some(note) = &line.note {
                out.push_str(&format!("    note: {note}\n"));
            }
        }
        let pad = full.saturating_sub(total_item.chars().count() + total_cost.chars().count());
        out.push_str(&format!(
            "{total_item}{}{total_cost}\n",
            " ".repeat(pad.max(2))
        ));
        out.push_str(&format!(
            "prices: {} on-demand, read {} from {}\n",
            self.prices.region,
            self.prices.retrieved,
            self.prices.sources.join(", ")
        ));
        out
    }
}

/// A unit price exactly as the table gives it (`{}` of an f64 never uses an
/// exponent, so 0.0000166667 prints as written).
fn unit_price(currency: &str, price: f64) -> String {
    with_currency(currency, price.to_string())
}

/// A cost: four significant digits below one cent (Lambda costs are millionths
/// of a dollar), cents above.
fn money(currency: &str, value: f64) -> String {
    with_currency(currency, amount(value))
}

fn with_currency(currency: &str, digits: String) -> String {
    if currency == "USD" {
        format!("${digits}")
    } else {
        format!("{digits} {currency}")
    }
}

fn amount(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value:.2}");
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (3 - magnitude).clamp(2, 12) as usize;
    let mut text = format!("{value:.decimals$}");
    // Trailing zeros say nothing; two decimals stay, as money is written.
    if let Some(dot) = text.find('.') {
        while text.len() > dot + 3 && text.ends_with('0') {
            text.pop();
        }
    }
    text
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    /// A small table of known figures, so the arithmetic tests do not move when the
    /// shipped prices are updated.
    fn table() -> PriceTable {
        PriceTable::parse(
            r#"{
                "region": "us-east-1",
                "currency": "USD",
                "retrieved": "2026-11-27",
                "sources": {
                    "step_functions": "https://example.com/sfn",
                    "lambda": "https://example.com/lambda",
                    "sagemaker": "https://example.com/sagemaker"
                },
                "step_functions": {"standard_per_transition": 0.000025},
                "lambda": {"per_request": 0.0000002, "per_gb_second_x86_64": 0.0000166667},
                "sagemaker": {
                    "training": {"ml.m5.large": 0.115},
                    "transform": {"ml.c5.xlarge": 0.2}
                }
            }"#,
            "test table",
        )
        .unwrap()
    }

    fn job(name: &str, kind: JobKind, instance_type: &str, count: u64, seconds: u64) -> JobUsage {
        JobUsage {
            name: name.into(),
            kind,
            instance_type: instance_type.into(),
            instance_count: count,
            billable_seconds: seconds,
        }
    }

    fn invocation(function: &str, memory_mb: u32, billed_ms: u64) -> LambdaUsage {
        LambdaUsage {
            function: function.into(),
            memory_mb,
            billed_ms,
        }
    }

    fn field_error(json: &str) -> (String, String) {
        match PriceTable::parse(json, "mine.json") {
            Err(PriceTableError::Field { field, problem, .. }) => (field, problem),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn the_builtin_table_parses_and_prices_every_type_it_lists() {
        let prices = PriceTable::builtin().unwrap();
        assert_eq!(prices.region, "us-east-1");
        assert_eq!(prices.currency, "USD");
        assert!(is_date(&prices.retrieved));
        assert!(close(
            prices.step_functions.standard_per_transition,
            0.000025
        ));
        for (kind, table) in [
            ("training", &prices.sagemaker.training),
            ("transform", &prices.sagemaker.transform),
        ] {
            for (instance_type, hourly) in table {
                assert!(instance_type.starts_with("ml."), "{instance_type}");
                assert!(*hourly > 0.0, "{kind} {instance_type}");
                // Every figure says where it came from.
                let key = format!("sagemaker.{kind}.{instance_type}");
                assert!(
                    prices.provenance.contains_key(&key),
                    "no provenance for {key}"
                );
            }
        }
        // ... and every figure the provenance vouches for is in the table.
        for key in prices.provenance.keys() {
            for kind in [JobKind::Training, JobKind::Transform] {
                let prefix = format!("sagemaker.{kind}.");
                if let Some(instance_type) = key.strip_prefix(&prefix) {
                    assert!(
                        prices.sagemaker_hourly(kind, instance_type).is_some(),
                        "{key} has provenance but no price"
                    );
                }
            }
        }
        for key in [
            "step_functions.standard_per_transition",
            "lambda.per_request",
            "lambda.per_gb_second_x86_64",
        ] {
            assert!(
                prices.provenance.contains_key(key),
                "no provenance for {key}"
            );
        }
        // The serde derive reads the same file the same way, and the table
        // round-trips through JSON.
        let derived: PriceTable = serde_json::from_str(BUILTIN_JSON).unwrap();
        assert_eq!(&derived, prices);
        let again = PriceTable::parse(&serde_json::to_string(prices).unwrap(), "again").unwrap();
        assert_eq!(&again, prices);
    }

    #[test]
    fn a_thousand_transitions_cost_two_and_a_half_cents_with_no_free_tier() {
        let usage = Usage {
            transitions: 1_000,
            ..Usage::default()
        };
        let estimate = estimate(PriceTable::builtin().unwrap(), &usage);
        let line = &estimate.lines[0];
        assert_eq!(line.quantity, "1,000");
        assert_eq!(line.unit_price, "$0.000025 each");
        assert!(close(line.cost.unwrap(), 0.025));
        assert!(line.note.as_deref().unwrap().contains("no free tier"));
        assert!(close(estimate.total, 0.025));
        assert!(estimate.unpriced.is_empty());
    }

    #[test]
    fn lambda_bills_requests_and_gigabyte_seconds_per_function() {
        assert!(close(gb_seconds(256, 1_000), 0.25));
        assert!(close(gb_seconds(1_024, 28), 0.028));
        let usage = Usage {
            transitions: 0,
            lambda: vec![
                invocation("generate-config", 256, 1_000),
                invocation("format-failure", 128, 500),
                invocation("generate-config", 256, 1_000),
            ],
            sagemaker: vec![],
        };
        let estimate = estimate(&table(), &usage);
        assert_eq!(estimate.lines.len(), 3);
        // Functions in name order, one line each.
        let failure = &estimate.lines[1];
        assert_eq!(failure.item, "Lambda format-failure");
        assert_eq!(failure.quantity, "1 request, 0.0625 GB-s");
        assert!(close(
            failure.cost.unwrap(),
            0.0000002 + 0.0625 * 0.0000166667
        ));
        let config = &estimate.lines[2];
        assert_eq!(config.item, "Lambda generate-config");
        assert_eq!(config.quantity, "2 requests, 0.50 GB-s");
        assert_eq!(config.unit_price, "$0.0000002/request + $0.0000166667/GB-s");
        assert!(close(
            config.cost.unwrap(),
            2.0 * 0.0000002 + 0.5 * 0.0000166667
        ));
        assert!(failure.note.as_deref().unwrap().contains("x86_64"));
        assert!(close(
            estimate.total,
            3.0 * 0.0000002 + 0.5625 * 0.0000166667
        ));
    }

    #[test]
    fn sagemaker_bills_instances_times_seconds_at_the_hourly_price() {
        let usage = Usage {
            transitions: 0,
            lambda: vec![],
            sagemaker: vec![
                job("train-text", JobKind::Training, "ml.m5.large", 2, 1_800),
                job("score", JobKind::Transform, "ml.c5.xlarge", 1, 360),
            ],
        };
        let estimate = estimate(&table(), &usage);
        let training = &estimate.lines[1];
        assert_eq!(training.item, "SageMaker training train-text");
        assert_eq!(training.quantity, "2 x ml.m5.large x 1,800 s");
        assert_eq!(training.unit_price, "$0.115/h");
        // Two instances for half an hour: one instance-hour.
        assert!(close(training.cost.unwrap(), 0.115));
        assert!(training.note.as_deref().unwrap().contains("per second"));
        let transform = &estimate.lines[2];
        assert!(close(transform.cost.unwrap(), 0.02));
        assert!(close(estimate.total, 0.135));
    }

    #[test]
    fn an_unknown_instance_type_is_listed_as_unpriced_and_not_summed() {
        let usage = Usage {
            transitions: 1_000,
            lambda: vec![],
            sagemaker: vec![
                job("a", JobKind::Training, "ml.x.y", 1, 3_600),
                job("b", JobKind::Training, "ml.x.y", 1, 3_600),
                // Priced for training only: a transform price is never borrowed.
                job("c", JobKind::Transform, "ml.m5.large", 1, 3_600),
                job("d", JobKind::Training, "ml.m5.large", 1, 3_600),
            ],
        };
        let estimate = estimate(&table(), &usage);
        assert_eq!(
            estimate.unpriced,
            vec![
                "ml.x.y (training)".to_string(),
                "ml.m5.large (transform)".to_string()
            ]
        );
        let unknown = &estimate.lines[1];
        assert_eq!(unknown.cost, None);
        assert_eq!(unknown.unit_price, "no price");
        assert!(unknown
            .note
            .as_deref()
            .unwrap()
            .contains("no price for ml.x.y"));
        assert_eq!(estimate.lines[3].cost, None);
        assert!(close(estimate.total, 0.025 + 0.115));
        let text = estimate.render();
        assert!(text.contains("total (without ml.x.y (training), ml.m5.large (transform))"));
        assert!(text.contains("no price for ml.x.y (training)"));
    }

    #[test]
    fn errors_name_the_field() {
        let good: Value = serde_json::to_value(table()).unwrap();
        let with = |edit: &dyn Fn(&mut Value)| {
            let mut value = good.clone();
            edit(&mut value);
            value.to_string()
        };

        let (field, problem) = field_error(&with(&|v| {
            v["lambda"].as_object_mut().unwrap().remove("per_request");
        }));
        assert_eq!(
            (field.as_str(), problem.as_str()),
            ("lambda.per_request", "missing")
        );

        let (field, problem) = field_error(&with(&|v| {
            v["lambda"]["per_gb_second_x86_64"] = Value::from("0.0000166667");
        }));
        assert_eq!(field, "lambda.per_gb_second_x86_64");
        assert_eq!(problem, "expected a number, found a string");

        let (field, problem) = field_error(&with(&|v| {
            v["step_functions"]["standard_per_transition"] = Value::from(-1.0);
        }));
        assert_eq!(field, "step_functions.standard_per_transition");
        assert!(problem.contains("0 or more"), "{problem}");

        let (field, problem) = field_error(&with(&|v| {
            v["lambda"]["per_gb_second_arm64"] = Value::from(0.0000133334);
        }));
        assert_eq!(field, "lambda.per_gb_second_arm64");
        assert!(problem.starts_with("unknown field"), "{problem}");

        let (field, _) = field_error(&with(&|v| {
            v["sagemaker"]["training"]["ml.m5.large"] = Value::Null;
        }));
        assert_eq!(field, r#"sagemaker.training["ml.m5.large"]"#);

        let (field, _) = field_error(&with(&|v| {
            v["sagemaker"].as_object_mut().unwrap().remove("transform");
        }));
        assert_eq!(field, "sagemaker.transform");

        let (field, problem) = field_error(&with(&|v| {
            v["retrieved"] = Value::from("27 November 2026");
        }));
        assert_eq!(field, "retrieved");
        assert!(problem.contains("YYYY-MM-DD"), "{problem}");

        let (field, _) = field_error(&with(&|v| v["sources"]["lambda"] = Value::from("")));
        assert_eq!(field, "sources.lambda");

        let (field, _) = field_error("[]");
        assert_eq!(field, "(top level)");
    }

    #[test]
    fn from_file_reports_the_file_and_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prices.json");
        let mut value = serde_json::to_value(table()).unwrap();
        value["sagemaker"]["training"]["ml.m5.large"] = Value::from("cheap");
        std::fs::write(&path, value.to_string()).unwrap();
        let error = PriceTable::from_file(&path).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with(&path.display().to_string()),
            "{message}"
        );
        assert!(
            message.contains(r#"field `sagemaker.training["ml.m5.large"]`: expected a number"#),
            "{message}"
        );

        std::fs::write(&path, "{ not json").unwrap();
        assert!(matches!(
            PriceTable::from_file(&path),
            Err(PriceTableError::Syntax { .. })
        ));
        assert!(matches!(
            PriceTable::from_file(dir.path().join("absent.json")),
            Err(PriceTableError::Read { .. })
        ));

        std::fs::write(&path, serde_json::to_string(&table()).unwrap()).unwrap();
        assert_eq!(PriceTable::from_file(&path).unwrap(), table());
    }

    #[test]
    fn render_aligns_the_table_and_names_the_prices_used() {
        let prices = PriceTable::builtin().unwrap();
        let usage = Usage {
            transitions: 12,
            lambda: vec![invocation("generate-config", 256, 1_000)],
            sagemaker: vec![job("train", JobKind::Training, "ml.m5.large", 1, 600)],
        };
        let text = estimate(prices, &usage).render();
        let lines: Vec<&str> = text.lines().collect();
        let last = lines.last().unwrap();
        assert_eq!(
            *last,
            format!(
                "prices: us-east-1 on-demand, read {} from {}, {}, {}",
                prices.retrieved,
                prices.sources.step_functions,
                prices.sources.lambda,
                prices.sources.sagemaker
            )
        );
        assert!(lines[lines.len() - 2].starts_with("total"));
        // Every table row and the total end in the same column.
        let rows: Vec<&&str> = lines
            .iter()
            .filter(|l| !l.starts_with("    note:") && !l.starts_with("prices:"))
            .skip(1)
            .collect();
        let ends: Vec<usize> = rows.iter().map(|l| l.chars().count()).collect();
        assert!(ends.windows(2).all(|w| w[0] == w[1]), "{text}");
        let header = lines[0];
        assert!(header.starts_with("item") && header.ends_with("cost"));
        assert_eq!(header.chars().count(), ends[0]);
    }

    #[test]
    fn the_estimate_serializes_to_json() {
        let usage = Usage {
            transitions: 1_000,
            lambda: vec![],
            sagemaker: vec![job("a", JobKind::Transform, "ml.x.y", 1, 60)],
        };
        let estimate = estimate(&table(), &usage);
        let json = serde_json::to_value(&estimate).unwrap();
        assert_eq!(json["unpriced"][0], "ml.x.y (transform)");
        assert_eq!(json["lines"][1]["cost"], Value::Null);
        assert_eq!(json["prices"]["retrieved"], "2026-11-27");
        assert!(close(json["total"].as_f64().unwrap(), 0.025));
        let back: Estimate = serde_json::from_value(json).unwrap();
        assert_eq!(back, estimate);
    }

    #[test]
    fn amounts_keep_four_significant_digits_below_a_cent() {
        assert_eq!(amount(0.025), "0.025");
        assert_eq!(amount(0.0000043667), "0.000004367");
        assert_eq!(amount(1.5), "1.50");
        assert_eq!(amount(1234.5), "1234.50");
        assert_eq!(amount(0.0), "0.00");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}
