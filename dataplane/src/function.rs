//! Running a function like Lambda does: execution environments (one `bootstrap` process each,
//! with its own Runtime API), at most `concurrency` of them busy at once, reused while healthy,
//! replaced after an init failure, a crash or a timeout. Between invocations an environment is
//! frozen (SIGSTOP once its runtime waits in `/next`, SIGCONT when work arrives), so background
//! work does not run, and one idle too long is reclaimed; an init that misses the 10 s init limit
//! is retried within the first invocation, bounded by the function's timeout ([`Lifecycle`]).
//! Every environment writes a log stream with Lambda's `START` / `END` / `REPORT` lines around
//! each invocation.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
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
use crate::log_shipping::LogShipper;
use crate::runtime_api::{Diagnostic, Invocation, Outcome, RuntimeApi};

/// How long a runtime may take to start and ask for its first invocation (Lambda's init limit).
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// The error type of an init that missed its limit.
const INIT_TIMEOUT_ERROR: &str = "Runtime.InitTimeout";

/// How long a runtime may take, after an invocation, to ask for the next one; one that has not
/// asked by then goes back to the idle environments unfrozen (it is doing work of its own).
const SETTLE_LIMIT: Duration = Duration::from_secs(2);

/// How execution environments live between invocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    /// How long a runtime may take to start and ask for its first invocation; past it, the init
    /// is retried within the invocation, bounded by the function's timeout. Lambda's: 10 s.
    pub init_timeout: Duration,
    /// Freeze an environment between invocations (SIGSTOP, as Lambda freezes it): background
    /// threads and timers do not run while it waits.
    pub freeze: bool,
    /// Reclaim (stop) an environment idle this long, as Lambda does after a while; the next
    /// invocation is then a cold start. `None`: never.
    pub reclaim_after: Option<Duration>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            init_timeout: INIT_TIMEOUT,
            freeze: true,
            reclaim_after: None,
        }
    }
}

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
    /// Inits that missed the init limit and were retried within their invocation.
    pub init_retries: u64,
    /// Idle environments reclaimed.
    pub reclaimed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    invocations: AtomicU64,
    errors: AtomicU64,
    timeouts: AtomicU64,
    init_errors: AtomicU64,
    cold_starts: AtomicU64,
    init_retries: AtomicU64,
    reclaimed: AtomicU64,
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
    lifecycle: Lifecycle,
    slots: Arc<Semaphore>,
    idle: Mutex<Vec<Environment>>,
    logs: PathBuf,
    shipper: Option<LogShipper>,
    next_environment: AtomicU64,
    counters: Counters,
}

impl FunctionHost {
    /// A host for `spec` running `bootstrap` with exactly `environment` (plus the Runtime API
    /// address and log stream name of each environment), at most `concurrency` at once, its
    /// environments living as `lifecycle` says, logging under `logs`.
    pub fn new(
        spec: FunctionSpec,
        bootstrap: PathBuf,
        environment: Vec<(String, String)>,
        concurrency: usize,
        lifecycle: Lifecycle,
        logs: PathBuf,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(&logs)?;
        Ok(FunctionHost {
            inner: Arc::new(Host {
                spec,
                bootstrap,
                environment,
                lifecycle,
                slots: Arc::new(Semaphore::new(concurrency.max(1))),
                idle: Mutex::new(Vec::new()),
                logs,
                shipper: None,
                next_environment: AtomicU64::new(0),
                counters: Counters::default(),
            }),
        })
    }

    /// Ships every environment's log lines with `shipper` too (before the host is shared).
    pub fn ship_logs(mut self, shipper: LogShipper) -> Self {
        if let Some(host) = Arc::get_mut(&mut self.inner) {
            host.shipper = Some(shipper);
        }
        self
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
        let slot = (host.slots.clone())
            .acquire_owned()
            .await
            .map_err(|_| InvokeError::ShutDown)?;
        let started = Instant::now();
        host.counters.invocations.fetch_add(1, Ordering::Relaxed);
        let warm = self.take_idle().await;
        let mut environment = match warm {
            Some(environment) => environment,
            None => {
                self.cold_start(started + host.lifecycle.init_timeout)
                    .await?
            }
        };
        let mut result = environment.run(host, payload.clone(), None).await;
        if is_init_timeout(&result) {
            // Lambda retries an init that missed its limit as part of the first invocation,
            // within the function's timeout.
            let limit = host.lifecycle.init_timeout;
            environment.line(&format!(
                "INIT_REPORT Init Duration: {:.2} ms\tPhase: init\tStatus: timeout",
                limit.as_secs_f64() * 1000.0
            ));
            environment.stop().await;
            host.counters.init_retries.fetch_add(1, Ordering::Relaxed);
            let deadline = started + host.spec.timeout;
            environment = self.cold_start(deadline).await?;
            result = environment.run(host, payload, Some(deadline)).await;
        }
        environment.ship(host);
        match &result {
            Ok(_) | Err(InvokeError::Function(_)) if !host.slots.is_closed() => {
                // Back to the idle ones once its runtime waits for work (frozen there), the slot
                // held until then; the caller has its answer already.
                let host = self.inner.clone();
                tokio::spawn(async move {
                    environment.settle(host.lifecycle.freeze).await;
                    if host.slots.is_closed() {
                        // Shut down meanwhile.
                        environment.stop().await;
                    } else {
                        (host.idle.lock().expect("idle environments")).push(environment);
                    }
                    drop(slot);
                });
            }
            Ok(_) | Err(InvokeError::Function(_)) => {}
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

    /// A new execution environment whose runtime must ask for work by `init_deadline`.
    async fn cold_start(&self, init_deadline: Instant) -> Result<Environment, InvokeError> {
        let host = &self.inner;
        host.counters.cold_starts.fetch_add(1, Ordering::Relaxed);
        Environment::start(host, init_deadline)
            .await
            .inspect_err(|error| {
                host.counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(function = %host.spec.name, %error, "no execution environment");
            })
    }

    /// The most recently used idle environment; those idle past the lifecycle's reclaim time
    /// are stopped instead.
    async fn take_idle(&self) -> Option<Environment> {
        let host = &self.inner;
        let (warm, reclaimed) = {
            let mut idle = host.idle.lock().expect("idle environments");
            let reclaimed: Vec<Environment> = match host.lifecycle.reclaim_after {
                Some(after) => {
                    let (stale, fresh) = std::mem::take(&mut *idle)
                        .into_iter()
                        .partition(|e| e.idle_since.elapsed() >= after);
                    *idle = fresh;
                    stale
                }
                None => Vec::new(),
            };
            (idle.pop(), reclaimed)
        };
        for environment in reclaimed {
            host.counters.reclaimed.fetch_add(1, Ordering::Relaxed);
            environment.stop().await;
        }
        warm
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
            init_retries: c.init_retries.load(Ordering::Relaxed),
            reclaimed: c.reclaimed.load(Ordering::Relaxed),
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
    /// Its log file, its stream's name, and how much of the file was shipped.
    log_path: PathBuf,
    stream: String,
    shipped: u64,
    started: Instant,
    /// When its runtime must have asked for its first invocation.
    init_deadline: Instant,
    initialised: bool,
    /// Whether it is frozen (SIGSTOP).
    frozen: bool,
    /// When it last finished an invocation.
    idle_since: Instant,
}

fn is_init_timeout(result: &Result<Bytes, InvokeError>) -> bool {
    matches!(result, Err(InvokeError::Init(d)) if d.error_type == INIT_TIMEOUT_ERROR)
}

impl Environment {
    async fn start(host: &Host, init_deadline: Instant) -> Result<Self, InvokeError> {
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
            log_path: path,
            stream,
            shipped: 0,
            started: Instant::now(),
            init_deadline,
            initialised: false,
            frozen: false,
            idle_since: Instant::now(),
        })
    }

    /// Sends SIGSTOP or SIGCONT to the process.
    fn signal(&self, signal: libc::c_int) {
        if let Some(pid) = self
            .child
            .id()
            .and_then(|pid| libc::pid_t::try_from(pid).ok())
        {
            // SAFETY: kill(2) on our own child's pid; no memory is involved.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }

    /// After an invocation: waits (briefly) for the runtime to ask for the next one, then
    /// freezes the environment there if `freeze`, as Lambda does.
    async fn settle(&mut self, freeze: bool) {
        self.idle_since = Instant::now();
        if !freeze {
            return;
        }
        let mut waiting = self.api.waiting();
        let asked = tokio::time::timeout(SETTLE_LIMIT, waiting.wait_for(|w| *w)).await;
        if matches!(asked, Ok(Ok(_))) {
            self.signal(libc::SIGSTOP);
            self.frozen = true;
        }
    }

    /// Runs one invocation to its end, enforcing the init limit and the function timeout;
    /// `deadline` replaces the timeout counted from when the runtime takes the invocation.
    async fn run(
        &mut self,
        host: &Host,
        payload: Bytes,
        deadline: Option<Instant>,
    ) -> Result<Bytes, InvokeError> {
        if self.frozen {
            self.signal(libc::SIGCONT);
            self.frozen = false;
        }
        let request_id = uuid::Uuid::new_v4().to_string();
        let timeout = host.spec.timeout;
        let (taken, taken_rx) = oneshot::channel();
        let (outcome, outcome_rx) = oneshot::channel();
        let invocation = Invocation {
            request_id: request_id.clone(),
            payload,
            timeout,
            deadline,
            taken,
            outcome,
        };
        if !self.api.offer(invocation).await {
            return Err(InvokeError::Crashed("its Runtime API stopped".into()));
        }
        let init_errors = self.api.init_errors();
        let mut init_reported = self.api.init_errors();
        let init_deadline = self.init_deadline;
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
                    error_type: INIT_TIMEOUT_ERROR.into(),
                    error_message: format!(
                        "the runtime did not ask for an invocation within {:.2?}",
                        init_deadline.saturating_duration_since(self.started)
                    ),
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

    /// Stops the process (SIGKILL, like Lambda discarding an environment; a frozen one too).
    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }

    /// Hands the lines written since the last call to the host's shipper, if it has one.
    fn ship(&mut self, host: &Host) {
        let Some(shipper) = &host.shipper else {
            return;
        };
        let mut text = Vec::new();
        let read = File::open(&self.log_path).and_then(|mut file| {
            file.seek(SeekFrom::Start(self.shipped))?;
            file.read_to_end(&mut text)
        });
        // Complete lines only: a line still being written goes with the next invocation's.
        let (Ok(_), Some(end)) = (read, text.iter().rposition(|&b| b == b'\n')) else {
            return;
        };
        let lines = String::from_utf8_lossy(&text[..end])
            .lines()
            .map(str::to_owned)
            .collect();
        self.shipped += end as u64 + 1;
        shipper.send(&self.stream, lines);
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
