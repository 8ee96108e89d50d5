//! `nami-emulators`: starts moto and SecantusDB on free loopback ports for make targets and
//! manual work, writes their addresses to `target/emulators/env`, and stops both on Ctrl-C or
//! SIGTERM.

use anyhow::Context as _;
use nami_harness::{Mongo, Moto, emulators_dir};
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let moto = Moto::start().context("starting moto")?;
    let mongo = Mongo::start().context("starting SecantusDB")?;
    let env_file = emulators_dir().join("env");
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
