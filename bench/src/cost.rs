//! 8. docs/cost.md: what a month of webhooks costs on AWS in three shapes — Nami as deployed,
//!    the original Nami (Node.js 128 MB, batch 1, reserved concurrency 5) and API Gateway straight
//!    into SQS — from AWS's published on-demand prices (us-east-1) and the durations, log volume
//!    and batch rates this run measured.

use std::fmt::Write as _;

use serde_json::Value;

/// A price, with where it is published.
struct Price {
    usd: f64,
    per: &'static str,
}

// us-east-1 on-demand prices as published on each service's pricing page (checked 2026-12; no
// free tier counted). Change them here; the model follows.
const API_GATEWAY_REST: Price = Price {
    usd: 3.50,
    per: "million REST API requests (first 333 M a month; aws.amazon.com/api-gateway/pricing)",
};
const LAMBDA_REQUESTS: Price = Price {
    usd: 0.20,
    per: "million Lambda requests (aws.amazon.com/lambda/pricing)",
};
const LAMBDA_GB_SECOND: Price = Price {
    usd: 0.000_016_666_7,
    per: "GB-second of x86_64 Lambda duration, billed per 1 ms",
};
const SQS_REQUESTS: Price = Price {
    usd: 0.40,
    per: "million standard-queue requests, each 64 KB chunk a request (aws.amazon.com/sqs/pricing)",
};
const EC2_T3_SMALL_HOUR: Price = Price {
    usd: 0.0208,
    per: "hour of a t3.small, Linux on demand (aws.amazon.com/ec2/pricing/on-demand)",
};
const EBS_GP3_GB_MONTH: Price = Price {
    usd: 0.08,
    per: "GB-month of gp3 (aws.amazon.com/ebs/pricing)",
};
const INTERFACE_ENDPOINT_AZ_HOUR: Price = Price {
    usd: 0.01,
    per: "hour of an interface VPC endpoint in one AZ (aws.amazon.com/privatelink/pricing)",
};
const SECRET_MONTH: Price = Price {
    usd: 0.40,
    per: "Secrets Manager secret a month (aws.amazon.com/secrets-manager/pricing)",
};
const LOGS_INGESTED_GB: Price = Price {
    usd: 0.50,
    per: "GB of CloudWatch Logs ingested (aws.amazon.com/cloudwatch/pricing)",
};

const ALARM_MONTH: Price = Price {
    usd: 0.10,
    per: "standard-resolution CloudWatch alarm metric a month (aws.amazon.com/cloudwatch/pricing)",
};
const DASHBOARD_MONTH: Price = Price {
    usd: 3.00,
    per: "CloudWatch dashboard a month, past the first three (aws.amazon.com/cloudwatch/pricing)",
};

const HOURS_A_MONTH: f64 = 730.0;
const MEMORY_GB: f64 = 128.0 / 1024.0;
/// Empty long polls of an event source mapping at rest: five pollers, one 20 s poll each.
const IDLE_POLLS_A_MONTH: f64 = 5.0 * 3.0 * 60.0 * HOURS_A_MONTH;

/// The measured inputs of the model.
struct Measured {
    pre_queue_ms: f64,
    node_pre_queue_ms: f64,
    node_post_queue_ms: f64,
    /// Post-queue batch duration, ms, at batch size 10.
    post_batch_10_ms: f64,
    log_bytes_per_webhook: f64,
}

fn measured(results: &Value) -> Option<Measured> {
    let runtime = |label: &str| {
        results["cold_start"]["runtimes"]
            .as_array()?
            .iter()
            .find(|r| r["runtime"] == label)?["warm_p50_ms"]
            .as_f64()
    };
    let batch_10 = results["drain"]["sizes"]
        .as_array()?
        .iter()
        .find(|s| s["batch_size"] == 10)?["function_docs_per_s"]["median"]
        .as_f64()?;
    Some(Measured {
        pre_queue_ms: results["ack"]["handler_p50_ms"]["median"].as_f64()?,
        node_pre_queue_ms: runtime("pre-queue (Node.js)")?,
        node_post_queue_ms: runtime("post-queue (Node.js)")?,
        post_batch_10_ms: 10.0 / batch_10 * 1000.0,
        log_bytes_per_webhook: results["ack"]["log_bytes_per_invocation"].as_f64()?,
    })
}

/// Dollars a month, by line, for `webhooks` a month.
fn shape(webhooks: f64, m: &Measured, kind: Shape) -> Vec<(&'static str, f64)> {
    let millions = webhooks / 1e6;
    let billed = |ms: f64| ms.ceil().max(1.0) / 1000.0;
    let lambda = |invocations: f64, ms: f64| {
        invocations / 1e6 * LAMBDA_REQUESTS.usd
            + invocations * billed(ms) * MEMORY_GB * LAMBDA_GB_SECOND.usd
    };
    let logs = |bytes: f64| webhooks * bytes / 1e9 * LOGS_INGESTED_GB.usd;
    let store = HOURS_A_MONTH * EC2_T3_SMALL_HOUR.usd + (8.0 + 20.0) * EBS_GP3_GB_MONTH.usd;
    let endpoint = 2.0 * HOURS_A_MONTH * INTERFACE_ENDPOINT_AZ_HOUR.usd;
    let secrets = 3.0 * SECRET_MONTH.usd;
    match kind {
        Shape::Nami => vec![
            ("API Gateway", millions * API_GATEWAY_REST.usd),
            ("pre-queue Lambda (Rust)", lambda(webhooks, m.pre_queue_ms)),
            // Send, then receive and delete 10 at a time, and the idle polls.
            (
                "SQS",
                (webhooks * 1.2 + IDLE_POLLS_A_MONTH) / 1e6 * SQS_REQUESTS.usd,
            ),
            (
                "post-queue Lambda (Rust, batch 10)",
                lambda(webhooks / 10.0, m.post_batch_10_ms),
            ),
            ("CloudWatch Logs", logs(m.log_bytes_per_webhook * 1.1)),
            (
                "CloudWatch: 5 alarms and the dashboard",
                5.0 * ALARM_MONTH.usd + DASHBOARD_MONTH.usd,
            ),
            ("managed store: t3.small, 8 + 20 GiB gp3", store),
            (
                "its Secrets Manager endpoint (2 AZs) and 3 secrets",
                endpoint + secrets,
            ),
        ],
        Shape::Original => vec![
            ("API Gateway", millions * API_GATEWAY_REST.usd),
            (
                "pre-queue Lambda (Node.js)",
                lambda(webhooks, m.node_pre_queue_ms),
            ),
            // Batch 1: a receive and a delete per message.
            (
                "SQS",
                (webhooks * 3.0 + IDLE_POLLS_A_MONTH) / 1e6 * SQS_REQUESTS.usd,
            ),
            (
                "post-queue Lambda (Node.js, batch 1)",
                lambda(webhooks, m.node_post_queue_ms),
            ),
            ("CloudWatch Logs", logs(m.log_bytes_per_webhook * 2.0)),
            ("store: MongoDB on a t3.small, 8 + 20 GiB gp3", store),
        ],
        Shape::Direct => vec![
            (
                "API Gateway (AWS integration to SQS, no signature check)",
                millions * API_GATEWAY_REST.usd,
            ),
            (
                "SQS",
                (webhooks * 1.2 + IDLE_POLLS_A_MONTH) / 1e6 * SQS_REQUESTS.usd,
            ),
            (
                "post-queue Lambda (Rust, batch 10)",
                lambda(webhooks / 10.0, m.post_batch_10_ms),
            ),
            ("CloudWatch Logs", logs(m.log_bytes_per_webhook * 0.1)),
            ("store: MongoDB on a t3.small, 8 + 20 GiB gp3", store),
        ],
    }
}

#[derive(Clone, Copy)]
enum Shape {
    Nami,
    Original,
    Direct,
}

/// The whole of docs/cost.md, or why it cannot be written from these results.
pub(crate) fn render(results: &Value, provenance: &str) -> String {
    let Some(m) = measured(results) else {
        return format!(
            "# Cost\n\n{provenance}\n\nThe model needs the ack, drain and cold-start sections; run a full `make bench`.\n"
        );
    };
    let mut text = String::new();
    let _ = writeln!(text, "# What a month of webhooks costs on AWS\n");
    let _ = writeln!(text, "{provenance}\n");
    let _ = writeln!(
        text,
        "Written by `make bench` from AWS's published on-demand prices for us-east-1 (free tiers not counted) and \
         what the same run measured: the pre-queue function's handler time per webhook ({:.1} ms, billed {} ms), \
         the Node.js versions' warm durations ({:.1} ms and {:.1} ms), the post-queue function's time per batch of 10 \
         2 KB webhooks ({:.1} ms), and {:.0} bytes of logs per webhook. All functions at 128 MB, x86_64. Locally SQS \
         and MongoDB are emulators on the same two cores: on AWS the SendMessage inside the pre-queue function is a \
         network call of a few milliseconds, so treat the Lambda lines as a lower bound — they are small beside API \
         Gateway's either way.\n",
        m.pre_queue_ms,
        m.pre_queue_ms.ceil(),
        m.node_pre_queue_ms,
        m.node_post_queue_ms,
        m.post_batch_10_ms,
        m.log_bytes_per_webhook
    );
    let _ = writeln!(
        text,
        "Three shapes: **Nami** as deployed (Rust functions, batch 10, the managed store with its Secrets Manager \
         endpoint); **the original Nami** (Node.js 128 MB, batch 1, reserved concurrency 5 — concurrency costs nothing \
         itself, but batch 1 makes a receive, a delete and an invocation per webhook); **API Gateway → SQS directly** \
         (no pre-queue function, so no signature check, no delivery id and no envelope: cheaper, and it stores \
         forgeries).\n"
    );
    for webhooks in [1e6, 1e7, 1e8] {
        let _ = writeln!(text, "## {} webhooks a month\n", count(webhooks));
        let _ = writeln!(
            text,
            "| line | Nami | original Nami | API Gateway → SQS |\n| --- | ---: | ---: | ---: |"
        );
        let shapes = [Shape::Nami, Shape::Original, Shape::Direct].map(|s| shape(webhooks, &m, s));
        let mut names: Vec<&str> = Vec::new();
        for lines in &shapes {
            for (name, _) in lines {
                if !names.contains(name) {
                    names.push(name);
                }
            }
        }
        for name in names {
            let cell = |lines: &Vec<(&str, f64)>| {
                lines
                    .iter()
                    .find(|l| l.0 == name)
                    .map_or("—".to_owned(), |l| format!("${:.2}", l.1))
            };
            let _ = writeln!(
                text,
                "| {name} | {} | {} | {} |",
                cell(&shapes[0]),
                cell(&shapes[1]),
                cell(&shapes[2])
            );
        }
        let totals = shapes
            .each_ref()
            .map(|lines| lines.iter().map(|l| l.1).sum::<f64>());
        let _ = writeln!(
            text,
            "| **total** | **${:.2}** | **${:.2}** | **${:.2}** |",
            totals[0], totals[1], totals[2]
        );
        let _ = writeln!(
            text,
            "| per million webhooks | ${:.2} | ${:.2} | ${:.2} |\n",
            totals[0] / webhooks * 1e6,
            totals[1] / webhooks * 1e6,
            totals[2] / webhooks * 1e6
        );
    }
    let _ = writeln!(text, "## Prices used\n");
    for price in [
        API_GATEWAY_REST,
        LAMBDA_REQUESTS,
        LAMBDA_GB_SECOND,
        SQS_REQUESTS,
        EC2_T3_SMALL_HOUR,
        EBS_GP3_GB_MONTH,
        INTERFACE_ENDPOINT_AZ_HOUR,
        SECRET_MONTH,
        LOGS_INGESTED_GB,
        ALARM_MONTH,
        DASHBOARD_MONTH,
    ] {
        let _ = writeln!(text, "- ${} per {}", price.usd, price.per);
    }
    let _ = writeln!(
        text,
        "\nAPI Gateway dominates every shape above a million webhooks a month; what Nami's functions add over the \
         direct shape is the signature check and the envelope, for the Lambda lines. The store is a fixed cost: a \
         store of your own (`store {{ mongodb_uri = … }}`) replaces the last two lines of the Nami column."
    );
    text
}

fn count(webhooks: f64) -> String {
    match webhooks {
        w if w >= 1e8 => "100 million".into(),
        w if w >= 1e7 => "10 million".into(),
        _ => "1 million".into(),
    }
}
