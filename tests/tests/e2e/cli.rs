//! `nami-local` as a user runs it: the only consumer of the queue, and Ctrl-C stops it and every
//! function process.

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::MessageSystemAttributeName;
use nami_harness::local::NamiLocal;
use nami_harness::webhooks::{Burst, send_all};

use crate::support::{SECRET, deploy};

fn children_of(pid: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid …; comm may contain spaces, so split after the last ')'.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if parent == Some(pid) {
            children.push(child);
        }
    }
    children
}

/// Messages sent at once to see that moto receives none of them.
const PROBES: usize = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nami_local_is_the_only_consumer_and_ctrl_c_stops_every_process() {
    let deployed = deploy("e2e-cli", "").await;
    let sqs = aws_sdk_sqs::Client::new(&deployed.sdk);
    let pipeline = nami_dataplane::discover(&deployed.sdk, &deployed.name)
        .await
        .unwrap();
    assert!(pipeline.mapping.enabled, "the mapping is enabled in moto");

    // With the mapping enabled, moto itself would hand every message sent to the function, inside
    // SendMessage (moto invokes a queue's event source mappings before it answers); its launcher
    // keeps it from doing so — also when many senders send at once, as webhooks arrive — so
    // nothing has touched these messages when SendMessage returns.
    let mut senders = tokio::task::JoinSet::new();
    for n in 0..PROBES {
        let (sqs, url) = (sqs.clone(), pipeline.queue.url.clone());
        senders.spawn(async move {
            sqs.send_message()
                .queue_url(url)
                .message_body(format!("probe {n}"))
                .send()
                .await
                .unwrap();
        });
    }
    senders.join_all().await;
    let mut counts = std::collections::BTreeMap::new();
    while counts.values().sum::<usize>() < PROBES {
        let received = sqs
            .receive_message()
            .queue_url(&pipeline.queue.url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        assert!(!received.is_empty(), "probes missing: {counts:?}");
        for message in received {
            let count = (message.attributes.as_ref())
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .cloned()
                .unwrap_or_default();
            *counts.entry(count).or_insert(0) += 1;
            sqs.delete_message()
                .queue_url(&pipeline.queue.url)
                .receipt_handle(message.receipt_handle.unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    assert_eq!(
        counts,
        std::collections::BTreeMap::from([("1".to_owned(), PROBES)]),
        "every first receive is ours"
    );

    let work = nami_harness::workspace_root().join("target/e2e");
    let mut local = NamiLocal::start(
        &[
            "--pipeline".as_ref(),
            deployed.name.as_ref(),
            "--endpoint".as_ref(),
            deployed.moto.endpoint().as_ref(),
            "--artifacts".as_ref(),
            nami_harness::workspace_root()
                .join("target/lambda")
                .as_os_str(),
            "--work-dir".as_ref(),
            work.as_os_str(),
        ],
        &work,
    )
    .unwrap();
    let url = local.ingress_url.clone();

    let burst = Burst::github(SECRET, "c", 5, 0, 0, false);
    let answers = send_all(&url, &burst.webhooks, 2, |_| {}).await;
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    let started = Instant::now();
    while deployed.stored_ids().await.len() < 5 {
        assert!(started.elapsed() < Duration::from_secs(30), "not stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let functions = children_of(local.pid());
    assert!(
        functions.len() >= 2,
        "both functions run as child processes: {functions:?}"
    );

    let stdout = local.stop().unwrap();
    assert!(stdout.contains("webhooks: 5 accepted"), "{stdout}");
    for pid in functions {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "function process {pid} outlived nami-local"
        );
    }
}
