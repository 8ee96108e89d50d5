//! The emulator harness: the real local parts that Nami's tests and make targets run against.
//!
//! [`Moto`] is the AWS control plane (moto's server, started through `tools/moto_server.py` so
//! that nothing but Nami's own poller consumes SQS queues); [`Mongo`] is a SecantusDB server that
//! speaks MongoDB's wire protocol. Each starts on a free 127.0.0.1 port, is waited for until it
//! accepts connections, logs under `target/emulators/`, and is stopped by PID when dropped — also
//! when a test panics, and (through `PR_SET_PDEATHSIG`) when the test process itself dies.

pub mod aws;
pub mod faults;
pub mod local;
pub mod process;
pub mod terraform;
pub mod webhooks;

use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to accept connections (moto loads AWS managed policies at start).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A server that could not be started.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{0} is missing; run `make setup` first")]
    /// A program of `.venv/` is not installed.
    NotInstalled(PathBuf),
    #[error("could not start {name}: {source}")]
    /// The process could not be started.
    Spawn {
        /// The server.
        name: String,
        /// Why.
        source: std::io::Error,
    },
    #[error("{name} exited before accepting connections (status {status}); see {log}")]
    /// The process exited before it was ready.
    Exited {
        /// The server.
        name: String,
        /// How it exited.
        status: std::process::ExitStatus,
        /// Its log.
        log: PathBuf,
    },
    #[error("{name} did not accept connections on port {port} within {timeout:?}; see {log}")]
    /// The server did not accept connections in time.
    NotReady {
        /// The server.
        name: String,
        /// The port it was given.
        port: u16,
        /// How long it had.
        timeout: Duration,
        /// Its log.
        log: PathBuf,
    },
    #[error(transparent)]
    /// A file or folder of the harness could not be used.
    Io(#[from] std::io::Error),
}

/// The workspace root (where `.venv/` and `target/` live).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness/ sits in the workspace")
        .to_path_buf()
}

/// The binary `name` of this build: beside the running binary, or above a test's `deps/`.
pub fn built_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|folder| folder.join(name))
        .find(|path| path.exists())
}

/// The variable that moves emulator logs and data (set by `nami-emulators --dir`).
pub const EMULATORS_DIR_VAR: &str = "NAMI_EMULATORS_DIR";

/// Where emulator logs and data go: `$NAMI_EMULATORS_DIR`, else the workspace's
/// `target/emulators/` (the tests).
pub fn emulators_dir() -> PathBuf {
    std::env::var_os(EMULATORS_DIR_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target").join("emulators"))
}

/// A free TCP port on 127.0.0.1 (the OS picks it; a clash with a parallel start is retried).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One server process, stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    name: String,
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `program args…` with its output in `target/emulators/<name>-<port>.log` and waits
    /// until it accepts TCP connections on `port`.
    fn start(name: &str, program: &Path, args: &[String], port: u16) -> Result<Self, HarnessError> {
        Self::start_with_env(name, program, args, &[], port)
    }

    /// [`ServerProcess::start`] with `env` added to the process's environment.
    fn start_with_env(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(&str, String)],
        port: u16,
    ) -> Result<Self, HarnessError> {
        if !program.exists() {
            return Err(HarnessError::NotInstalled(program.to_path_buf()));
        }
        fs::create_dir_all(emulators_dir())?;
        let log = emulators_dir().join(format!("{name}-{port}.log"));
        let out = File::create(&log)?;
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().map_err(|source| HarnessError::Spawn {
            name: name.to_owned(),
            source,
        })?;
        let mut process = ServerProcess {
            name: name.to_owned(),
            child: Some(child),
            port,
            log,
        };
        process.wait_until_ready()?;
        Ok(process)
    }

    fn wait_until_ready(&mut self) -> Result<(), HarnessError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(HarnessError::Exited {
                    name: self.name.clone(),
                    status,
                    log: self.log.clone(),
                });
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(HarnessError::NotReady {
                    name: self.name.clone(),
                    port: self.port,
                    timeout: START_TIMEOUT,
                    log: self.log.clone(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Stops it by PID: SIGTERM, then SIGKILL after 5 s. Idempotent.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: plain kill(2) on our own child's pid, which has not been reaped yet.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A program of the project's pinned Python tools (`.venv/bin/`).
pub fn venv_bin(program: &str) -> PathBuf {
    workspace_root().join(".venv").join("bin").join(program)
}

/// Writes a suite's figures as `target/reliability/<name>.json`; `nami-reliability` renders them
/// into docs/reliability.md.
pub fn record_figures(name: &str, figures: &serde_json::Value) {
    let dir = workspace_root().join("target/reliability");
    std::fs::create_dir_all(&dir).expect("target/reliability can be made");
    let text = serde_json::to_string_pretty(figures).expect("figures are JSON");
    std::fs::write(dir.join(format!("{name}.json")), text).expect("figures are written");
}

/// mongosh, pinned (installed into `target/tools/mongosh` by `make setup`).
pub fn mongosh() -> PathBuf {
    workspace_root().join("target/tools/mongosh/node_modules/.bin/mongosh")
}

/// Starts a server on a fresh free port, retrying when another test took the port first.
fn start_on_free_port(
    name: &str,
    program: &Path,
    args: impl Fn(u16) -> Vec<String>,
) -> Result<ServerProcess, HarnessError> {
    start_on_free_port_with_env(name, program, args, &[])
}

/// [`start_on_free_port`] with `env` added to the server's environment.
fn start_on_free_port_with_env(
    name: &str,
    program: &Path,
    args: impl Fn(u16) -> Vec<String>,
    env: &[(&str, String)],
) -> Result<ServerProcess, HarnessError> {
    let mut attempt = 0;
    loop {
        let port = free_port()?;
        match ServerProcess::start_with_env(name, program, &args(port), env, port) {
            Err(HarnessError::Exited { .. }) if attempt < 3 => attempt += 1,
            result => return result,
        }
    }
}

/// moto's server: the AWS control plane.
#[derive(Debug)]
pub struct Moto {
    process: ServerProcess,
}

impl Moto {
    /// Starts moto (IAM managed policies loaded, Lambda trigger on SQS switched off).
    pub fn start() -> Result<Self, HarnessError> {
        Ok(Moto {
            process: Self::launch(&[])?,
        })
    }

    /// Starts moto enforcing IAM for requests signed with an assumed role's credentials (the
    /// functions' and the event source mapping's, under nami-local) and for nothing else; see
    /// `tools/moto_server.py` and, for what moto evaluates faithfully, docs/local-parts.md.
    pub fn start_enforcing_roles() -> Result<Self, HarnessError> {
        Ok(Moto {
            process: Self::launch(&[("NAMI_MOTO_ENFORCE_ROLES", "1".to_owned())])?,
        })
    }

    fn launch(env: &[(&str, String)]) -> Result<ServerProcess, HarnessError> {
        let launcher = workspace_root().join("tools").join("moto_server.py");
        let launcher = launcher.to_string_lossy().into_owned();
        start_on_free_port_with_env(
            "moto",
            &venv_bin("python"),
            |port| {
                vec![
                    launcher.clone(),
                    "-H".into(),
                    "127.0.0.1".into(),
                    "-p".into(),
                    port.to_string(),
                ]
            },
            env,
        )
    }

    /// The endpoint URL to give AWS clients.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.process.port())
    }

    /// The underlying process.
    pub fn process(&mut self) -> &mut ServerProcess {
        &mut self.process
    }
}

/// A SecantusDB server: MongoDB's wire protocol on WiredTiger.
#[derive(Debug)]
pub struct Mongo {
    process: ServerProcess,
    data: PathBuf,
    fail_points: bool,
    auth: bool,
}

impl Mongo {
    /// Starts a standalone server whose data lives in its own folder under `target/emulators/`
    /// (kept across [`Mongo::stop`] / [`Mongo::restart`], removed on drop).
    pub fn start() -> Result<Self, HarnessError> {
        Self::start_with(false)
    }

    /// Starts a server that also takes mongod's test command `configureFailPoint`, so a test can
    /// make it refuse, stall or drop chosen commands (`failCommand`).
    pub fn start_with_fail_points() -> Result<Self, HarnessError> {
        Self::start_with(true)
    }

    fn start_with(fail_points: bool) -> Result<Self, HarnessError> {
        let data = emulators_dir().join(format!("mongo-data-{}-{}", std::process::id(), unique()));
        fs::create_dir_all(&data)?;
        let data_arg = data.to_string_lossy().into_owned();
        let process = start_on_free_port("mongo", &venv_bin("secantusd-py"), |port| {
            mongo_args(port, &data_arg, fail_points)
        })?;
        Ok(Mongo {
            process,
            data,
            fail_points,
            auth: false,
        })
    }

    /// A connection string for the server (direct: it is a single node).
    pub fn uri(&self) -> String {
        format!(
            "mongodb://127.0.0.1:{}/?directConnection=true",
            self.process.port()
        )
    }

    /// Stops the server; its data stays.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts the server again on the same port with the same data.
    pub fn restart(&mut self) -> Result<(), HarnessError> {
        self.restart_with_auth(self.auth)
    }

    /// Starts the server again on the same port with the same data, requiring authentication
    /// (SCRAM, with its users' roles enforced) or not, as mongod's `--auth` does.
    pub fn restart_with_auth(&mut self, auth: bool) -> Result<(), HarnessError> {
        self.process.stop();
        self.auth = auth;
        let port = self.process.port();
        let mut args = mongo_args(port, &self.data.to_string_lossy(), self.fail_points);
        if auth {
            args.push("--auth".into());
        }
        self.process = ServerProcess::start("mongo", &venv_bin("secantusd-py"), &args, port)?;
        Ok(())
    }

    /// The underlying process.
    pub fn process(&mut self) -> &mut ServerProcess {
        &mut self.process
    }
}

impl Drop for Mongo {
    fn drop(&mut self) {
        self.process.stop();
        let _ = fs::remove_dir_all(&self.data);
    }
}

fn mongo_args(port: u16, data: &str, fail_points: bool) -> Vec<String> {
    let mut args = [
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--storage-path",
        data,
        "--standalone",
    ]
    .map(str::to_owned)
    .to_vec();
    if fail_points {
        args.push("--enable-test-commands".into());
    }
    args
}

pub(crate) fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
