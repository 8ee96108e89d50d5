//! SQS's own metrics of the pipeline's queues, published to the emulator's CloudWatch each
//! period, as SQS publishes them to CloudWatch each minute: the alarms, the data source and
//! `nami list` read them locally as they do on AWS.
//!
//! The depths come from `GetQueueAttributes`, as SQS's own. The oldest message's age is the
//! nearest the emulator allows (it reports no age): the age of the oldest message the poller
//! received in the period; with none received and messages waiting, the last age plus the time
//! since; an empty queue is 0. The dead-letter queue, which nothing receives from, has depths
//! only.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_sqs::types::QueueAttributeName;
use nami_contract::service_metrics as aws;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The earliest `SentTimestamp` among the messages the poller received since it was last taken.
#[derive(Debug)]
pub struct OldestReceived(AtomicI64);

impl Default for OldestReceived {
    fn default() -> Self {
        OldestReceived(AtomicI64::new(i64::MAX))
    }
}

impl OldestReceived {
    /// Notes a message sent at `sent_ms` (milliseconds since the epoch) was received.
    pub fn saw(&self, sent_ms: i64) {
        self.0.fetch_min(sent_ms, Ordering::Relaxed);
    }

    /// The earliest noted since the last call, if any.
    fn take(&self) -> Option<i64> {
        match self.0.swap(i64::MAX, Ordering::Relaxed) {
            i64::MAX => None,
            sent_ms => Some(sent_ms),
        }
    }
}

/// Publishes the queues' metrics until stopped.
#[derive(Debug)]
pub struct QueueMetrics {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// What the publisher needs of one queue.
#[derive(Debug, Clone)]
struct Watched {
    name: String,
    url: String,
    /// The main queue's receipts, for the oldest message's age.
    oldest: Option<Arc<OldestReceived>>,
}

impl QueueMetrics {
    /// Starts publishing every `period` for the main queue (`queue_url`, its receipts in
    /// `oldest`) and the dead-letter queue.
    pub fn start(
        sqs: aws_sdk_sqs::Client,
        cloudwatch: aws_sdk_cloudwatch::Client,
        queue_url: &str,
        oldest: Arc<OldestReceived>,
        dead_letter_queue_url: Option<&str>,
        period: Duration,
    ) -> Self {
        let watched = |url: &str, oldest| Watched {
            name: url.rsplit('/').next().unwrap_or_default().to_owned(),
            url: url.to_owned(),
            oldest,
        };
        let mut queues = vec![watched(queue_url, Some(oldest))];
        queues.extend(dead_letter_queue_url.map(|url| watched(url, None)));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(publish(sqs, cloudwatch, queues, period, stopped));
        QueueMetrics { stop, task }
    }

    /// Publishes once more (the queues as they are now) and stops.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn publish(
    sqs: aws_sdk_sqs::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    queues: Vec<Watched>,
    period: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut last_age: Option<(f64, tokio::time::Instant)> = None;
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(period) => false,
            _ = stopped.changed() => true,
        };
        for queue in &queues {
            let data = match sample(&sqs, queue, &mut last_age).await {
                Ok(data) => data,
                Err(error) => {
                    tracing::warn!(queue = %queue.name, %error, "queue metrics not sampled");
                    continue;
                }
            };
            let sent = cloudwatch
                .put_metric_data()
                .namespace(aws::SQS_NAMESPACE)
                .set_metric_data(Some(data))
                .send()
                .await;
            if let Err(error) = sent {
                let error = aws_sdk_cloudwatch::error::DisplayErrorContext(error);
                tracing::warn!(queue = %queue.name, %error, "queue metrics not published");
            }
        }
        if stopping {
            return;
        }
    }
}

/// `queue`'s metrics now.
async fn sample(
    sqs: &aws_sdk_sqs::Client,
    queue: &Watched,
    last_age: &mut Option<(f64, tokio::time::Instant)>,
) -> Result<Vec<MetricDatum>, String> {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&queue.url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?
        .attributes
        .unwrap_or_default();
    let count = |name: &QueueAttributeName| {
        (attributes.get(name))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let visible = count(&QueueAttributeName::ApproximateNumberOfMessages);
    let in_flight = count(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
    let datum = |metric: &str, value: f64, unit: StandardUnit| {
        MetricDatum::builder()
            .metric_name(metric)
            .dimensions(
                Dimension::builder()
                    .name(aws::QUEUE_NAME)
                    .value(&queue.name)
                    .build(),
            )
            .value(value)
            .unit(unit)
            .build()
    };
    let mut data = vec![
        datum(aws::MESSAGES_VISIBLE, visible, StandardUnit::Count),
        datum(aws::MESSAGES_NOT_VISIBLE, in_flight, StandardUnit::Count),
    ];
    if let Some(oldest) = &queue.oldest {
        let now = tokio::time::Instant::now();
        let seen = oldest.take().map(|sent_ms| {
            let age_ms = chrono::Utc::now().timestamp_millis() - sent_ms;
            #[allow(clippy::cast_precision_loss)]
            let seconds = age_ms.max(0) as f64 / 1000.0;
            seconds
        });
        let age = match (visible + in_flight > 0.0, seen, *last_age) {
            (false, _, _) => 0.0,
            (true, Some(seconds), _) => seconds,
            (true, None, Some((seconds, at))) => seconds + now.duration_since(at).as_secs_f64(),
            (true, None, None) => 0.0,
        };
        *last_age = Some((age, now));
        data.push(datum(
            aws::AGE_OF_OLDEST_MESSAGE,
            age.floor(),
            StandardUnit::Seconds,
        ));
    }
    Ok(data)
}
