//! The pipeline's CloudWatch dashboard, `nami-<name>` (`dashboard`, on by default): accepted vs
//! stored vs rejected, the queue's depth and oldest message, the dead-letter queue, the
//! functions' durations, errors, throttles and concurrency, the store's insert latency, and the
//! alarms — the picture an operator looks at instead of reading logs. Its console URL is the
//! `dashboard_url` output.
//!
//! Dashboards take no tags: the pipeline's name and owner token are written in the dashboard's
//! first widget (a text widget), and read from there by the ownership checks. A dashboard
//! deleted or edited by hand is put back by the next apply.

use nami_contract::metrics::{self, Metric};
use nami_contract::naming::{Function, OWNER_TAG, PIPELINE_TAG, Part, object_name};
use nami_contract::service_metrics as aws;
use serde_json::{Value as Json, json};
use tf_provider::schema::{Attribute, AttributeConstraint, AttributeType};
use tf_provider::value::Value;

use super::Context;
use crate::aws::{AwsError, Clients, OptionalNotFound, aws_error};
use crate::model::PipelineState;
use crate::ownership::{Kind, Tagged};
use crate::schema;

/// Whether a pipeline has its dashboard when `dashboard` is not set.
pub const DEFAULT_ENABLED: bool = true;

/// The graphs' period, in seconds.
const PERIOD_SECONDS: u32 = 60;

/// The resource's own attributes: `dashboard` and `dashboard_url`.
pub fn attributes() -> Vec<(&'static str, Attribute)> {
    vec![
        (
            "dashboard",
            schema::attribute(
                AttributeType::Bool,
                AttributeConstraint::OptionalComputed,
                "Whether the pipeline has a CloudWatch dashboard, `nami-<name>`: webhooks accepted, stored and \
                 rejected, the queue's depth and oldest message, the dead-letter queue, the functions' durations, \
                 errors, throttles and concurrency, the store's insert latency and the alarms. Default `true`.",
            ),
        ),
        (
            "dashboard_url",
            schema::attribute(
                AttributeType::String,
                AttributeConstraint::Computed,
                "The dashboard in the CloudWatch console. Null with `dashboard = false`.",
            ),
        ),
    ]
}

/// Fills `dashboard`.
pub fn fill_defaults(state: &mut PipelineState) {
    crate::model::default(&mut state.dashboard, DEFAULT_ENABLED);
}

/// An unset `dashboard` takes its default, not the prior state's value.
pub fn follow_defaults(config: &PipelineState, state: &mut PipelineState) {
    if config.dashboard.is_null() {
        state.dashboard = Value::Null;
    }
}

/// Whether a planned state has the dashboard (on unless `dashboard = false`).
pub fn enabled(state: &PipelineState) -> bool {
    state.dashboard.as_ref_option() != Some(&false)
}

/// The dashboard's name: `nami-<pipeline>`.
pub fn name(pipeline: &str) -> String {
    object_name(pipeline, Part::Main)
}

/// The dashboard's page in the CloudWatch console of `region`.
pub fn url(region: &str, pipeline: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards/dashboard/{}",
        name(pipeline)
    )
}

/// What the dashboard shows, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout<'a> {
    /// The pipeline's name.
    pub pipeline: &'a str,
    /// The region of its metrics.
    pub region: &'a str,
    /// The API's stage.
    pub stage: &'a str,
    /// The owner token written into the dashboard (`None`: a state from before tokens).
    pub owner: Option<&'a str>,
    /// The alarms' ARNs, shown in an alarm widget when there are any.
    pub alarm_arns: Vec<String>,
}

impl<'a> Layout<'a> {
    /// The dashboard a state in `region` describes.
    pub fn of(state: &'a PipelineState, region: &'a str) -> Self {
        Layout {
            pipeline: state.name.as_ref_option().map_or("", String::as_str),
            region,
            stage: state.stage.as_ref_option().map_or("", String::as_str),
            owner: state.owner_token.as_ref_option().map(String::as_str),
            alarm_arns: crate::components::alarms::arns_from_state(state)
                .into_values()
                .collect(),
        }
    }

    /// The dashboard's body, as `PutDashboard` takes it.
    pub fn body(&self) -> Json {
        let pipeline = self.pipeline;
        let nami = |metric: Metric, stat: &str, label: &str| {
            json!([metrics::NAMESPACE, metric.name, metrics::PIPELINE_DIMENSION, pipeline,
                   { "stat": stat, "label": label }])
        };
        let queue = |part, metric: &str, stat: &str, label: &str| {
            json!([aws::SQS_NAMESPACE, metric, aws::QUEUE_NAME, object_name(pipeline, part),
                   { "stat": stat, "label": label }])
        };
        let function = |function: Function, metric: &str, stat: &str, what: &str| {
            json!([aws::LAMBDA_NAMESPACE, metric, aws::FUNCTION_NAME,
                   object_name(pipeline, Part::Function(function)),
                   { "stat": stat, "label": format!("{} {what}", function.slug()) }])
        };
        let api = |metric: &str, stat: &str, label: &str| {
            json!([aws::API_GATEWAY_NAMESPACE, metric, aws::API_NAME, object_name(pipeline, Part::Main),
                   aws::STAGE, self.stage, { "stat": stat, "label": label }])
        };
        let graph = |title: &str, metrics: Vec<Json>| {
            json!({
                "type": "metric",
                "width": 12,
                "height": 6,
                "properties": {
                    "title": title,
                    "view": "timeSeries",
                    "region": self.region,
                    "period": PERIOD_SECONDS,
                    "metrics": metrics,
                }
            })
        };
        let mut widgets = vec![
            json!({
                "type": "text",
                "width": 24,
                "height": 2,
                "properties": { "markdown": self.marker() }
            }),
            graph(
                "Webhooks: accepted, stored, rejected",
                vec![
                    nami(metrics::ACCEPTED, "Sum", "accepted"),
                    nami(metrics::STORED, "Sum", "stored"),
                    nami(metrics::REJECTED_SIGNATURE, "Sum", "rejected: signature"),
                    nami(metrics::REJECTED_SIZE, "Sum", "rejected: size"),
                    nami(metrics::REJECTED_MALFORMED, "Sum", "rejected: malformed"),
                    nami(metrics::REJECTED_REPLAY, "Sum", "rejected: replay"),
                    nami(metrics::ENQUEUE_FAILED, "Sum", "enqueue failed"),
                ],
            ),
            graph(
                "API: requests and errors",
                vec![
                    api(aws::REQUESTS, "Sum", "requests"),
                    api(aws::CLIENT_ERRORS, "Sum", "4xx"),
                    api(aws::SERVER_ERRORS, "Sum", "5xx"),
                ],
            ),
            graph(
                "Queue: depth and oldest message (s)",
                vec![
                    queue(Part::Main, aws::MESSAGES_VISIBLE, "Maximum", "waiting"),
                    queue(
                        Part::Main,
                        aws::MESSAGES_NOT_VISIBLE,
                        "Maximum",
                        "in flight",
                    ),
                    queue(
                        Part::Main,
                        aws::AGE_OF_OLDEST_MESSAGE,
                        "Maximum",
                        "oldest (s)",
                    ),
                ],
            ),
            graph(
                "Dead-letter queue",
                vec![queue(
                    Part::DeadLetterQueue,
                    aws::MESSAGES_VISIBLE,
                    "Maximum",
                    "dead letters",
                )],
            ),
            graph(
                "Functions: duration (ms)",
                Function::ALL
                    .into_iter()
                    .flat_map(|f| {
                        [
                            function(f, aws::DURATION, "p50", "p50"),
                            function(f, aws::DURATION, "p99", "p99"),
                        ]
                    })
                    .collect(),
            ),
            graph(
                "Functions: errors, throttles, concurrency",
                Function::ALL
                    .into_iter()
                    .flat_map(|f| {
                        [
                            function(f, aws::ERRORS, "Sum", "errors"),
                            function(f, aws::THROTTLES, "Sum", "throttles"),
                            function(f, aws::CONCURRENT_EXECUTIONS, "Maximum", "concurrency"),
                        ]
                    })
                    .collect(),
            ),
            graph(
                "Store: insert latency (ms) and outcomes",
                vec![
                    nami(metrics::INSERT_LATENCY, "p50", "insert p50"),
                    nami(metrics::INSERT_LATENCY, "p99", "insert p99"),
                    nami(metrics::DUPLICATES, "Sum", "duplicates squashed"),
                    nami(metrics::CONFLICTS, "Sum", "conflicts"),
                    nami(metrics::FAILED_RECORDS, "Sum", "failed records"),
                ],
            ),
        ];
        if !self.alarm_arns.is_empty() {
            widgets.push(json!({
                "type": "alarm",
                "width": 12,
                "height": 6,
                "properties": { "title": "Alarms", "alarms": self.alarm_arns }
            }));
        }
        json!({ "widgets": widgets })
    }

    /// The first widget's text: what the dashboard is, and whose (the tags it cannot have).
    fn marker(&self) -> String {
        let mut text = format!(
            "## Nami pipeline `{}`\nMade by the Nami Terraform provider; changes made here are put back by the next apply. \
             What to do when an alarm fires: the operations guide.\n\n`{PIPELINE_TAG}={}`",
            self.pipeline, self.pipeline
        );
        if let Some(owner) = self.owner {
            text += &format!(" `{OWNER_TAG}={owner}`");
        }
        text
    }
}

/// The tags written in a dashboard's body (its first text widget), as `key=value` pairs.
pub fn tags_in(body: &Json) -> Vec<(String, String)> {
    let markdown = (body["widgets"].as_array().into_iter().flatten())
        .filter(|widget| widget["type"] == "text")
        .find_map(|widget| widget["properties"]["markdown"].as_str())
        .unwrap_or_default();
    (markdown.split('`'))
        .filter_map(|part| part.split_once('='))
        .filter(|(key, _)| *key == PIPELINE_TAG || *key == OWNER_TAG)
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// Puts the dashboard of the pipeline in `ctx` as it should be (on the API's `stage`, with
/// `alarm_arns`); returns its URL.
pub async fn ensure(
    ctx: Context<'_>,
    stage: &str,
    alarm_arns: impl IntoIterator<Item = String>,
) -> Result<String, AwsError> {
    let layout = Layout {
        pipeline: ctx.name,
        region: &ctx.clients.region,
        stage,
        owner: ctx.owner,
        alarm_arns: alarm_arns.into_iter().collect(),
    };
    put(ctx, &layout).await
}

/// Creates or replaces the dashboard of the pipeline in `ctx`; returns its URL.
pub async fn put(ctx: Context<'_>, layout: &Layout<'_>) -> Result<String, AwsError> {
    let output = ctx
        .clients
        .cloudwatch
        .put_dashboard()
        .dashboard_name(name(ctx.name))
        .dashboard_body(layout.body().to_string())
        .send()
        .await
        .map_err(aws_error("cloudwatch:PutDashboard"))?;
    let problems: Vec<String> = (output.dashboard_validation_messages.unwrap_or_default())
        .into_iter()
        .filter_map(|message| message.message)
        .collect();
    if !problems.is_empty() {
        return Err(AwsError::Unusable(format!(
            "cloudwatch:PutDashboard accepted {} with warnings: {}",
            name(ctx.name),
            problems.join("; ")
        )));
    }
    Ok(url(&ctx.clients.region, ctx.name))
}

/// The pipeline's dashboard's body, if it exists.
pub async fn find(clients: &Clients, pipeline: &str) -> Result<Option<Json>, AwsError> {
    let found = clients
        .cloudwatch
        .get_dashboard()
        .dashboard_name(name(pipeline))
        .send()
        .await
        .map_err(aws_error("cloudwatch:GetDashboard"))
        .found()?;
    Ok(found.map(|output| {
        (output.dashboard_body.as_deref())
            .and_then(|body| serde_json::from_str(body).ok())
            .unwrap_or(Json::Null)
    }))
}

/// Deletes the pipeline's dashboard; a missing one is already deleted.
pub async fn delete(clients: &Clients, pipeline: &str) -> Result<(), AwsError> {
    clients
        .cloudwatch
        .delete_dashboards()
        .dashboard_names(name(pipeline))
        .send()
        .await
        .map_err(aws_error("cloudwatch:DeleteDashboards"))
        .found()?;
    Ok(())
}

/// Deletes the pipeline's dashboard if it is this pipeline's (its text names the pipeline and
/// the owner token of `ctx`); a dashboard of the name that is not is left alone.
pub async fn delete_owned(ctx: Context<'_>) -> Result<(), AwsError> {
    let Some(body) = find(ctx.clients, ctx.name).await? else {
        return Ok(());
    };
    let found = Tagged::new(Kind::Dashboard, name(ctx.name), tags_in(&body));
    if found.is_owned_by(ctx.name, ctx.owner) {
        delete(ctx.clients, ctx.name).await?;
    }
    Ok(())
}

/// The pipeline's dashboard, with the tags written in it.
pub async fn inventory(clients: &Clients, pipeline: &str) -> Result<Vec<Tagged>, AwsError> {
    Ok((find(clients, pipeline).await?)
        .map(|body| Tagged::new(Kind::Dashboard, name(pipeline), tags_in(&body)))
        .into_iter()
        .collect())
}

/// The dashboard's name in its URL.
pub fn name_in_url(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// Writes what the live dashboard says into state: its URL (in `region`) when it exists, and
/// `dashboard` true only when it is as `drawn` (the body the state describes) — one missing or
/// edited by hand reads as `false`, so the plan shows `dashboard` changing back and the apply
/// puts it back.
pub fn read_back(live: Option<&Json>, drawn: &Json, region: &str, state: &mut PipelineState) {
    state.dashboard = Value::Value(live == Some(drawn));
    state.dashboard_url = match (live, state.name.as_ref_option()) {
        (Some(_), Some(pipeline)) => Value::Value(url(region, pipeline)),
        _ => Value::Null,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(alarm_arns: Vec<String>) -> Layout<'static> {
        Layout {
            pipeline: "stripe",
            region: "eu-west-1",
            stage: "live",
            owner: Some("tok123"),
            alarm_arns,
        }
    }

    #[test]
    fn the_body_names_the_pipelines_own_metrics() {
        let body = layout(vec![]).body().to_string();
        for needle in [
            r#"["Nami","Accepted","Pipeline","stripe""#,
            r#"["AWS/SQS","ApproximateNumberOfMessagesVisible","QueueName","nami-stripe-dlq""#,
            r#"["AWS/SQS","ApproximateAgeOfOldestMessage","QueueName","nami-stripe""#,
            r#"["AWS/Lambda","Errors","FunctionName","nami-stripe-post-queue""#,
            r#"["AWS/ApiGateway","5XXError","ApiName","nami-stripe","Stage","live""#,
            r#""region":"eu-west-1""#,
        ] {
            assert!(body.contains(needle), "{needle} not in {body}");
        }
        assert!(!body.contains(r#""type":"alarm""#), "no alarms, no widget");
        let with_alarms = layout(vec!["arn:a".into()]).body().to_string();
        assert!(
            with_alarms.contains(r#""alarms":["arn:a"]"#),
            "{with_alarms}"
        );
    }

    #[test]
    fn the_tags_a_dashboard_cannot_have_are_read_back_from_its_text() {
        let tags = tags_in(&layout(vec![]).body());
        assert_eq!(
            tags,
            [
                (PIPELINE_TAG.to_owned(), "stripe".to_owned()),
                (OWNER_TAG.to_owned(), "tok123".to_owned())
            ]
        );
        assert!(tags_in(&json!({"widgets": []})).is_empty());
        assert!(tags_in(&Json::Null).is_empty());
    }

    #[test]
    fn a_changed_or_missing_dashboard_reads_back_as_not_there() {
        let drawn = layout(vec![]);
        let url = "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/nami-stripe";
        let mut state = PipelineState {
            name: Value::Value("stripe".to_owned()),
            ..PipelineState::default()
        };
        let body = drawn.body();
        read_back(Some(&body), &body, "eu-west-1", &mut state);
        assert_eq!(state.dashboard, Value::Value(true));
        assert_eq!(state.dashboard_url, Value::Value(url.to_owned()));
        assert_eq!(name_in_url(url), "nami-stripe");
        let mut edited = drawn.body();
        edited["widgets"].as_array_mut().unwrap().pop();
        read_back(Some(&edited), &body, "eu-west-1", &mut state);
        assert_eq!(state.dashboard, Value::Value(false));
        assert_eq!(state.dashboard_url, Value::Value(url.to_owned()));
        read_back(None, &body, "eu-west-1", &mut state);
        assert_eq!(state.dashboard, Value::Value(false));
        assert_eq!(state.dashboard_url, Value::Null);
    }
}
