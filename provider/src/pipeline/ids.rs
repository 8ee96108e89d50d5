//! The ids of the AWS objects a pipeline owns, typed and derived from state once. Create,
//! update, delete and read act on objects by these ids; `None` is an object that does not exist
//! (yet). [`Ids::record`] writes them back, so state always holds every object made so far.

use nami_contract::naming::{Function, Part};
use tf_provider::value::Value;

use crate::aws::AwsError;
use crate::components::alarms::{self, Alarm};
use crate::components::dashboard;
use crate::components::network::ManagedNetwork;
use crate::components::queue::QueueIds;
use crate::model::{PipelineState, StoreBlock, Str, str_list, strings, value_of};
use crate::ownership::{Kind, Tagged};

/// An id an earlier step should have recorded is missing: a bug in the order of steps, or state
/// edited by hand.
#[derive(Debug, thiserror::Error)]
#[error("{0} is not known: an earlier step did not record it")]
pub struct MissingId(pub &'static str);

/// Every object id of a pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ids {
    /// The REST API.
    pub api_id: Option<String>,
    /// Its `/webhook` resource.
    pub api_resource_id: Option<String>,
    /// The main queue.
    pub queue: Option<QueueIds>,
    /// The dead-letter queue.
    pub dlq: Option<QueueIds>,
    /// The pre-queue function's role.
    pub pre_queue_role_arn: Option<String>,
    /// The post-queue function's role.
    pub post_queue_role_arn: Option<String>,
    /// The pre-queue function.
    pub pre_queue_function_arn: Option<String>,
    /// The post-queue function.
    pub post_queue_function_arn: Option<String>,
    /// The event source mapping.
    pub mapping_id: Option<String>,
    /// The post-queue function's security group.
    pub security_group_id: Option<String>,
    /// The VPC the function (and store) run in: the user's or the managed one.
    pub vpc_id: Option<String>,
    /// Their subnets (empty: none).
    pub subnet_ids: Vec<String>,
    /// The managed network's internet gateway.
    pub internet_gateway_id: Option<String>,
    /// The managed network's route table.
    pub route_table_id: Option<String>,
    /// The managed network's endpoints' security group.
    pub endpoint_security_group_id: Option<String>,
    /// The managed network's Secrets Manager interface endpoint.
    pub secrets_endpoint_id: Option<String>,
    /// The managed store's security group.
    pub store_security_group_id: Option<String>,
    /// The managed store's instance.
    pub instance_id: Option<String>,
    /// The managed store's data volume.
    pub data_volume_id: Option<String>,
    /// The managed store's role (and instance profile).
    pub store_role_arn: Option<String>,
    /// The secret holding the managed store's root password.
    pub store_root_secret_arn: Option<String>,
    /// The secret holding the managed store's writer password.
    pub store_writer_secret_arn: Option<String>,
    /// The secret holding a signing secret given by value.
    pub signing_secret_arn: Option<String>,
    /// The secret holding a store connection string given by value.
    pub store_uri_secret_arn: Option<String>,
    /// The replay window's table.
    pub replay_table_arn: Option<String>,
    /// The role the managed store's snapshot policy runs as.
    pub snapshot_role_arn: Option<String>,
    /// The managed store's snapshot policy.
    pub snapshot_policy_id: Option<String>,
    /// The pre-queue function's log group.
    pub pre_queue_log_group_arn: Option<String>,
    /// The post-queue function's log group.
    pub post_queue_log_group_arn: Option<String>,
    /// The alarms that exist.
    pub alarm_arns: std::collections::BTreeMap<Alarm, String>,
    /// The dashboard's URL, when it exists.
    pub dashboard_url: Option<String>,
    /// Whether the VPC and subnets are the pipeline's own (the managed network), not the user's:
    /// from the configuration, so a network whose create was interrupted is still known as its.
    pub managed_network: bool,
}

fn id(value: &Str) -> Option<String> {
    value.as_ref_option().cloned()
}

fn queue_ids(url: &Str, arn: &Str) -> Option<QueueIds> {
    Some(QueueIds {
        url: id(url)?,
        arn: id(arn)?,
    })
}

impl Ids {
    /// The ids a state holds (null and unknown ones are `None`).
    pub fn from_state(state: &PipelineState) -> Ids {
        Ids {
            api_id: id(&state.api_id),
            api_resource_id: id(&state.api_resource_id),
            queue: queue_ids(&state.queue_url, &state.queue_arn),
            dlq: queue_ids(&state.dlq_url, &state.dlq_arn),
            pre_queue_role_arn: id(&state.pre_queue_role_arn),
            post_queue_role_arn: id(&state.post_queue_role_arn),
            pre_queue_function_arn: id(&state.pre_queue_function_arn),
            post_queue_function_arn: id(&state.post_queue_function_arn),
            mapping_id: id(&state.event_source_mapping_id),
            security_group_id: id(&state.security_group_id),
            vpc_id: id(&state.vpc_id),
            subnet_ids: strings(&state.subnet_ids),
            internet_gateway_id: id(&state.internet_gateway_id),
            route_table_id: id(&state.route_table_id),
            endpoint_security_group_id: id(&state.endpoint_security_group_id),
            secrets_endpoint_id: id(&state.secrets_endpoint_id),
            store_security_group_id: id(&state.store_security_group_id),
            instance_id: id(&state.instance_id),
            data_volume_id: id(&state.data_volume_id),
            store_role_arn: id(&state.store_role_arn),
            store_root_secret_arn: id(&state.store_root_secret_arn),
            store_writer_secret_arn: id(&state.store_writer_secret_arn),
            signing_secret_arn: id(&state.signing_secret_arn),
            store_uri_secret_arn: id(&state.store_uri_secret_arn),
            replay_table_arn: id(&state.replay_table_arn),
            snapshot_role_arn: id(&state.snapshot_role_arn),
            snapshot_policy_id: id(&state.snapshot_policy_id),
            pre_queue_log_group_arn: id(&state.pre_queue_log_group_arn),
            post_queue_log_group_arn: id(&state.post_queue_log_group_arn),
            alarm_arns: alarms::arns_from_state(state),
            dashboard_url: id(&state.dashboard_url),
            managed_network: state
                .store
                .as_ref_option()
                .is_some_and(StoreBlock::is_managed)
                && state
                    .network
                    .as_ref_option()
                    .is_none_or(|n| n.vpc_id.is_null()),
        }
    }

    /// Writes every id into `state`: `None` as null.
    pub fn record(&self, state: &mut PipelineState) {
        let queue = |ids: &Option<QueueIds>| {
            (
                value_of(ids.as_ref().map(|q| q.url.clone())),
                value_of(ids.as_ref().map(|q| q.arn.clone())),
            )
        };
        (state.queue_url, state.queue_arn) = queue(&self.queue);
        (state.dlq_url, state.dlq_arn) = queue(&self.dlq);
        state.api_id = value_of(self.api_id.clone());
        state.api_resource_id = value_of(self.api_resource_id.clone());
        state.pre_queue_role_arn = value_of(self.pre_queue_role_arn.clone());
        state.post_queue_role_arn = value_of(self.post_queue_role_arn.clone());
        state.pre_queue_function_arn = value_of(self.pre_queue_function_arn.clone());
        state.post_queue_function_arn = value_of(self.post_queue_function_arn.clone());
        state.event_source_mapping_id = value_of(self.mapping_id.clone());
        state.security_group_id = value_of(self.security_group_id.clone());
        state.vpc_id = value_of(self.vpc_id.clone());
        state.subnet_ids = if self.subnet_ids.is_empty() {
            Value::Null
        } else {
            str_list(&self.subnet_ids)
        };
        state.internet_gateway_id = value_of(self.internet_gateway_id.clone());
        state.route_table_id = value_of(self.route_table_id.clone());
        state.endpoint_security_group_id = value_of(self.endpoint_security_group_id.clone());
        state.secrets_endpoint_id = value_of(self.secrets_endpoint_id.clone());
        state.store_security_group_id = value_of(self.store_security_group_id.clone());
        state.instance_id = value_of(self.instance_id.clone());
        state.data_volume_id = value_of(self.data_volume_id.clone());
        state.store_role_arn = value_of(self.store_role_arn.clone());
        state.store_root_secret_arn = value_of(self.store_root_secret_arn.clone());
        state.store_writer_secret_arn = value_of(self.store_writer_secret_arn.clone());
        state.signing_secret_arn = value_of(self.signing_secret_arn.clone());
        state.store_uri_secret_arn = value_of(self.store_uri_secret_arn.clone());
        state.replay_table_arn = value_of(self.replay_table_arn.clone());
        state.snapshot_role_arn = value_of(self.snapshot_role_arn.clone());
        state.snapshot_policy_id = value_of(self.snapshot_policy_id.clone());
        state.pre_queue_log_group_arn = value_of(self.pre_queue_log_group_arn.clone());
        state.post_queue_log_group_arn = value_of(self.post_queue_log_group_arn.clone());
        alarms::record(&self.alarm_arns, state);
        state.dashboard_url = value_of(self.dashboard_url.clone());
    }

    /// The URLs of the main queue and the dead-letter queue, where they exist.
    pub fn queue_urls(&self) -> (Option<&str>, Option<&str>) {
        (
            self.queue.as_ref().map(|q| q.url.as_str()),
            self.dlq.as_ref().map(|q| q.url.as_str()),
        )
    }

    /// Every secret of the pipeline's that exists.
    pub fn secret_arns(&self) -> impl Iterator<Item = &String> {
        [
            &self.signing_secret_arn,
            &self.store_uri_secret_arn,
            &self.store_root_secret_arn,
            &self.store_writer_secret_arn,
        ]
        .into_iter()
        .flatten()
    }

    /// `function`'s role.
    pub fn role_arn(&self, function: Function) -> &Option<String> {
        match function {
            Function::PreQueue => &self.pre_queue_role_arn,
            Function::PostQueue => &self.post_queue_role_arn,
        }
    }

    /// The functions' log groups that exist.
    pub fn log_group_arns(&self) -> impl Iterator<Item = &String> {
        [
            &self.pre_queue_log_group_arn,
            &self.post_queue_log_group_arn,
        ]
        .into_iter()
        .flatten()
    }

    /// `function`'s log group.
    pub fn log_group_arn(&self, function: Function) -> &Option<String> {
        match function {
            Function::PreQueue => &self.pre_queue_log_group_arn,
            Function::PostQueue => &self.post_queue_log_group_arn,
        }
    }

    /// The managed network's ids (empty where none).
    pub fn managed_network(&self) -> ManagedNetwork {
        ManagedNetwork {
            vpc_id: self.vpc_id.clone(),
            subnet_ids: self.subnet_ids.clone(),
            internet_gateway_id: self.internet_gateway_id.clone(),
            route_table_id: self.route_table_id.clone(),
            endpoint_security_group_id: self.endpoint_security_group_id.clone(),
            secrets_endpoint_id: self.secrets_endpoint_id.clone(),
        }
    }

    /// Records the managed network's ids (and that the network is the pipeline's).
    pub fn set_managed_network(&mut self, network: &ManagedNetwork) {
        self.managed_network = true;
        self.vpc_id = network.vpc_id.clone();
        self.subnet_ids = network.subnet_ids.clone();
        self.internet_gateway_id = network.internet_gateway_id.clone();
        self.route_table_id = network.route_table_id.clone();
        self.endpoint_security_group_id = network.endpoint_security_group_id.clone();
        self.secrets_endpoint_id = network.secrets_endpoint_id.clone();
    }

    /// Whether the pipeline's network is its own (the managed one).
    pub fn has_managed_network(&self) -> bool {
        self.managed_network
    }
}

/// The ids of a state split by ownership: those the pipeline may act on, and the objects the
/// state names that carry another pipeline's name or token (never touched).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owned {
    /// The ids of objects that exist and carry the pipeline's name and token.
    pub ids: Ids,
    /// Objects the state names that exist but belong to someone else, as kind and id.
    pub foreign: Vec<String>,
}

impl Ids {
    /// Splits these ids by `found` (the pipeline's inventory): an id is kept when `found` holds
    /// it with `pipeline`'s name and `token`; ids of objects that are gone are dropped. Objects
    /// that cannot be tagged are kept through those they hang on: the mapping through the
    /// queue, the API's resource through the API. A network the user gave is kept as it is
    /// (the pipeline never changes it).
    pub fn owned(&self, found: &[Tagged], pipeline: &str, token: Option<&str>) -> Owned {
        let mut foreign = Vec::new();
        let mut keep = |kind: Kind, id: &Option<String>| -> Option<String> {
            let id = id.as_deref()?;
            let object = found.iter().find(|t| t.kind == kind && t.id == id)?;
            if object.is_owned_by(pipeline, token) {
                Some(id.to_owned())
            } else {
                foreign.push(object.to_string());
                None
            }
        };
        let mut queue_keep = |kind, queue: &Option<QueueIds>| {
            let url = queue.as_ref().map(|q| q.url.clone());
            keep(kind, &url).and(queue.clone())
        };
        let queue = queue_keep(Kind::Queue, &self.queue);
        let dlq = queue_keep(Kind::DeadLetterQueue, &self.dlq);
        let mut ids = Ids {
            api_id: keep(Kind::Api, &self.api_id),
            queue,
            dlq,
            pre_queue_role_arn: keep(Kind::Role(Function::PreQueue), &self.pre_queue_role_arn),
            post_queue_role_arn: keep(Kind::Role(Function::PostQueue), &self.post_queue_role_arn),
            pre_queue_function_arn: keep(
                Kind::Function(Function::PreQueue),
                &self.pre_queue_function_arn,
            ),
            post_queue_function_arn: keep(
                Kind::Function(Function::PostQueue),
                &self.post_queue_function_arn,
            ),
            security_group_id: keep(Kind::SecurityGroup, &self.security_group_id),
            store_security_group_id: keep(Kind::SecurityGroup, &self.store_security_group_id),
            instance_id: keep(Kind::Instance, &self.instance_id),
            data_volume_id: keep(Kind::Volume, &self.data_volume_id),
            store_role_arn: keep(Kind::StoreRole, &self.store_role_arn),
            store_root_secret_arn: keep(
                Kind::Secret(Part::StoreRootSecret),
                &self.store_root_secret_arn,
            ),
            store_writer_secret_arn: keep(
                Kind::Secret(Part::StoreWriterSecret),
                &self.store_writer_secret_arn,
            ),
            signing_secret_arn: keep(Kind::Secret(Part::SigningSecret), &self.signing_secret_arn),
            store_uri_secret_arn: keep(
                Kind::Secret(Part::StoreUriSecret),
                &self.store_uri_secret_arn,
            ),
            replay_table_arn: keep(Kind::ReplayTable, &self.replay_table_arn),
            snapshot_role_arn: keep(Kind::SnapshotRole, &self.snapshot_role_arn),
            snapshot_policy_id: keep(Kind::SnapshotPolicy, &self.snapshot_policy_id),
            pre_queue_log_group_arn: keep(
                Kind::LogGroup(Function::PreQueue),
                &self.pre_queue_log_group_arn,
            ),
            post_queue_log_group_arn: keep(
                Kind::LogGroup(Function::PostQueue),
                &self.post_queue_log_group_arn,
            ),
            alarm_arns: (self.alarm_arns.iter())
                .filter_map(|(alarm, arn)| {
                    Some((*alarm, keep(Kind::Alarm(*alarm), &Some(arn.clone()))?))
                })
                .collect(),
            dashboard_url: (self.dashboard_url.as_ref())
                .filter(|url| {
                    let name = Some(dashboard::name_in_url(url).to_owned());
                    keep(Kind::Dashboard, &name).is_some()
                })
                .cloned(),
            managed_network: self.managed_network,
            ..Ids::default()
        };
        if self.has_managed_network() {
            ids.vpc_id = keep(Kind::Vpc, &self.vpc_id);
            ids.internet_gateway_id = keep(Kind::InternetGateway, &self.internet_gateway_id);
            ids.route_table_id = keep(Kind::RouteTable, &self.route_table_id);
            ids.endpoint_security_group_id =
                keep(Kind::SecurityGroup, &self.endpoint_security_group_id);
            ids.secrets_endpoint_id = keep(Kind::VpcEndpoint, &self.secrets_endpoint_id);
            ids.subnet_ids = (self.subnet_ids.iter())
                .filter_map(|id| keep(Kind::Subnet, &Some(id.clone())))
                .collect();
        } else {
            ids.vpc_id = self.vpc_id.clone();
            ids.subnet_ids = self.subnet_ids.clone();
        }
        ids.mapping_id = self.mapping_id.clone().filter(|_| ids.queue.is_some());
        ids.api_resource_id = self
            .api_resource_id
            .clone()
            .filter(|_| ids.api_id.is_some());
        Owned { ids, foreign }
    }
}

/// The id in `slot`, or [`MissingId`] naming `what`.
pub fn need<'a>(slot: &'a Option<String>, what: &'static str) -> Result<&'a str, MissingId> {
    slot.as_deref().ok_or(MissingId(what))
}

/// Runs `call` on an id that exists; for one that does not, there is nothing to find or delete:
/// `T`'s default (`None`, `()`).
pub async fn with_id<'a, T, F, Fut>(id: Option<&'a str>, call: F) -> Result<T, AwsError>
where
    T: Default,
    F: FnOnce(&'a str) -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    match id {
        Some(id) => call(id).await,
        None => Ok(T::default()),
    }
}

/// The state's object-id attributes (subnets aside), for plans that mark them unknown or clear them.
pub fn id_fields(state: &mut PipelineState) -> [&mut Str; 30] {
    [
        &mut state.api_id,
        &mut state.api_resource_id,
        &mut state.queue_url,
        &mut state.queue_arn,
        &mut state.dlq_url,
        &mut state.dlq_arn,
        &mut state.pre_queue_role_arn,
        &mut state.post_queue_role_arn,
        &mut state.pre_queue_function_arn,
        &mut state.post_queue_function_arn,
        &mut state.event_source_mapping_id,
        &mut state.security_group_id,
        &mut state.vpc_id,
        &mut state.internet_gateway_id,
        &mut state.route_table_id,
        &mut state.endpoint_security_group_id,
        &mut state.secrets_endpoint_id,
        &mut state.store_security_group_id,
        &mut state.instance_id,
        &mut state.data_volume_id,
        &mut state.store_role_arn,
        &mut state.store_root_secret_arn,
        &mut state.store_writer_secret_arn,
        &mut state.signing_secret_arn,
        &mut state.store_uri_secret_arn,
        &mut state.replay_table_arn,
        &mut state.snapshot_role_arn,
        &mut state.snapshot_policy_id,
        &mut state.pre_queue_log_group_arn,
        &mut state.post_queue_log_group_arn,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(text: &str) -> Str {
        Value::Value(text.to_owned())
    }

    #[test]
    fn ids_survive_the_round_trip_through_state() {
        let mut state = PipelineState {
            api_id: some("a1"),
            queue_url: some("https://q"),
            queue_arn: some("arn:q"),
            dlq_url: some("https://d"),
            post_queue_role_arn: some("arn:aws:iam::123456789012:role/r"),
            instance_id: some("i-1"),
            subnet_ids: str_list(&["subnet-1".into(), "subnet-2".into()]),
            ..Default::default()
        };
        let ids = Ids::from_state(&state);
        assert_eq!(ids.queue.as_ref().map(|q| q.arn.as_str()), Some("arn:q"));
        // A queue whose ARN is missing is not a queue the pipeline can act on.
        assert_eq!(ids.dlq, None);
        assert_eq!(ids.subnet_ids.len(), 2);
        let before = state.clone();
        ids.record(&mut state);
        assert_eq!(state.queue_arn, before.queue_arn);
        assert_eq!(state.instance_id, before.instance_id);
        assert_eq!(state.subnet_ids, before.subnet_ids);
        assert_eq!(
            state.dlq_url,
            Value::Null,
            "half a queue is recorded as none"
        );
    }

    #[test]
    fn unknown_ids_are_objects_to_create() {
        let mut state = PipelineState::default();
        for field in id_fields(&mut state) {
            *field = Value::Unknown;
        }
        assert_eq!(Ids::from_state(&state), Ids::default());
        assert_eq!(
            need(&None, "api_id").unwrap_err().to_string(),
            "api_id is not known: an earlier step did not record it"
        );
    }

    #[test]
    fn only_objects_carrying_the_token_are_owned() {
        use nami_contract::naming::{OWNER_TAG, PIPELINE_TAG};
        let tags = |pipeline: &str, token: &str| {
            [
                (PIPELINE_TAG.to_owned(), pipeline.to_owned()),
                (OWNER_TAG.to_owned(), token.to_owned()),
            ]
        };
        let found = [
            Tagged::new(Kind::Queue, "https://q/nami-p", tags("p", "mine")),
            // Another create's DLQ of the same name, recorded by mistake.
            Tagged::new(
                Kind::DeadLetterQueue,
                "https://q/nami-p-dlq",
                tags("p", "theirs"),
            ),
            Tagged::new(Kind::Vpc, "vpc-1", tags("p", "mine")),
            Tagged::new(Kind::Subnet, "subnet-1", tags("p", "mine")),
            Tagged::new(Kind::InternetGateway, "igw-1", tags("p", "mine")),
        ];
        let queue = |url: &str| {
            Some(QueueIds {
                url: url.into(),
                arn: "arn".into(),
            })
        };
        let ids = Ids {
            queue: queue("https://q/nami-p"),
            dlq: queue("https://q/nami-p-dlq"),
            mapping_id: Some("uuid".into()),
            api_id: Some("gone".into()),
            api_resource_id: Some("resource".into()),
            vpc_id: Some("vpc-1".into()),
            subnet_ids: vec!["subnet-1".into(), "subnet-gone".into()],
            internet_gateway_id: Some("igw-1".into()),
            managed_network: true,
            ..Ids::default()
        };
        let owned = ids.owned(&found, "p", Some("mine"));
        assert_eq!(owned.ids.queue, ids.queue);
        assert_eq!(owned.ids.dlq, None);
        assert_eq!(
            owned.foreign,
            ["SQS dead-letter queue https://q/nami-p-dlq"]
        );
        assert_eq!(
            owned.ids.mapping_id.as_deref(),
            Some("uuid"),
            "through the queue"
        );
        assert_eq!(owned.ids.api_id, None, "gone");
        assert_eq!(owned.ids.api_resource_id, None, "with its API");
        assert_eq!(owned.ids.subnet_ids, ["subnet-1"]);
        assert_eq!(owned.ids.internet_gateway_id.as_deref(), Some("igw-1"));
        // Another token owns nothing; a user's network is kept as given.
        let none = Ids {
            vpc_id: Some("vpc-user".into()),
            subnet_ids: vec!["subnet-user".into()],
            internet_gateway_id: None,
            managed_network: false,
            ..ids.clone()
        }
        .owned(&found, "p", Some("other"));
        assert_eq!(none.ids.queue, None);
        assert_eq!(none.ids.vpc_id.as_deref(), Some("vpc-user"));
        assert_eq!(none.ids.subnet_ids, ["subnet-user"]);
    }

    #[test]
    fn a_managed_network_is_recorded_whole() {
        let mut ids = Ids::default();
        let network = ManagedNetwork {
            vpc_id: Some("vpc-1".into()),
            subnet_ids: vec!["subnet-1".into()],
            internet_gateway_id: Some("igw-1".into()),
            route_table_id: None,
            endpoint_security_group_id: Some("sg-e".into()),
            secrets_endpoint_id: None,
        };
        ids.set_managed_network(&network);
        assert!(ids.has_managed_network());
        assert_eq!(ids.route_table_id, None);
        assert_eq!(ids.managed_network(), network);
    }
}
