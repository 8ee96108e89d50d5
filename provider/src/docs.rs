//! Registry documentation rendered from the schemas: one page per resource and data source, plus
//! the provider's index, each with its example from `examples/` (the layout HashiCorp's
//! tfplugindocs uses). A test fails when the checked-in pages differ from what this renders.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use tf_provider::schema::{
    Attribute, AttributeConstraint, AttributeType, Block, NestedBlock, Schema,
};
use tf_provider::{DataSource, Diagnostics};

/// Every page: (path under the repository, text).
pub fn pages(root: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let clients = Default::default();
    let mut diags = Diagnostics::default();
    let data_sources = [
        (
            "nami_webhook_pipeline",
            crate::data_sources::PipelineDataSource::new(std::sync::Arc::clone(&clients))
                .schema(&mut diags),
        ),
        (
            "nami_webhook_pipelines",
            crate::data_sources::PipelinesDataSource::new(clients).schema(&mut diags),
        ),
    ];
    let example = |path: &str| std::fs::read_to_string(root.join(path));
    let mut pages = vec![
        (
            PathBuf::from("docs/index.md"),
            index(
                &crate::provider::schema(),
                &example("examples/provider/provider.tf")?,
            ),
        ),
        (
            PathBuf::from("docs/resources/webhook_pipeline.md"),
            resource(
                "nami_webhook_pipeline",
                &crate::pipeline::schema::schema(),
                &example("examples/resources/nami_webhook_pipeline/resource.tf")?,
                &pipeline_sections(&example(
                    "examples/resources/nami_webhook_pipeline/import.sh",
                )?),
            ),
        ),
        (
            PathBuf::from("docs/resources/mongodb_store.md"),
            resource(
                "nami_mongodb_store",
                &crate::mongodb_store::state::schema(),
                &example("examples/resources/nami_mongodb_store/resource.tf")?,
                &store_sections(&example("examples/resources/nami_mongodb_store/import.sh")?),
            ),
        ),
    ];
    for (name, schema) in data_sources {
        let schema = schema.expect("data source schemas are static");
        let short = name.trim_start_matches("nami_");
        let example = example(&format!("examples/data-sources/{name}/data-source.tf"))?;
        pages.push((
            PathBuf::from(format!("docs/data-sources/{short}.md")),
            data_source(name, &schema, &example),
        ));
    }
    Ok(pages)
}

fn front_matter(title: &str, description: &str) -> String {
    let first = description
        .split(". ")
        .next()
        .unwrap_or(description)
        .trim_end_matches('.');
    format!("---\npage_title: \"{title}\"\nsubcategory: \"\"\ndescription: |-\n  {first}.\n---\n\n")
}

fn kind(attribute: &Attribute) -> &'static str {
    match attribute.constraint {
        AttributeConstraint::Required => "Required",
        AttributeConstraint::Optional | AttributeConstraint::OptionalComputed => "Optional",
        AttributeConstraint::Computed => "Read-only",
    }
}

/// A type as HCL writes it, object fields sorted (the schema holds them in a `HashMap`).
fn type_name(attr_type: &AttributeType) -> String {
    match attr_type {
        AttributeType::String => "String".into(),
        AttributeType::Number => "Number".into(),
        AttributeType::Bool => "Boolean".into(),
        AttributeType::Any => "Dynamic".into(),
        AttributeType::List(inner) => format!("List of {}", type_name(inner)),
        AttributeType::Set(inner) => format!("Set of {}", type_name(inner)),
        AttributeType::Map(inner) => format!("Map of {}", type_name(inner)),
        AttributeType::Object(fields) => {
            let mut fields: Vec<_> = fields
                .iter()
                .map(|(name, t)| format!("{name}: {}", type_name(t)))
                .collect();
            fields.sort();
            format!("Object {{ {} }}", fields.join(", "))
        }
        other => other.to_string(),
    }
}

/// One line per attribute: `- `name` (Type, Required|Optional, Sensitive) Description`.
fn attribute_lines(out: &mut String, block: &Block, filter: impl Fn(&Attribute) -> bool) {
    let mut names: Vec<_> = block.attributes.iter().filter(|(_, a)| filter(a)).collect();
    names.sort_by_key(|(name, _)| name.as_str());
    for (name, attribute) in names {
        let mut tags = vec![type_name(&attribute.attr_type), kind(attribute).to_owned()];
        if attribute.sensitive {
            tags.push("Sensitive".to_owned());
        }
        let _ = writeln!(
            out,
            "- `{name}` ({}) {}",
            tags.join(", "),
            attribute.description.content
        );
    }
}

fn nested_blocks(out: &mut String, block: &Block, parent: &str) {
    let mut blocks: Vec<_> = block.blocks.iter().collect();
    blocks.sort_by_key(|(name, _)| name.as_str());
    for (name, nested) in blocks {
        let (mode, inner) = match nested {
            NestedBlock::Single(b) => ("required, exactly one", b),
            NestedBlock::Group(b) | NestedBlock::Optional(b) => ("optional, at most one", b),
            NestedBlock::List(b) | NestedBlock::Set(b) | NestedBlock::Map(b) => {
                ("optional, any number", b)
            }
        };
        let _ = writeln!(
            out,
            "\n### `{parent}{name}` block ({mode})\n\n{}\n",
            inner.description.content
        );
        attribute_lines(out, inner, |_| true);
        nested_blocks(out, inner, &format!("{parent}{name}."));
    }
}

/// A resource's page: its description, example, arguments and attributes, then `sections`
/// (timeouts, import and what is particular to it).
fn resource(name: &str, schema: &Schema, example: &str, sections: &str) -> String {
    let block = &schema.block;
    let mut out = front_matter(
        &format!("{name} Resource - nami"),
        &block.description.content,
    );
    let _ = writeln!(
        out,
        "# {name} (Resource)\n\n{}\n",
        block.description.content
    );
    let _ = writeln!(out, "## Example Usage\n\n```terraform\n{}```\n", example);
    out.push_str("## Argument Reference\n\n");
    attribute_lines(&mut out, block, |a| {
        a.constraint != AttributeConstraint::Computed
    });
    nested_blocks(&mut out, block, "");
    out.push_str("\n## Attribute Reference\n\nIn addition to the arguments above:\n\n");
    attribute_lines(&mut out, block, |a| {
        a.constraint == AttributeConstraint::Computed
    });
    out.push_str(sections);
    out
}

/// What the pipeline's page says after its attributes.
fn pipeline_sections(import: &str) -> String {
    let mut out = String::new();
    out.push_str(
        "\n## Timeouts\n\nThe `timeouts` block bounds `create`, `update` and `delete` (default `30m` each), including \
         waits for IAM propagation and Lambda updates, and (`delete`) the wait for the queue to drain.\n\n\
         ## Destroy keeps queued data\n\nWithout `force_destroy`, destroy — and every replacement (a new `name`, \
         network or store kind) — never deletes a message: when the dead-letter queue holds messages it refuses \
         before touching anything; when the queue holds messages it removes the API first (no webhook is \
         acknowledged any more), waits up to half of `timeouts.delete` for the post-queue function to drain the \
         queue, and then deletes the rest — or, if either queue still holds messages, stops there with an error \
         naming the count in each queue and the ways out (let it drain, redrive the dead-letter queue, or set \
         `force_destroy = true`, apply, and destroy). The queue keeps messages 14 days by default, the dead-letter \
         queue at least as long (SQS counts a message's age from its first enqueue, also in the dead-letter queue).\n\n\
         ## Logs\n\nEach function logs to `/aws/lambda/nami-<name>-pre-queue` or `…-post-queue` (Lambda's default \
         names), which the pipeline makes before its functions with `log_retention_days` (default 30) and its tags; \
         the functions' roles may write streams in these groups only, and make no group. Destroy deletes them after \
         the functions, or with `retain_logs = true` keeps them tagged `nami:retained`. A group of that name Nami did \
         not tag (one Lambda made for an earlier function of the name) or one a destroyed pipeline retained is \
         adopted by the next create.\n\n\
         ## Alarms\n\nWith `alarms {}` (on unless `enabled = false`) the pipeline has five CloudWatch alarms, \
         named `nami-<name>-<what>` and listed in `alarm_arns`: `dead-letters` (the dead-letter queue's visible \
         messages, at least one), `oldest-message-age` (the queue's oldest message older than \
         `oldest_message_age_seconds`), `post-queue-errors` and `post-queue-throttles` (any in 5 minutes), and \
         `pre-queue-5xx` (the API stage's 5xx share over 5 minutes above `pre_queue_5xx_percent`). Each notifies \
         `actions` when it fires and when it recovers; missing data is not breaching. An alarm deleted behind \
         the provider's back is made again by the next apply; one changed is put back. What to do when each \
         fires: the operations guide (`docs/guides/operations.md`).\n\n\
         ## Dashboard\n\nWith `dashboard` (on unless `false`) the pipeline has a CloudWatch dashboard, \
         `nami-<name>`, at `dashboard_url`: webhooks accepted, stored and rejected (the functions' metrics, \
         namespace `Nami`), the API's requests and errors, the queue's depth and oldest message, the \
         dead-letter queue, both functions' durations, errors, throttles and concurrency, the store's insert \
         latency and outcomes, and the alarms. Dashboards take no tags: the pipeline's name and owner token \
         are written in its first widget, and a dashboard of that name without them is not the pipeline's \
         (a create refuses to take it over). One edited or deleted by hand reads as `dashboard = false` in \
         the plan, and the apply puts it back.\n",
    );
    let _ = write!(
        out,
        "\n## Import\n\nA pipeline is imported by its name; every id, setting and the signature and store \
         configuration are read back from AWS (a custom `artifact` path is not recoverable: its hash is).\n\n\
         ## Ownership\n\nEvery object carries the tags `nami:pipeline` (the name) and `nami:owner` (`owner_token`); \
         the provider updates and deletes only objects carrying its state's token. A create whose name a complete \
         pipeline (or an object Nami did not tag for it) already holds fails before creating anything, naming the \
         objects and their owner; the leftovers of a create that was interrupted (a killed `terraform apply`) are \
         adopted by the next apply instead of being made twice. Do not create one pipeline name from two \
         configurations at the same moment: both would see the name free.\n\n\
         ```shell\n{import}```\n"
    );
    out
}

/// What the store's page says after its attributes.
fn store_sections(import: &str) -> String {
    format!(
        "\n## Timeouts\n\nThe `timeouts` block bounds `create`, `update` and `delete` (default `30m` each), including \
         waits for IAM propagation, the instance and the volume.\n\n\
         ## Data\n\nThe data is on its own encrypted EBS volume, attached to the instance: a new `instance_type` or \
         `image` replaces the instance and re-attaches the same volume; `volume_size` only grows (the file system \
         follows within minutes); destroy keeps the volume unless `retain_volume = false`, tagged `nami:retained`, \
         and a later store (or pipeline) gets its data back with `volume_id`. With `snapshot_retention_days` Data \
         Lifecycle Manager snapshots it daily.\n\n\
         ## Ownership\n\nEvery object is named `nami-store-<name>…` and carries the tags `nami:store` (the name) \
         and `nami:owner` (`owner_token`). No pipeline may be named `store-…`, so a store's objects and a \
         pipeline's never share a name.\n\n\
         ## Import\n\nA store is imported by its name: its instance, data volume, group, role, root secret, snapshots \
         and (when it has one) its own network are found by their tags and names, its settings read back from the \
         instance, its user data and the volume.\n\n```shell\n{import}```\n"
    )
}

fn data_source(name: &str, schema: &Schema, example: &str) -> String {
    let block = &schema.block;
    let mut out = front_matter(
        &format!("{name} Data Source - nami"),
        &block.description.content,
    );
    let _ = writeln!(
        out,
        "# {name} (Data Source)\n\n{}\n",
        block.description.content
    );
    let _ = writeln!(out, "## Example Usage\n\n```terraform\n{}```\n", example);
    out.push_str("## Argument Reference\n\n");
    attribute_lines(&mut out, block, |a| {
        a.constraint != AttributeConstraint::Computed
    });
    out.push_str("\n## Attribute Reference\n\n");
    attribute_lines(&mut out, block, |a| {
        a.constraint == AttributeConstraint::Computed
    });
    out
}

fn index(schema: &Schema, example: &str) -> String {
    let block = &schema.block;
    let mut out = front_matter("nami Provider", &block.description.content);
    let _ = writeln!(out, "# nami Provider\n\n{}\n", block.description.content);
    let _ = writeln!(out, "## Example Usage\n\n```terraform\n{}```\n", example);
    out.push_str(
        "Credentials come from `access_key`/`secret_key`/`token`, else `profile`, else the standard AWS chain \
         (environment, shared files, instance or container role). The `s3` endpoint is accepted for compatibility \
         with the AWS provider's block; Nami uploads function code directly and does not use S3.\n\n\
         Which services a pipeline calls: `sts` (at configure), `apigateway`, `iam`, `lambda`, `logs` (the \
         functions' log groups), `cloudwatch` (the alarms and the dashboard, unless both are off), `sqs` and `secretsmanager` (the secrets the pipeline keeps: its connection string or the managed store's passwords, \
         and a `signature.secret` given by value) always; `ec2` for a pipeline in a VPC (`network {}` or the managed \
         store); `ssm` for the managed store (its machine image); `dynamodb` for a `signature.replay_window_seconds`. \
         With an `endpoints {}` block, every service a pipeline calls must be in it: a plan fails naming the ones left \
         out, rather than sending them to AWS itself.\n\n## Schema\n\n",
    );
    attribute_lines(&mut out, block, |_| true);
    nested_blocks(&mut out, block, "");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_in_docs_match_the_schemas() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for (path, expected) in pages(&root).unwrap() {
            let actual = std::fs::read_to_string(root.join(&path)).unwrap_or_default();
            assert!(
                actual == expected,
                "{} is stale or missing: run `make docs` and commit it",
                path.display()
            );
        }
    }

    #[test]
    fn every_resource_attribute_is_documented_and_nothing_else() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let page = std::fs::read_to_string(root.join("docs/resources/webhook_pipeline.md"))
            .unwrap_or_default();
        let schema = crate::pipeline::schema::schema();
        let mut names: Vec<String> = schema.block.attributes.keys().cloned().collect();
        for (block, nested) in &schema.block.blocks {
            let (NestedBlock::Single(b)
            | NestedBlock::Group(b)
            | NestedBlock::Optional(b)
            | NestedBlock::List(b)
            | NestedBlock::Set(b)
            | NestedBlock::Map(b)) = nested;
            names.push(block.clone());
            names.extend(b.attributes.keys().cloned());
        }
        for name in &names {
            assert!(
                page.contains(&format!("`{name}`")),
                "{name} is not documented"
            );
        }
        for line in page.lines().filter(|l| l.starts_with("- `")) {
            let documented = line[3..].split('`').next().unwrap();
            assert!(
                names.iter().any(|n| n == documented),
                "the docs name {documented}, which the schema does not have"
            );
        }
    }
}
