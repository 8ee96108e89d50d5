//! `nami-local` as a user runs it: a child process, ready once it writes its ready file, stopped
//! with Ctrl-C (SIGINT).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};

/// How long `nami-local` may take to discover the pipeline and listen.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `nami-local`; killed if dropped before [`NamiLocal::stop`].
#[derive(Debug)]
pub struct NamiLocal {
    child: Child,
    output: PathBuf,
    /// The ingress's webhook URL.
    pub ingress_url: String,
    /// The folder of its log streams.
    pub logs: String,
}

/// The `nami-local` binary of this build (beside the running binary, or above a test's `deps/`).
pub fn binary() -> anyhow::Result<PathBuf> {
    crate::built_binary("nami-local").context("nami-local is not built: run `make install-mirror` (or `cargo build --workspace --all-targets`)")
}

impl NamiLocal {
    /// Starts it as a user does after `terraform apply`: the pipeline named in `outputs` (the
    /// saved `terraform output -json`), AWS at `endpoint`, the artifacts of the project's
    /// filesystem mirror, its files under `files`; see [`NamiLocal::start`] for `work`.
    pub fn for_terraform_output(
        outputs: &Path,
        endpoint: &str,
        files: &Path,
        work: &Path,
    ) -> anyhow::Result<Self> {
        let mirror = crate::workspace_root().join("target/terraform-mirror");
        let args: [&OsStr; 8] = [
            "--terraform-output".as_ref(),
            outputs.as_os_str(),
            "--endpoint".as_ref(),
            endpoint.as_ref(),
            "--artifacts".as_ref(),
            mirror.as_os_str(),
            "--work-dir".as_ref(),
            files.as_os_str(),
        ];
        Self::start(&args, work)
    }

    /// Starts it with `args` (plus `--listen 127.0.0.1:0` and a ready file under `work`), its
    /// output in `work/nami-local-<pid>.out`, and waits until it is ready.
    pub fn start(args: &[&OsStr], work: &Path) -> anyhow::Result<Self> {
        let binary = binary()?;
        std::fs::create_dir_all(work)?;
        let tag = format!("{}-{}", std::process::id(), crate::unique());
        let ready = work.join(format!("nami-local-{tag}.ready.json"));
        let output = work.join(format!("nami-local-{tag}.out"));
        let log = std::fs::File::create(&output)?;
        let mut child = Command::new(&binary)
            .args(args)
            .args(["--listen", "127.0.0.1:0", "--ready-file"])
            .arg(&ready)
            .env_remove("AWS_PROFILE")
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        let ready: serde_json::Value = loop {
            let text = std::fs::read_to_string(&ready).unwrap_or_default();
            if let Ok(value) = serde_json::from_str(&text) {
                break value;
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "nami-local exited ({status}):\n{}",
                    std::fs::read_to_string(&output).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("nami-local was not ready within {READY_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Ok(NamiLocal {
            child,
            output,
            ingress_url: ready["ingress_url"].as_str().unwrap_or_default().to_owned(),
            logs: ready["logs"].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it has printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// Ctrl-C, as a user would; requires a clean exit and returns everything it printed.
    pub fn stop(&mut self) -> anyhow::Result<String> {
        // SAFETY: kill(2) on the PID of a child this process started and has not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = self.child.wait()?;
        let output = self.output();
        ensure!(
            status.success(),
            "nami-local stopped with {status}:\n{output}"
        );
        Ok(output)
    }
}

impl Drop for NamiLocal {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
