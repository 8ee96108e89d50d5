//! The moto launcher (`tools/moto_server.py`) answers SQS as moto does: its shortcuts (sends read
//! one attribute instead of all of them, a host's backend found once) change no answer.

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName;
use nami_harness::Moto;

use crate::support::sdk_config;

async fn attributes(sqs: &aws_sdk_sqs::Client, url: &str) -> HashMap<QueueAttributeName, String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes
        .unwrap_or_default()
}

#[tokio::test]
async fn sends_still_deduplicate_by_content_and_queues_still_count_their_messages() {
    let moto = Moto::start().unwrap();
    let sqs = aws_sdk_sqs::Client::new(&sdk_config(&moto).await);

    let fifo = (sqs.create_queue())
        .queue_name("orders.fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "true")
        .send()
        .await
        .expect("CreateQueue (FIFO)")
        .queue_url
        .unwrap();
    for body in ["first", "first", "second"] {
        (sqs.send_message())
            .queue_url(&fifo)
            .message_group_id("g")
            .message_body(body)
            .send()
            .await
            .expect("SendMessage (FIFO)");
    }
    let fifo_attributes = attributes(&sqs, &fifo).await;
    assert_eq!(
        fifo_attributes[&QueueAttributeName::ApproximateNumberOfMessages],
        "2",
        "a repeated body within the deduplication interval is dropped: {fifo_attributes:?}"
    );
    assert_eq!(
        fifo_attributes[&QueueAttributeName::ContentBasedDeduplication],
        "true"
    );

    let standard = (sqs.create_queue())
        .queue_name("orders")
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .unwrap();
    for n in 0..5 {
        (sqs.send_message())
            .queue_url(&standard)
            .message_body("same body")
            .delay_seconds(if n == 4 { 60 } else { 0 })
            .send()
            .await
            .expect("SendMessage");
    }
    let received = (sqs.receive_message())
        .queue_url(&standard)
        .max_number_of_messages(1)
        .send()
        .await
        .expect("ReceiveMessage")
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 1);
    let counts = attributes(&sqs, &standard).await;
    let count = |name: QueueAttributeName| counts[&name].clone();
    assert_eq!(
        (
            count(QueueAttributeName::ApproximateNumberOfMessages),
            count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        ),
        ("3".into(), "1".into(), "1".into()),
        "a standard queue keeps every copy and counts visible, in flight and delayed: {counts:?}"
    );
    assert!(
        !counts.contains_key(&QueueAttributeName::ContentBasedDeduplication),
        "a standard queue has no ContentBasedDeduplication attribute: {counts:?}"
    );
}
