//! How a pipeline's AWS objects are named and marked. The provider creates them by these names,
//! and import, the data sources and the local data plane find them by the same names.

use crate::limits::PIPELINE_NAME_MAX_LEN;

/// The tag on every object of a pipeline, holding the pipeline's name.
pub const PIPELINE_TAG: &str = "nami:pipeline";

/// The tag on every object of a shared store (`nami_mongodb_store`), holding the store's name.
pub const STORE_TAG: &str = "nami:store";

/// What a shared store's names start with after `nami-`: pipeline names may not, so a store's
/// objects and a pipeline's never share a name.
pub const STORE_PREFIX: &str = "store-";

/// The tag on every object of a pipeline, holding the owner token its create generated: the
/// provider updates or deletes only objects that carry its state's token.
pub const OWNER_TAG: &str = "nami:owner";

/// The tag a create puts on both queues as its last step: the pipeline is complete. Objects
/// tagged with a pipeline's name but without it are the leftovers of an interrupted create.
pub const COMPLETE_TAG: &str = "nami:complete";

/// The tag on a data volume kept by `retain_volume` (or a log group kept by `retain_logs`) when
/// its pipeline was destroyed: the data of an earlier pipeline, never adopted as a leftover.
pub const RETAINED_TAG: &str = "nami:retained";

/// Whether `key` is one of Nami's own tags (not the user's).
pub fn is_nami_tag(key: &str) -> bool {
    key.starts_with("nami:")
}

/// One of the pipeline's two functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// Verifies, wraps and enqueues webhooks behind API Gateway.
    PreQueue,
    /// Stores batches from the queue.
    PostQueue,
}

impl Function {
    /// Both functions, pre-queue first.
    pub const ALL: [Function; 2] = [Function::PreQueue, Function::PostQueue];

    /// The function's name part and artifact folder: `pre-queue` or `post-queue`.
    pub fn slug(self) -> &'static str {
        match self {
            Function::PreQueue => "pre-queue",
            Function::PostQueue => "post-queue",
        }
    }
}

/// A named object of a pipeline, by the part its name adds to `nami-<pipeline>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// The REST API, the main queue and the managed network: `nami-<pipeline>`.
    Main,
    /// The dead-letter queue: `nami-<pipeline>-dlq`.
    DeadLetterQueue,
    /// A function, its role and (post-queue) its security group: `nami-<pipeline>-<slug>`.
    Function(Function),
    /// The managed store's instance, security group, IAM role and instance profile:
    /// `nami-<pipeline>-store`.
    Store,
    /// The managed store's data volume: `nami-<pipeline>-data`.
    DataVolume,
    /// The Secrets Manager secret holding a signing secret given by value:
    /// `nami-<pipeline>-signing-secret`.
    SigningSecret,
    /// The DynamoDB table of accepted signed bodies (a replay window): `nami-<pipeline>-replay`.
    ReplayTable,
    /// The managed network's interface endpoints and their security group:
    /// `nami-<pipeline>-endpoints`.
    Endpoints,
    /// The secret holding a store connection string given by value: `nami-<pipeline>-store-uri`.
    StoreUriSecret,
    /// The secret holding the managed store's root password: `nami-<pipeline>-store-root`.
    StoreRootSecret,
    /// The secret holding the password of the managed store's writer (the post-queue function's
    /// user): `nami-<pipeline>-store-writer`.
    StoreWriterSecret,
    /// The managed store's daily snapshots: the Data Lifecycle Manager policy (its description)
    /// and the role it runs as: `nami-<pipeline>-snapshots`.
    Snapshots,
}

impl Part {
    /// The secrets a pipeline may keep.
    pub const SECRETS: [Part; 4] = [
        Part::SigningSecret,
        Part::StoreUriSecret,
        Part::StoreRootSecret,
        Part::StoreWriterSecret,
    ];
}

impl Part {
    /// What the part adds to `nami-<pipeline>` (empty for [`Part::Main`]).
    pub fn suffix(self) -> &'static str {
        match self {
            Part::Main => "",
            Part::DeadLetterQueue => "dlq",
            Part::Function(function) => function.slug(),
            Part::Store => "store",
            Part::DataVolume => "data",
            Part::SigningSecret => "signing-secret",
            Part::ReplayTable => "replay",
            Part::Endpoints => "endpoints",
            Part::StoreUriSecret => "store-uri",
            Part::StoreRootSecret => "store-root",
            Part::StoreWriterSecret => "store-writer",
            Part::Snapshots => "snapshots",
        }
    }
}

/// The AWS name of one of `pipeline`'s objects: `nami-<pipeline>` or `nami-<pipeline>-<part>`.
pub fn object_name(pipeline: &str, part: Part) -> String {
    match part.suffix() {
        "" => format!("nami-{pipeline}"),
        suffix => format!("nami-{pipeline}-{suffix}"),
    }
}

/// The CloudWatch Logs group `function` of `pipeline` writes to: Lambda's own default,
/// `/aws/lambda/nami-<pipeline>-<slug>`, made and owned by the pipeline (with its retention)
/// before the function exists, so Lambda never makes one of its own.
pub fn log_group_name(pipeline: &str, function: Function) -> String {
    lambda_log_group(&object_name(pipeline, Part::Function(function)))
}

/// The log group Lambda writes function `function_name`'s logs to by default.
pub fn lambda_log_group(function_name: &str) -> String {
    format!("/aws/lambda/{function_name}")
}

/// Whether `name` is a usable pipeline name: 1–40 lower-case letters, digits and hyphens,
/// starting with a letter, not ending with a hyphen, and not starting with [`STORE_PREFIX`].
pub fn is_valid_pipeline_name(name: &str) -> bool {
    is_valid_name(name) && !name.starts_with(STORE_PREFIX)
}

/// Whether `name` is a usable shared store name: as a pipeline's, its objects being named
/// `nami-store-<name>…` (so at most 40 characters in all after `nami-`).
pub fn is_valid_store_name(name: &str) -> bool {
    is_valid_name(name) && name.len() + STORE_PREFIX.len() <= PIPELINE_NAME_MAX_LEN
}

/// The stem a shared store's objects are named after: `store-<name>` (so `nami-store-<name>…`).
pub fn store_stem(name: &str) -> String {
    format!("{STORE_PREFIX}{name}")
}

fn is_valid_name(name: &str) -> bool {
    (1..=PIPELINE_NAME_MAX_LEN).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_named_after_the_pipeline() {
        assert_eq!(object_name("orders", Part::Main), "nami-orders");
        assert_eq!(
            object_name("orders", Part::DeadLetterQueue),
            "nami-orders-dlq"
        );
        assert_eq!(
            object_name("orders", Part::Function(Function::PostQueue)),
            "nami-orders-post-queue"
        );
        assert_eq!(object_name("orders", Part::DataVolume), "nami-orders-data");
        assert_eq!(
            log_group_name("orders", Function::PreQueue),
            "/aws/lambda/nami-orders-pre-queue"
        );
    }

    #[test]
    fn pipeline_names() {
        assert!(is_valid_pipeline_name("github-events-2"));
        for bad in ["", "Orders", "1st", "a_b", "ends-", &"a".repeat(41)] {
            assert!(!is_valid_pipeline_name(bad), "{bad}");
        }
        // A shared store's objects are `nami-store-…`: no pipeline may be named so.
        assert!(!is_valid_pipeline_name("store-main"));
        assert!(is_valid_pipeline_name("stores"));
    }

    #[test]
    fn store_names() {
        assert!(is_valid_store_name("main"));
        assert_eq!(store_stem("main"), "store-main");
        assert!(is_valid_store_name(&"a".repeat(34)));
        assert!(
            !is_valid_store_name(&"a".repeat(35)),
            "nami-store- plus 35 is over"
        );
        assert!(!is_valid_store_name("Main"));
    }
}
