//! Ownership: which objects a pipeline may act on. Every object a pipeline creates carries its
//! name ([`PIPELINE_TAG`]) and the owner token its create generated ([`OWNER_TAG`]); a create
//! marks both queues [`COMPLETE_TAG`] as its last step. The provider updates or deletes an object
//! only by the id recorded in state and only when it carries the state's token.
//!
//! Before a create makes anything, [`judge`] reads what already answers to the pipeline's name:
//! nothing (free), the leftovers of an interrupted create (adopted), or objects of a complete
//! pipeline or of someone else (the name is taken: refused before anything is created).

use std::collections::BTreeMap;
use std::fmt;

use crate::components::alarms::Alarm;
use nami_contract::naming::{COMPLETE_TAG, Function, OWNER_TAG, PIPELINE_TAG, Part, RETAINED_TAG};

/// The kind of an object a pipeline owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The main SQS queue.
    Queue,
    /// The dead-letter queue.
    DeadLetterQueue,
    /// A function's IAM role.
    Role(Function),
    /// A Lambda function.
    Function(Function),
    /// The REST API.
    Api,
    /// The managed VPC.
    Vpc,
    /// A managed subnet.
    Subnet,
    /// The managed internet gateway.
    InternetGateway,
    /// The managed route table.
    RouteTable,
    /// The managed network's Secrets Manager interface endpoint.
    VpcEndpoint,
    /// A security group (the function's or the store's).
    SecurityGroup,
    /// The managed store's instance.
    Instance,
    /// The managed store's data volume.
    Volume,
    /// A Secrets Manager secret the pipeline keeps, by its name's part: a signing secret given
    /// by value, or one of the managed store's passwords.
    Secret(Part),
    /// The managed store's IAM role (its instance profile, of the same name, hangs on it).
    StoreRole,
    /// The DynamoDB table of a replay window.
    ReplayTable,
    /// The IAM role the managed store's snapshot policy runs as.
    SnapshotRole,
    /// The Data Lifecycle Manager policy snapshotting the managed store's data volume.
    SnapshotPolicy,
    /// A function's CloudWatch Logs group.
    LogGroup(Function),
    /// A CloudWatch alarm.
    Alarm(Alarm),
    /// The CloudWatch dashboard (its tags are written in its body).
    Dashboard,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Queue => f.write_str("SQS queue"),
            Kind::DeadLetterQueue => f.write_str("SQS dead-letter queue"),
            Kind::Role(function) => write!(f, "IAM role ({})", function.slug()),
            Kind::Function(function) => write!(f, "Lambda function ({})", function.slug()),
            Kind::Api => f.write_str("REST API"),
            Kind::Vpc => f.write_str("VPC"),
            Kind::Subnet => f.write_str("subnet"),
            Kind::InternetGateway => f.write_str("internet gateway"),
            Kind::RouteTable => f.write_str("route table"),
            Kind::VpcEndpoint => f.write_str("interface endpoint"),
            Kind::SecurityGroup => f.write_str("security group"),
            Kind::Instance => f.write_str("EC2 instance"),
            Kind::Volume => f.write_str("EBS volume"),
            Kind::Secret(part) => write!(f, "Secrets Manager secret ({})", part.suffix()),
            Kind::StoreRole => f.write_str("IAM role (store)"),
            Kind::ReplayTable => f.write_str("DynamoDB table"),
            Kind::SnapshotRole => f.write_str("IAM role (snapshots)"),
            Kind::SnapshotPolicy => f.write_str("Data Lifecycle Manager policy"),
            Kind::LogGroup(function) => write!(f, "log group ({})", function.slug()),
            Kind::Alarm(alarm) => write!(f, "CloudWatch alarm ({})", alarm.key()),
            Kind::Dashboard => f.write_str("CloudWatch dashboard"),
        }
    }
}

/// An object found by its pipeline's name or tags, with every tag it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    /// What it is.
    pub kind: Kind,
    /// Its id (URL for a queue, ARN for a role or function).
    pub id: String,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

impl Tagged {
    /// An object of `kind` with `tags`.
    pub fn new(
        kind: Kind,
        id: impl Into<String>,
        tags: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        Tagged {
            kind,
            id: id.into(),
            tags: tags.into_iter().collect(),
        }
    }

    /// The pipeline it was created for.
    pub fn pipeline(&self) -> Option<&str> {
        self.tags.get(PIPELINE_TAG).map(String::as_str)
    }

    /// The owner token it carries.
    pub fn owner(&self) -> Option<&str> {
        self.tags.get(OWNER_TAG).map(String::as_str)
    }

    /// Whether it belongs to a pipeline whose create finished.
    pub fn is_complete(&self) -> bool {
        self.tags.contains_key(COMPLETE_TAG)
    }

    /// Whether it is a data volume or log group kept from a destroyed pipeline.
    pub fn is_retained(&self) -> bool {
        self.tags.contains_key(RETAINED_TAG)
    }

    /// Whether a create takes it over rather than counting it in the way or as a leftover: a
    /// retained log group, or one Nami did not tag (Lambda made it for an earlier function of
    /// this name). Its logs are this name's; the create adopts it (see `components::logs`).
    pub fn is_adoptable_log_group(&self) -> bool {
        matches!(self.kind, Kind::LogGroup(_)) && (self.is_retained() || self.pipeline().is_none())
    }

    /// Whether pipeline `pipeline` with owner token `token` may act on it. A state without a
    /// token (written before tokens existed) owns what carries its pipeline's name.
    pub fn is_owned_by(&self, pipeline: &str, token: Option<&str>) -> bool {
        self.pipeline() == Some(pipeline) && token.is_none_or(|token| self.owner() == Some(token))
    }
}

impl fmt::Display for Tagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.id)
    }
}

/// What answers to a pipeline's name before its create.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim<'a> {
    /// Nothing: the create makes every object.
    Free,
    /// Objects of an earlier create of this name that did not finish: adopted.
    Leftovers(Vec<&'a Tagged>),
    /// Objects of a complete pipeline, or not made by Nami for this name: refused.
    Taken(NameTaken),
}

/// A pipeline's name is in use: its create is refused before it makes anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct NameTaken {
    /// The pipeline's name.
    pub pipeline: String,
    /// The owner token of the complete pipeline holding it, if that is what holds it.
    pub owner: Option<String>,
    /// The objects in the way.
    pub objects: Vec<String>,
}

impl fmt::Display for NameTaken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let holder = match &self.owner {
            Some(token) => format!("a complete Nami pipeline (owner token {token})"),
            None => "objects Nami did not create for this pipeline".to_owned(),
        };
        write!(
            f,
            "the pipeline name {:?} is taken by {holder}: {}. Nothing was created. Choose another \
             name, import that pipeline (terraform import … {}), or destroy it first.",
            self.pipeline,
            self.objects.join(", "),
            self.pipeline,
        )
    }
}

/// Decides what `found` (everything answering to `pipeline`'s name) means for a create.
/// Retained data volumes of destroyed pipelines are neither in the way nor leftovers; neither
/// are the log groups a create adopts.
pub fn judge<'a>(pipeline: &str, found: &'a [Tagged]) -> Claim<'a> {
    let live: Vec<&Tagged> = (found.iter())
        .filter(|t| !t.is_retained() && !t.is_adoptable_log_group())
        .collect();
    let complete = live.iter().find(|t| t.is_complete());
    let foreign = live.iter().any(|t| t.pipeline() != Some(pipeline));
    if complete.is_some() || foreign {
        return Claim::Taken(NameTaken {
            pipeline: pipeline.to_owned(),
            owner: complete.and_then(|t| t.owner()).map(str::to_owned),
            objects: live.iter().map(ToString::to_string).collect(),
        });
    }
    if live.is_empty() {
        Claim::Free
    } else {
        Claim::Leftovers(live)
    }
}

/// A fresh owner token (122 random bits, hex).
pub fn generate_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(kind: Kind, id: &str, tags: &[(&str, &str)]) -> Tagged {
        Tagged::new(
            kind,
            id,
            tags.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn a_complete_pipeline_takes_its_name() {
        let found = [
            tagged(
                Kind::DeadLetterQueue,
                "https://q/nami-victim-dlq",
                &[
                    (PIPELINE_TAG, "victim"),
                    (OWNER_TAG, "t1"),
                    (COMPLETE_TAG, "true"),
                ],
            ),
            tagged(
                Kind::Role(Function::PreQueue),
                "arn:r",
                &[(PIPELINE_TAG, "victim"), (OWNER_TAG, "t1")],
            ),
        ];
        let Claim::Taken(taken) = judge("victim", &found) else {
            panic!("taken expected");
        };
        assert_eq!(taken.owner.as_deref(), Some("t1"));
        let message = taken.to_string();
        assert!(message.contains("owner token t1"), "{message}");
        assert!(
            message.contains("SQS dead-letter queue https://q/nami-victim-dlq"),
            "{message}"
        );
        assert!(message.contains("IAM role (pre-queue) arn:r"), "{message}");
    }

    #[test]
    fn an_object_nami_did_not_tag_takes_the_name() {
        let found = [tagged(Kind::Queue, "https://q/nami-x", &[("team", "a")])];
        let Claim::Taken(taken) = judge("x", &found) else {
            panic!("taken expected");
        };
        assert_eq!(taken.owner, None);
        assert!(taken.to_string().contains("objects Nami did not create"));
    }

    #[test]
    fn an_interrupted_create_leaves_leftovers_and_retained_volumes_are_neither() {
        let leftover = tagged(
            Kind::Vpc,
            "vpc-1",
            &[(PIPELINE_TAG, "p"), (OWNER_TAG, "lost")],
        );
        let retained = tagged(
            Kind::Volume,
            "vol-1",
            &[
                (PIPELINE_TAG, "p"),
                (OWNER_TAG, "old"),
                (COMPLETE_TAG, "true"),
                (RETAINED_TAG, "true"),
            ],
        );
        assert_eq!(
            judge("p", &[leftover.clone(), retained.clone()]),
            Claim::Leftovers(vec![&leftover])
        );
        assert_eq!(judge("p", &[retained]), Claim::Free);
        assert_eq!(judge("p", &[]), Claim::Free);
        // Log groups Lambda made for an earlier function of the name, or a destroy retained.
        let lambdas = tagged(Kind::LogGroup(Function::PreQueue), "arn:lg", &[]);
        let kept = tagged(
            Kind::LogGroup(Function::PostQueue),
            "arn:lg2",
            &[
                (PIPELINE_TAG, "p"),
                (OWNER_TAG, "old"),
                (RETAINED_TAG, "true"),
            ],
        );
        assert_eq!(judge("p", &[lambdas, kept]), Claim::Free);
    }

    #[test]
    fn only_the_states_token_owns() {
        let object = tagged(Kind::Queue, "q", &[(PIPELINE_TAG, "p"), (OWNER_TAG, "t1")]);
        assert!(object.is_owned_by("p", Some("t1")));
        assert!(!object.is_owned_by("p", Some("t2")));
        assert!(!object.is_owned_by("other", Some("t1")));
        // A state from before tokens owns what carries its name.
        assert!(object.is_owned_by("p", None));
        assert!(!tagged(Kind::Queue, "q", &[]).is_owned_by("p", None));
    }
}
