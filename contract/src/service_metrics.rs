//! The metrics AWS services publish about a pipeline's parts themselves (SQS, Lambda, API
//! Gateway): what the provider's alarms watch, what the data source and the `nami` tool read,
//! and what `nami-local` publishes to the emulator's CloudWatch in their place.

/// SQS's namespace.
pub const SQS_NAMESPACE: &str = "AWS/SQS";
/// SQS's dimension: the queue's name.
pub const QUEUE_NAME: &str = "QueueName";
/// Messages available for retrieval.
pub const MESSAGES_VISIBLE: &str = "ApproximateNumberOfMessagesVisible";
/// Messages received and not yet deleted or back (in flight).
pub const MESSAGES_NOT_VISIBLE: &str = "ApproximateNumberOfMessagesNotVisible";
/// Age of the queue's oldest message, in seconds.
pub const AGE_OF_OLDEST_MESSAGE: &str = "ApproximateAgeOfOldestMessage";
/// How often SQS publishes its metrics, in seconds.
pub const SQS_PERIOD_SECONDS: u64 = 60;

/// Lambda's namespace.
pub const LAMBDA_NAMESPACE: &str = "AWS/Lambda";
/// Lambda's dimension: the function's name.
pub const FUNCTION_NAME: &str = "FunctionName";
/// Time an invocation took, in milliseconds.
pub const DURATION: &str = "Duration";
/// Invocations running at once.
pub const CONCURRENT_EXECUTIONS: &str = "ConcurrentExecutions";
/// Invocations that failed.
pub const ERRORS: &str = "Errors";
/// Invocations refused for want of concurrency.
pub const THROTTLES: &str = "Throttles";

/// API Gateway's namespace.
pub const API_GATEWAY_NAMESPACE: &str = "AWS/ApiGateway";
/// API Gateway's dimension: the REST API's name.
pub const API_NAME: &str = "ApiName";
/// API Gateway's dimension: the stage.
pub const STAGE: &str = "Stage";
/// Requests.
pub const REQUESTS: &str = "Count";
/// Requests answered 4xx.
pub const CLIENT_ERRORS: &str = "4XXError";
/// Requests answered 5xx (its average: their share).
pub const SERVER_ERRORS: &str = "5XXError";
