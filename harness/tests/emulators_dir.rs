//! `nami-emulators --dir`: the env file, logs and data go where the user says, not to a path
//! compiled into the binary.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn the_emulators_write_their_env_and_logs_to_the_chosen_folder() {
    let dir = std::env::temp_dir().join(format!("nami-emulators-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_nami-emulators"))
        .args(["--dir", dir.to_str().unwrap()])
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let env_file = dir.join("env");
    let started = Instant::now();
    while !env_file.exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let env = std::fs::read_to_string(&env_file).unwrap_or_default();
    let logs: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| name.ends_with(".log"))
                .collect()
        })
        .unwrap_or_default();
    // SIGTERM: the binary stops both servers and removes its env file.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(env.contains("AWS_ENDPOINT_URL=http://127.0.0.1:"), "{env}");
    assert!(
        env.contains("NAMI_MONGODB_URI=mongodb://127.0.0.1:"),
        "{env}"
    );
    assert!(logs.iter().any(|l| l.starts_with("moto-")), "{logs:?}");
    assert!(status.success(), "{status}");
    assert!(!env_file.exists(), "the env file goes with the emulators");
    let _ = std::fs::remove_dir_all(&dir);
}
