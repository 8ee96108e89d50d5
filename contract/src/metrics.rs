//! The functions' metrics, written as CloudWatch's Embedded Metric Format (EMF): a JSON log line
//! that CloudWatch Logs turns into metrics, so recording them costs no API call. The provider's
//! alarms and dashboard and the `nami` tool name the same metrics from here.

use serde_json::{Map, Value, json};

/// The CloudWatch namespace of every Nami metric.
pub const NAMESPACE: &str = "Nami";
/// The one dimension every metric carries: the pipeline's name.
pub const PIPELINE_DIMENSION: &str = "Pipeline";

/// A metric's unit, as CloudWatch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A number of things.
    Count,
    /// A duration.
    Milliseconds,
}

impl Unit {
    /// CloudWatch's name for the unit.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One metric: its name and unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// The metric's name in [`NAMESPACE`].
    pub name: &'static str,
    /// Its unit.
    pub unit: Unit,
}

const fn count(name: &'static str) -> Metric {
    Metric {
        name,
        unit: Unit::Count,
    }
}

/// Webhooks enqueued and answered 200 (pre-queue).
pub const ACCEPTED: Metric = count("Accepted");
/// Webhooks refused because their signature did not verify (401).
pub const REJECTED_SIGNATURE: Metric = count("RejectedSignature");
/// Webhooks refused because their envelope exceeds the queue's message size (413).
pub const REJECTED_SIZE: Metric = count("RejectedSize");
/// Webhooks refused because their body could not be read (400).
pub const REJECTED_MALFORMED: Metric = count("RejectedMalformed");
/// Webhooks refused as a replay of a body already accepted under another delivery id (409).
pub const REJECTED_REPLAY: Metric = count("RejectedReplay");
/// Webhooks answered 503 because the queue refused or could not be reached.
pub const ENQUEUE_FAILED: Metric = count("EnqueueFailed");
/// Webhooks answered 503 because the replay check could not be made.
pub const REPLAY_CHECK_FAILED: Metric = count("ReplayCheckFailed");

/// Verified webhooks the pipeline's custom logic answered itself, enqueueing nothing (pre-queue).
pub const ANSWERED_BY_HOOK: Metric = count("AnsweredByHook");

/// Records in a batch the post-queue function received.
pub const BATCH_SIZE: Metric = count("BatchSize");
/// Envelopes inserted.
pub const STORED: Metric = count("Stored");
/// Redeliveries of an envelope already stored with the same body: squashed, acknowledged.
pub const DUPLICATES: Metric = count("DuplicatesSquashed");
/// Delivery ids received again with another body, recorded in the conflicts collection.
pub const CONFLICTS: Metric = count("Conflicts");
/// Records that are not envelopes (they go on to the dead-letter queue).
pub const UNPARSEABLE: Metric = count("Unparseable");
/// Records reported failed, so SQS delivers them again (and at last dead-letters them).
pub const FAILED_RECORDS: Metric = count("FailedRecords");
/// How long a batch's inserts took (summed, when it was stored in slices).
pub const INSERT_LATENCY: Metric = Metric {
    name: "InsertLatency",
    unit: Unit::Milliseconds,
};

/// Every metric the functions write, pre-queue's then post-queue's.
pub const ALL: [Metric; 15] = [
    ACCEPTED,
    REJECTED_SIGNATURE,
    REJECTED_SIZE,
    REJECTED_MALFORMED,
    REJECTED_REPLAY,
    ENQUEUE_FAILED,
    REPLAY_CHECK_FAILED,
    ANSWERED_BY_HOOK,
    BATCH_SIZE,
    STORED,
    DUPLICATES,
    CONFLICTS,
    UNPARSEABLE,
    FAILED_RECORDS,
    INSERT_LATENCY,
];

/// One EMF log line: `values` of `pipeline` at `timestamp_ms` (milliseconds since the epoch).
/// A metric without a value is left out, so a line names only what happened.
pub fn emf_line(pipeline: &str, timestamp_ms: i64, values: &[(Metric, f64)]) -> String {
    let metrics: Vec<Value> = values
        .iter()
        .map(|(metric, _)| json!({"Name": metric.name, "Unit": metric.unit.as_str()}))
        .collect();
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[PIPELINE_DIMENSION]],
                "Metrics": metrics,
            }],
        }),
    );
    line.insert(PIPELINE_DIMENSION.into(), pipeline.into());
    for (metric, value) in values {
        line.insert(metric.name.into(), json!(value));
    }
    Value::Object(line).to_string()
}

/// The metric values of an EMF line written by [`emf_line`] (for readers: the `nami` tool, tests):
/// the pipeline and each declared metric's value. `None` when the line is not such a record.
pub fn read_emf_line(line: &str) -> Option<(String, Vec<(String, f64)>)> {
    let record: Value = serde_json::from_str(line).ok()?;
    let directive = record
        .pointer("/_aws/CloudWatchMetrics/0")
        .filter(|d| d["Namespace"] == NAMESPACE)?;
    let pipeline = record.get(PIPELINE_DIMENSION)?.as_str()?.to_owned();
    let values = directive["Metrics"]
        .as_array()?
        .iter()
        .filter_map(|metric| {
            let name = metric["Name"].as_str()?;
            Some((name.to_owned(), record.get(name)?.as_f64()?))
        })
        .collect();
    Some((pipeline, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_follows_the_embedded_metric_format() {
        let line = emf_line(
            "orders",
            1_764_669_600_123,
            &[
                (STORED, 98.0),
                (FAILED_RECORDS, 2.0),
                (INSERT_LATENCY, 12.5),
            ],
        );
        assert!(!line.contains('\n'), "one line");
        let record: Value = serde_json::from_str(&line).unwrap();
        // The spec's required members: a root `_aws` with an integer Timestamp and one directive
        // whose Namespace, Dimensions (arrays of member names) and Metrics (Name, Unit) are given,
        // and each dimension and metric a root member.
        assert_eq!(record["_aws"]["Timestamp"], 1_764_669_600_123i64);
        let directive = &record["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Nami");
        assert_eq!(directive["Dimensions"], json!([["Pipeline"]]));
        assert_eq!(
            directive["Metrics"],
            json!([
                {"Name": "Stored", "Unit": "Count"},
                {"Name": "FailedRecords", "Unit": "Count"},
                {"Name": "InsertLatency", "Unit": "Milliseconds"},
            ])
        );
        assert_eq!(record["Pipeline"], "orders");
        assert_eq!(
            (
                &record["Stored"],
                &record["FailedRecords"],
                &record["InsertLatency"]
            ),
            (&json!(98.0), &json!(2.0), &json!(12.5))
        );
        assert_eq!(
            read_emf_line(&line),
            Some((
                "orders".into(),
                vec![
                    ("Stored".into(), 98.0),
                    ("FailedRecords".into(), 2.0),
                    ("InsertLatency".into(), 12.5)
                ]
            ))
        );
    }

    #[test]
    fn other_lines_are_not_read_as_metrics() {
        assert_eq!(
            read_emf_line(r#"{"level":"INFO","fields":{"message":"x"}}"#),
            None
        );
        assert_eq!(read_emf_line("START RequestId: 1"), None);
        let foreign = emf_line("orders", 0, &[(STORED, 1.0)]).replace("\"Nami\"", "\"Other\"");
        assert_eq!(read_emf_line(&foreign), None);
    }

    #[test]
    fn metric_names_are_unique() {
        let mut names: Vec<&str> = ALL.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }
}
