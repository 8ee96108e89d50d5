//! `nami-emulators`: starts moto and SecantusDB on free loopback ports for make targets and
//! manual work, writes their addresses to `<dir>/env` (logs and data beside it), and stops both
//! on Ctrl-C or SIGTERM.
//!
//! `--dir DIR` chooses the folder; the default is `target/emulators` under the current
//! directory.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use nami_harness::{EMULATORS_DIR_VAR, Mongo, Moto};
use tokio::signal::unix::{SignalKind, signal};

const USAGE: &str = "usage: nami-emulators [--dir DIR]

Starts moto and SecantusDB on free loopback ports and writes their addresses to DIR/env
(default DIR: target/emulators under the current directory). Ctrl-C stops both.";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut dir = PathBuf::from("target/emulators");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dir" => dir = args.next().context("--dir needs a folder")?.into(),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    // SAFETY: set before the runtime or any other thread starts; the harness reads it.
    unsafe { std::env::set_var(EMULATORS_DIR_VAR, &dir) };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(dir))
}

async fn serve(dir: PathBuf) -> anyhow::Result<()> {
    let moto = Moto::start().context("starting moto")?;
    let mongo = Mongo::start().context("starting SecantusDB")?;
    let env_file = dir.join("env");
    let lines = format!(
        "AWS_ENDPOINT_URL={}\nAWS_ACCESS_KEY_ID=testing\nAWS_SECRET_ACCESS_KEY=testing\nAWS_REGION=us-east-1\nNAMI_MONGODB_URI={}\n",
        moto.endpoint(),
        mongo.uri()
    );
    std::fs::write(&env_file, &lines)?;
    print!("{lines}");
    println!("# written to {}; Ctrl-C stops both", env_file.display());
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    drop((moto, mongo));
    let _ = std::fs::remove_file(env_file);
    Ok(())
}
