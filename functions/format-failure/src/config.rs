//! Configuration from environment variables, read once per cold start.

use std::collections::HashMap;

use shared::FunctionError;

use crate::notification::DEFAULT_SUBJECT_PREFIX;

/// The topic EventBridge-triggered notifications go to. Required only in that mode.
pub const SNS_TOPIC_ARN: &str = "SNS_TOPIC_ARN";
/// The subject's first word, e.g. `[ensemble-training-dev]`. Optional.
pub const SUBJECT_PREFIX: &str = "SUBJECT_PREFIX";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `None` when unset or empty: the Catch path does not publish.
    pub sns_topic_arn: Option<String>,
    pub subject_prefix: String,
}

impl Config {
    pub fn from_env() -> Result<Config, FunctionError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// For tests: the variables as an explicit map.
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Config, FunctionError> {
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, FunctionError> {
        let sns_topic_arn = lookup(SNS_TOPIC_ARN)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        if let Some(arn) = &sns_topic_arn {
            if !is_topic_arn(arn) {
                return Err(FunctionError::config(
                    SNS_TOPIC_ARN,
                    format!(
                        "must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), got {arn:?}"
                    ),
                ));
            }
        }
        let subject_prefix = match lookup(SUBJECT_PREFIX) {
            None => DEFAULT_SUBJECT_PREFIX.to_string(),
            Some(prefix) => {
                let prefix = prefix.trim().to_string();
                let printable = prefix.chars().all(|c| (' '..='~').contains(&c));
                if prefix.is_empty() || prefix.len() > 30 || !printable {
                    return Err(FunctionError::config(
                        SUBJECT_PREFIX,
                        "must be 1 to 30 printable ASCII characters (SNS subjects are ASCII)",
                    ));
                }
                prefix
            }
        };
        Ok(Config {
            sns_topic_arn,
            subject_prefix,
        })
    }

    /// The topic, or the `ConfigurationError` the EventBridge mode reports without it.
    pub fn topic(&self) -> Result<&str, FunctionError> {
        self.sns_topic_arn.as_deref().ok_or_else(|| {
            FunctionError::config(
                SNS_TOPIC_ARN,
                "is required to publish EventBridge-triggered notifications",
            )
        })
    }
}

/// `arn:<partition>:sns:<region>:<12-digit account>:<name>`
fn is_topic_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    let [prefix, partition, service, region, account, name] = parts.as_slice() else {
        return false;
    };
    *prefix == "arn"
        && partition.starts_with("aws")
        && *service == "sns"
        && !region.is_empty()
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && !name.is_empty()
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ErrorKind;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_without_variables() {
        let config = Config::from_map(&vars(&[])).unwrap();
        assert_eq!(config.sns_topic_arn, None);
        assert_eq!(config.subject_prefix, "[ensemble-training]");
        let err = config.topic().unwrap_err();
        assert_eq!(err.kind, ErrorKind::ConfigurationError);
        assert!(err
            .message
            .starts_with("environment variable SNS_TOPIC_ARN:"));
    }

    #[test]
    fn empty_topic_counts_as_unset() {
        let config = Config::from_map(&vars(&[(SNS_TOPIC_ARN, "  ")])).unwrap();
        assert_eq!(config.sns_topic_arn, None);
    }

    #[test]
    fn topic_and_prefix_are_validated() {
        let arn = "arn:aws:sns:eu-central-1:123456789012:training-failures";
        let config = Config::from_map(&vars(&[
            (SNS_TOPIC_ARN, arn),
            (SUBJECT_PREFIX, "[ens-dev]"),
        ]))
        .unwrap();
        assert_eq!(config.topic().unwrap(), arn);
        assert_eq!(config.subject_prefix, "[ens-dev]");
        for bad in [
            "training-failures",
            "arn:aws:sqs:eu-central-1:123456789012:q",
            "arn:aws:sns:eu-central-1:1234:t",
            "arn:aws:sns:eu-central-1:123456789012:t:sub-id",
        ] {
            let err = Config::from_map(&vars(&[(SNS_TOPIC_ARN, bad)])).unwrap_err();
            assert_eq!(err.kind, ErrorKind::ConfigurationError, "{bad}");
        }
        for bad in ["", "Ünïcode", &"x".repeat(31)] {
            let err = Config::from_map(&vars(&[(SUBJECT_PREFIX, bad)])).unwrap_err();
            assert_eq!(err.kind, ErrorKind::ConfigurationError, "{bad}");
        }
    }
}
