//! Running a function like Lambda does: execution environments (one `bootstrap` process each,
//! with its own Runtime API), at most `concurrency` of them busy at once, reused while healthy,
//! replaced after an init failure, a crash or a timeout. Every environment writes a log stream
//! with Lambda's `START` / `END` / `REPORT` lines around each invocation.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::process::{Child, Command};
use tokio::sync::{Semaphore, oneshot};
use tokio::time::{Instant, sleep_until};

use crate::discovery::FunctionSpec;
use crate::runtime_api::{Diagnostic, Invocation, Outcome, RuntimeApi};

/// How long a runtime may take to start and ask for its first invocation (Lambda's init limit).
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an invocation did not produce a response.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The runtime reported `/init/error`, exited, or hung before asking for work.
    #[error("init failed ({}): {}", .0.error_type, .0.error_message)]
    Init(Diagnostic),
    /// The handler returned an error (`/invocation/{id}/error`).
    #[error("function error ({}): {}", .0.error_type, .0.error_message)]
    Function(Diagnostic),
    /// The invocation ran past the function's timeout; its environment was stopped.
    #[error("task timed out after {0:.2?}; the execution environment was stopped")]
    Timeout(Duration),
    /// The runtime process exited in the middle of the invocation.
    #[error("the runtime exited during the invocation ({0})")]
    Crashed(String),
    /// The `bootstrap` could not be started at all.
    #[error("could not start {path}: {source}")]
    Spawn {
        /// The executable.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The data plane is stopping.
    #[error("the data plane is shutting down")]
    ShutDown,
}

/// Counters of one function, as a snapshot.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FunctionStats {
    /// Invocations attempted.
    pub invocations: u64,
    /// Invocations that ended in any error (function, init, crash or timeout).
    pub errors: u64,
    /// Of those, timeouts.
    pub timeouts: u64,
    /// Of those, init failures.
    pub init_errors: u64,
    /// Execution environments started.
    pub cold_starts: u64,
}

#[derive(Debug, Default)]
struct Counters {
    invocations: AtomicU64,
    errors: AtomicU64,
    timeouts: AtomicU64,
    init_errors: AtomicU64,
    cold_starts: AtomicU64,
}

/// Runs one function's `bootstrap` in execution environments on demand.
#[derive(Debug, Clone)]
pub struct FunctionHost {
    inner: Arc<Host>,
}

#[derive(Debug)]
struct Host {
    spec: FunctionSpec,
    bootstrap: PathBuf,
    environment: Vec<(String, String)>,
    slots: Semaphore,
    idle: Mutex<Vec<Environment>>,
    logs: PathBuf,
    next_environment: AtomicU64,
    counters: Counters,
}

impl FunctionHost {
    /// A host for `spec` running `bootstrap` with exactly `environment` (plus the Runtime API
    /// address and log stream name of each environment), at most `concurrency` at once, logging
    /// under `logs`.
    pub fn new(
        spec: FunctionSpec,
        bootstrap: PathBuf,
        environment: Vec<(String, String)>,
        concurrency: usize,
        logs: PathBuf,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(&logs)?;
        Ok(FunctionHost {
            inner: Arc::new(Host {
                spec,
                bootstrap,
                environment,
                slots: Semaphore::new(concurrency.max(1)),
                idle: Mutex::new(Vec::new()),
                logs,
                next_environment: AtomicU64::new(0),
                counters: Counters::default(),
            }),
        })
    }

    /// The function's configuration.
    pub fn spec(&self) -> &FunctionSpec {
        &self.inner.spec
    }

    /// Where the log streams go.
    pub fn logs(&self) -> &Path {
        &self.inner.logs
    }

    /// Invokes the function synchronously with a JSON `payload`; waits for a free slot first.
    pub async fn invoke(&self, payload: Bytes) -> Result<Bytes, InvokeError> {
        let host = &self.inner;
        let _slot = host
            .slots
            .acquire()
            .await
            .map_err(|_| InvokeError::ShutDown)?;
        host.counters.invocations.fetch_add(1, Ordering::Relaxed);
        let warm = host.idle.lock().expect("idle environments").pop();
        let mut environment = match warm {
            Some(environment) => environment,
            None => {
                host.counters.cold_starts.fetch_add(1, Ordering::Relaxed);
                Environment::start(host).await.inspect_err(|error| {
                    host.counters.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(function = %host.spec.name, %error, "no execution environment");
                })?
            }
        };
        let result = environment.run(host, payload).await;
        match &result {
            Ok(_) | Err(InvokeError::Function(_)) => {
                if !host.slots.is_closed() {
                    host.idle
                        .lock()
                        .expect("idle environments")
                        .push(environment);
                }
            }
            Err(_) => environment.stop().await,
        }
        if let Err(error) = &result {
            let counters = &host.counters;
            counters.errors.fetch_add(1, Ordering::Relaxed);
            match error {
                InvokeError::Timeout(_) => counters.timeouts.fetch_add(1, Ordering::Relaxed),
                InvokeError::Init(_) => counters.init_errors.fetch_add(1, Ordering::Relaxed),
                _ => 0,
            };
            tracing::warn!(function = %host.spec.name, %error, "invocation failed");
        }
        result
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> FunctionStats {
        let c = &self.inner.counters;
        FunctionStats {
            invocations: c.invocations.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
            init_errors: c.init_errors.load(Ordering::Relaxed),
            cold_starts: c.cold_starts.load(Ordering::Relaxed),
        }
    }

    /// Process ids of the idle environments (busy ones are inside their invocations).
    pub fn idle_pids(&self) -> Vec<u32> {
        let idle = self.inner.idle.lock().expect("idle environments");
        idle.iter().filter_map(|e| e.child.id()).collect()
    }

    /// Refuses new invocations and stops every idle environment; busy ones stop when their
    /// invocation ends or is dropped.
    pub async fn shutdown(&self) {
        self.inner.slots.close();
        let idle = std::mem::take(&mut *self.inner.idle.lock().expect("idle environments"));
        for environment in idle {
            environment.stop().await;
        }
    }
}

/// One `bootstrap` process and its Runtime API.
#[derive(Debug)]
struct Environment {
    child: Child,
    api: RuntimeApi,
    log: File,
    started: Instant,
    initialised: bool,
}

impl Environment {
    async fn start(host: &Host) -> Result<Self, InvokeError> {
        let spawn_error = |source| InvokeError::Spawn {
            path: host.bootstrap.clone(),
            source,
        };
        let api = RuntimeApi::start(&host.spec.arn)
            .await
            .map_err(spawn_error)?;
        let number = host.next_environment.fetch_add(1, Ordering::Relaxed) + 1;
        let today = chrono::Utc::now().format("%Y/%m/%d");
        let stream = format!("{today}/[$LATEST]{:032x}", uuid::Uuid::new_v4().as_u128());
        let path = host.logs.join(format!(
            "{}-environment-{number:03}.log",
            chrono::Utc::now().format("%Y-%m-%d")
        ));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(spawn_error)?;
        let mut command = Command::new(&host.bootstrap);
        command
            .env_clear()
            .envs(host.environment.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", api.address().to_string())
            .env("AWS_LAMBDA_LOG_STREAM_NAME", &stream)
            .current_dir(host.bootstrap.parent().unwrap_or(Path::new("/")))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(spawn_error)?)
            .stderr(log.try_clone().map_err(spawn_error)?)
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe; it makes the runtime die with the data plane.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command.spawn().map_err(spawn_error)?;
        tracing::debug!(function = %host.spec.name, pid = child.id(), log = %path.display(), "environment started");
        Ok(Environment {
            child,
            api,
            log,
            started: Instant::now(),
            initialised: false,
        })
    }

    /// Runs one invocation to its end, enforcing the init limit and the function timeout.
    async fn run(&mut self, host: &Host, payload: Bytes) -> Result<Bytes, InvokeError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let timeout = host.spec.timeout;
        let (taken, taken_rx) = oneshot::channel();
        let (outcome, outcome_rx) = oneshot::channel();
        let invocation = Invocation {
            request_id: request_id.clone(),
            payload,
            timeout,
            taken,
            outcome,
        };
        if !self.api.offer(invocation).await {
            return Err(InvokeError::Crashed("its Runtime API stopped".into()));
        }
        let init_errors = self.api.init_errors();
        let mut init_reported = self.api.init_errors();
        let init_deadline = self.started + INIT_TIMEOUT;
        let deadline = tokio::select! {
            deadline = taken_rx => deadline.map_err(|_| InvokeError::Crashed("the invocation was dropped".into()))?,
            status = self.child.wait() => {
                let reported = init_errors.borrow().clone();
                return Err(InvokeError::Init(reported.unwrap_or_else(|| Diagnostic {
                    error_type: "Runtime.ExitError".into(),
                    error_message: format!("RequestId: {request_id} Error: Runtime exited ({}) before asking for an invocation", describe(status)),
                })));
            }
            _ = init_reported.wait_for(Option::is_some) => {
                let reported = init_errors.borrow().clone().unwrap_or_default();
                return Err(InvokeError::Init(reported));
            }
            _ = sleep_until(init_deadline), if !self.initialised => {
                return Err(InvokeError::Init(Diagnostic {
                    error_type: "Runtime.InitTimeout".into(),
                    error_message: format!("the runtime did not ask for an invocation within {INIT_TIMEOUT:?}"),
                }));
            }
        };
        let init_duration = (!self.initialised).then(|| self.started.elapsed());
        self.initialised = true;
        let begun = Instant::now();
        self.line(&format!("START RequestId: {request_id} Version: $LATEST"));
        let result = tokio::select! {
            outcome = outcome_rx => match outcome {
                Ok(Outcome::Response(body)) => Ok(body),
                Ok(Outcome::Error(diagnostic)) => Err(InvokeError::Function(diagnostic)),
                Err(_) => Err(InvokeError::Crashed("the Runtime API stopped".into())),
            },
            status = self.child.wait() => Err(InvokeError::Crashed(describe(status))),
            _ = sleep_until(deadline) => Err(InvokeError::Timeout(timeout)),
        };
        let duration = begun.elapsed();
        match &result {
            Err(InvokeError::Timeout(t)) => self.line(&format!(
                "{} {request_id} Task timed out after {:.2} seconds",
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                t.as_secs_f64()
            )),
            Err(error) => self.line(&format!("{request_id} {error}")),
            Ok(_) => {}
        }
        self.line(&format!("END RequestId: {request_id}"));
        let init = init_duration
            .map(|d| format!("\tInit Duration: {:.2} ms", d.as_secs_f64() * 1000.0))
            .unwrap_or_default();
        let status = match &result {
            Ok(_) => "success",
            Err(InvokeError::Timeout(_)) => "timeout",
            Err(_) => "error",
        };
        self.line(&format!(
            "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB{init}\tStatus: {status}",
            duration.as_secs_f64() * 1000.0,
            duration.as_micros().div_ceil(1000).max(1),
            host.spec.memory_mb,
            self.peak_memory_mb().unwrap_or(0),
        ));
        result
    }

    /// Stops the process (SIGKILL, like Lambda freezing and discarding an environment).
    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }

    fn line(&mut self, text: &str) {
        let _ = writeln!(self.log, "{text}");
    }

    fn peak_memory_mb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()?)).ok()?;
        let kb: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb.div_ceil(1024))
    }
}

fn describe(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(error) => error.to_string(),
    }
}
