//! The simulator manager's [`Launcher`] on ECS: a host is a Fargate task of the hosts' task definition, started
//! with RunTask, watched with DescribeTasks, found with ListTasks and stopped with StopTask.
//!
//! A host's id is `ecs-<task id>`: the container's entrypoint sets `TRADESIM_HOST_ID` so from the task metadata
//! (infra/host/entrypoint.sh), which makes the tasks the hosts' ECS service starts and those this launcher starts
//! alike: [`Launcher::list`] finds both, by task family. Its address is the task's private IP and the host port.

use crate::error::ControlError;
use crate::hosts::{BoxFuture, HostClient, HostTarget};
use crate::manager::{LaunchedHost, Launcher};
use aws_sdk_ecs::types::{AssignPublicIp, AwsVpcConfiguration, DesiredStatus, LaunchType, NetworkConfiguration, Task};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tradesim_aws::{RetryPolicy, call};

/// Tasks this launcher starts say so in `startedBy` (shown in the console and in DescribeTasks).
pub const STARTED_BY: &str = "tradesim-manager";
/// Host ids are this prefix and the task id.
const HOST_ID_PREFIX: &str = "ecs-";
/// The most tasks one DescribeTasks call takes.
const DESCRIBE_BATCH: usize = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcsLauncherConfig {
    /// The cluster's name or ARN.
    pub cluster: String,
    /// The hosts' task definition family: RunTask starts its latest revision, ListTasks finds its tasks.
    pub task_family: String,
    /// Private subnets of the tasks (awsvpc).
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    /// The port of the host's internal API (`TRADESIM_BIND` in the task definition).
    pub port: u16,
    /// How long a task may take from RunTask to answering `/health`: image pull, engine compile, adoption.
    /// Default 3 min.
    pub start_timeout: Duration,
    /// How long a stopped task may take to exit (the task definition's `stopTimeout` and some). Default 3 min.
    pub stop_timeout: Duration,
    /// How often a starting or stopping task is described. Default 2 s.
    pub poll: Duration,
    pub retry: RetryPolicy,
}

impl EcsLauncherConfig {
    pub fn new(cluster: impl Into<String>, task_family: impl Into<String>, subnets: Vec<String>) -> Self {
        Self {
            cluster: cluster.into(),
            task_family: task_family.into(),
            subnets,
            security_groups: Vec::new(),
            port: 8090,
            start_timeout: Duration::from_secs(180),
            stop_timeout: Duration::from_secs(180),
            poll: Duration::from_secs(2),
            retry: RetryPolicy::default(),
        }
    }
}

/// Starts hosts as Fargate tasks; `health` is how it knows a started host is up.
pub struct EcsLauncher {
    client: aws_sdk_ecs::Client,
    config: EcsLauncherConfig,
    health: Arc<dyn HostClient>,
}

impl fmt::Debug for EcsLauncher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcsLauncher").field("config", &self.config).finish_non_exhaustive()
    }
}

fn launch_failed(detail: String) -> ControlError {
    ControlError::LaunchFailed(detail)
}

/// `ecs-<task id>`, the task id being the last part of the ARN.
fn host_id(task_arn: &str) -> String {
    format!("{HOST_ID_PREFIX}{}", task_arn.rsplit('/').next().unwrap_or(task_arn))
}

/// The private IP of the task's network interface, once it has one.
fn private_ip(task: &Task) -> Option<&str> {
    task.attachments()
        .iter()
        .filter(|attachment| attachment.r#type() == Some("ElasticNetworkInterface"))
        .flat_map(|attachment| attachment.details())
        .find(|detail| detail.name() == Some("privateIPv4Address"))
        .and_then(|detail| detail.value())
}

/// Stopping or stopped: the host is going away (ECS's task lifecycle after RUNNING).
fn ending(task: &Task) -> bool {
    let ending_status = |status: Option<&str>| {
        matches!(status, Some("DEACTIVATING" | "STOPPING" | "DEPROVISIONING" | "STOPPED" | "DELETED"))
    };
    ending_status(task.last_status()) || task.desired_status() == Some("STOPPED")
}

impl EcsLauncher {
    /// `shared` is the SDK configuration; the client retries through `config.retry` only.
    pub fn new(shared: &aws_config::SdkConfig, config: EcsLauncherConfig, health: Arc<dyn HostClient>) -> Self {
        let sdk =
            aws_sdk_ecs::config::Builder::from(shared).retry_config(aws_config::retry::RetryConfig::disabled()).build();
        Self { client: aws_sdk_ecs::Client::from_conf(sdk), config, health }
    }

    fn target(&self, task: &Task) -> Option<HostTarget> {
        let ip = private_ip(task)?;
        Some(HostTarget { id: host_id(task.task_arn()?), address: format!("http://{ip}:{}", self.config.port) })
    }

    async fn describe(&self, arns: &[String]) -> Result<Vec<Task>, ControlError> {
        let mut tasks = Vec::new();
        for batch in arns.chunks(DESCRIBE_BATCH) {
            let request = self.client.describe_tasks().cluster(&self.config.cluster).set_tasks(Some(batch.to_vec()));
            let answer = call(&self.config.retry, "ECS DescribeTasks", || request.clone().send()).await?;
            tasks.extend(answer.tasks.unwrap_or_default());
        }
        Ok(tasks)
    }

    async fn describe_one(&self, arn: &str) -> Result<Option<Task>, ControlError> {
        Ok(self.describe(&[arn.to_owned()]).await?.into_iter().next())
    }

    async fn run_task(&self) -> Result<String, ControlError> {
        let network = AwsVpcConfiguration::builder()
            .set_subnets(Some(self.config.subnets.clone()))
            .set_security_groups(Some(self.config.security_groups.clone()))
            .assign_public_ip(AssignPublicIp::Disabled)
            .build()
            .map_err(|e| launch_failed(format!("the launcher's network configuration is incomplete: {e}")))?;
        let request = self
            .client
            .run_task()
            .cluster(&self.config.cluster)
            .task_definition(&self.config.task_family)
            .launch_type(LaunchType::Fargate)
            .count(1)
            .started_by(STARTED_BY)
            .network_configuration(NetworkConfiguration::builder().awsvpc_configuration(network).build());
        let answer = call(&self.config.retry, "ECS RunTask", || request.clone().send()).await?;
        // RunTask answers 200 with failures (no capacity, a bad subnet) instead of an error.
        if let Some(failure) = answer.failures().first() {
            return Err(launch_failed(format!(
                "ECS RunTask started no task: {} ({})",
                failure.reason().unwrap_or("no reason given"),
                failure.detail().or(failure.arn()).unwrap_or("no detail")
            )));
        }
        answer
            .tasks()
            .first()
            .and_then(Task::task_arn)
            .map(str::to_owned)
            .ok_or_else(|| launch_failed("ECS RunTask answered neither a task nor a failure".into()))
    }

    /// Waits until the task runs and its host answers `/health` as itself.
    async fn wait_until_up(&self, arn: &str) -> Result<HostTarget, ControlError> {
        let started = Instant::now();
        while started.elapsed() < self.config.start_timeout {
            let task = self.describe_one(arn).await?;
            if let Some(task) = task.as_ref().filter(|task| ending(task)) {
                return Err(launch_failed(format!(
                    "task {arn} stopped before its host answered: {}",
                    task.stopped_reason().unwrap_or("no reason given")
                )));
            }
            let running = task.as_ref().filter(|task| task.last_status() == Some("RUNNING"));
            if let Some(target) = running.and_then(|task| self.target(task)) {
                match self.health.health(&target).await {
                    Ok(health) if health.host_id == target.id => return Ok(target),
                    Ok(health) => {
                        tracing::warn!(host = %target.id, answered_as = %health.host_id, "another host answers")
                    }
                    Err(error) => tracing::debug!(host = %target.id, %error, "the new host does not answer yet"),
                }
            }
            tokio::time::sleep(self.config.poll).await;
        }
        Err(launch_failed(format!("task {arn} did not answer /health within {:?}", self.config.start_timeout)))
    }

    async fn stop_task(&self, arn: &str, reason: &str) -> Result<(), ControlError> {
        let request = self.client.stop_task().cluster(&self.config.cluster).task(arn).reason(reason);
        call(&self.config.retry, "ECS StopTask", || request.clone().send()).await?;
        Ok(())
    }
}

/// The task id of a host, if the id is one of this launcher's.
fn task_id(host_id: &str) -> Option<String> {
    host_id.strip_prefix(HOST_ID_PREFIX).filter(|id| !id.is_empty()).map(str::to_owned)
}

impl Launcher for EcsLauncher {
    fn launch(&self) -> BoxFuture<'_, Result<HostTarget, ControlError>> {
        Box::pin(async move {
            let arn = self.run_task().await?;
            match self.wait_until_up(&arn).await {
                Ok(target) => {
                    tracing::info!(host = %target.id, address = %target.address, "launched a simulator host task");
                    Ok(target)
                }
                Err(error) => {
                    if let Err(stop) = self.stop_task(&arn, "the host did not come up").await {
                        tracing::warn!(task = arn, error = %stop, "stopping a failed launch failed");
                    }
                    Err(error)
                }
            }
        })
    }

    fn stop<'a>(&'a self, host_id: &'a str) -> BoxFuture<'a, Result<(), ControlError>> {
        Box::pin(async move {
            // DescribeTasks and StopTask take a task id in place of its ARN.
            let Some(task_id) = task_id(host_id) else { return Ok(()) };
            let Some(task) = self.describe_one(&task_id).await? else { return Ok(()) };
            if task.last_status() == Some("STOPPED") {
                return Ok(());
            }
            // ECS sends SIGTERM (the host snapshots its simulators) and SIGKILL after the task's stopTimeout.
            self.stop_task(&task_id, "stopped by the simulator manager").await?;
            // The caller fences a dead host before re-homing its simulators: answer only once the task is gone.
            let started = Instant::now();
            loop {
                match self.describe_one(&task_id).await? {
                    Some(task) if task.last_status() != Some("STOPPED") => {}
                    _ => break,
                }
                if started.elapsed() >= self.config.stop_timeout {
                    return Err(ControlError::Internal(format!(
                        "host {host_id} was still running {:?} after StopTask",
                        self.config.stop_timeout
                    )));
                }
                tokio::time::sleep(self.config.poll).await;
            }
            tracing::info!(host = host_id, "stopped a simulator host task");
            Ok(())
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<LaunchedHost>, ControlError>> {
        Box::pin(async move {
            let query = self
                .client
                .list_tasks()
                .cluster(&self.config.cluster)
                .family(&self.config.task_family)
                .desired_status(DesiredStatus::Running);
            let mut arns = Vec::new();
            let mut token = None;
            loop {
                let page = query.clone().set_next_token(token);
                let answer = call(&self.config.retry, "ECS ListTasks", || page.clone().send()).await?;
                arns.extend(answer.task_arns.unwrap_or_default());
                token = answer.next_token;
                if token.is_none() {
                    break;
                }
            }
            // A task without an address yet is still being provisioned: it is listed once it has one.
            Ok(self
                .describe(&arns)
                .await?
                .iter()
                .filter_map(|task| Some(LaunchedHost { target: self.target(task)?, alive: !ending(task) }))
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::testing::FakeHosts;
    use std::sync::atomic::Ordering;
    use tradesim_aws::moto::Moto;

    const CLUSTER: &str = "tradesim";
    const FAMILY: &str = "tradesim-host";

    /// moto with the cluster and the hosts' task definition, tasks kept running (moto otherwise walks a task
    /// towards STOPPED on every read), and one of its default subnets.
    async fn ecs() -> (Moto, aws_config::SdkConfig, String) {
        let moto = Moto::start();
        moto.set_transition("ecs::task", r#"{"progression": "manual", "times": 1000000}"#);
        let subnets = moto.ec2("Action=DescribeSubnets&Version=2016-11-15");
        let subnet = subnets.split("<subnetId>").nth(1).and_then(|rest| rest.split('<').next()).unwrap().to_owned();
        let shared = moto.sdk_config().await;
        let client = aws_sdk_ecs::Client::new(&shared);
        client.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
        let container = aws_sdk_ecs::types::ContainerDefinition::builder()
            .name("host")
            .image("tradesim-host:test")
            .essential(true)
            // moto adds up the containers' memory to place a task.
            .memory(2048)
            .build();
        client
            .register_task_definition()
            .family(FAMILY)
            .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
            .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
            .cpu("1024")
            .memory("2048")
            .container_definitions(container)
            .send()
            .await
            .unwrap();
        (moto, shared, subnet)
    }

    fn config(subnet: &str) -> EcsLauncherConfig {
        let mut config = EcsLauncherConfig::new(CLUSTER, FAMILY, vec![subnet.to_owned()]);
        config.poll = Duration::from_millis(10);
        config
    }

    #[tokio::test]
    async fn a_host_task_is_run_listed_and_stopped() {
        let (_moto, shared, subnet) = ecs().await;
        let launcher = EcsLauncher::new(&shared, config(&subnet), Arc::new(FakeHosts::default()));
        let target = launcher.launch().await.unwrap();
        let task = target.id.strip_prefix("ecs-").unwrap().to_owned();
        assert!(target.address.starts_with("http://") && target.address.ends_with(":8090"), "{target:?}");
        assert_eq!(launcher.list().await.unwrap(), [LaunchedHost { target: target.clone(), alive: true }]);

        let client = aws_sdk_ecs::Client::new(&shared);
        let described = client.describe_tasks().cluster(CLUSTER).tasks(&task).send().await.unwrap();
        let described = &described.tasks()[0];
        assert_eq!(described.started_by(), Some(STARTED_BY));
        assert_eq!(described.launch_type(), Some(&LaunchType::Fargate));

        launcher.stop(&target.id).await.unwrap();
        assert_eq!(launcher.list().await.unwrap(), []);
        let described = client.describe_tasks().cluster(CLUSTER).tasks(&task).send().await.unwrap();
        assert_eq!(described.tasks()[0].last_status(), Some("STOPPED"));
        assert_eq!(described.tasks()[0].stopped_reason(), Some("stopped by the simulator manager"));
        // Stopped already, unknown, or not an ECS host: nothing to do.
        for gone in [target.id.as_str(), "ecs-0123456789abcdef0123456789abcdef", "local-abc"] {
            launcher.stop(gone).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_host_that_never_answers_is_a_failed_launch_and_its_task_is_stopped() {
        let (_moto, shared, subnet) = ecs().await;
        let hosts = Arc::new(FakeHosts::default());
        hosts.silent.store(true, Ordering::SeqCst);
        let config = EcsLauncherConfig { start_timeout: Duration::from_millis(100), ..config(&subnet) };
        let launcher = EcsLauncher::new(&shared, config, hosts);
        let error = launcher.launch().await.unwrap_err();
        assert_eq!(error.code(), "launch_failed", "{error:?}");
        assert_eq!(launcher.list().await.unwrap(), []);
    }

    #[tokio::test]
    async fn an_unknown_task_definition_is_refused_with_ecs_s_message() {
        let (_moto, shared, subnet) = ecs().await;
        let config = EcsLauncherConfig { task_family: "absent".into(), ..config(&subnet) };
        let launcher = EcsLauncher::new(&shared, config, Arc::new(FakeHosts::default()));
        let ControlError::Internal(detail) = launcher.launch().await.unwrap_err() else { panic!() };
        assert!(detail.starts_with("ECS RunTask was refused"), "{detail}");
    }

    #[test]
    fn host_ids_are_the_task_ids() {
        assert_eq!(host_id("arn:aws:ecs:eu-west-1:123456789012:task/tradesim/0a1b"), "ecs-0a1b");
        assert_eq!(task_id("ecs-0a1b").as_deref(), Some("0a1b"));
        assert_eq!((task_id("ecs-"), task_id("local-0a1b")), (None, None));
    }
}
