//! A local SNS API (awsQuery) for tests.
