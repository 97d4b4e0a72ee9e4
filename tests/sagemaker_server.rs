//! A local SageMaker API (awsJson1.1) for tests.
