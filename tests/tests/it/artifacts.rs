//! The Lambda artifacts `make artifacts` builds: what Lambda (and the local data plane) will run.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use nami_harness::workspace_root;

/// The newest glibc symbol version a `provided.al2023`/`provided.al2` binary may need.
const MAX_GLIBC_MINOR: u32 = 17;

/// Extracts `bootstrap` from `target/lambda/<function>/bootstrap.zip` into a temporary folder.
fn extract_bootstrap(function: &str) -> (std::path::PathBuf, Vec<u8>) {
    let zip_path = workspace_root()
        .join("target/lambda")
        .join(function)
        .join("bootstrap.zip");
    let file = std::fs::File::open(&zip_path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build it with `make artifacts`",
            zip_path.display()
        )
    });
    let mut archive = zip::ZipArchive::new(file).unwrap();
    let names: Vec<String> = archive
        .file_names()
        .map(|name| name.unwrap().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["bootstrap"],
        "the zip holds exactly the bootstrap executable"
    );
    let mut entry = archive.by_name("bootstrap").unwrap();
    assert_eq!(
        entry.unix_mode().unwrap() & 0o111,
        0o111,
        "bootstrap is executable"
    );
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).unwrap();

    let dir = workspace_root()
        .join("target/emulators")
        .join(format!("artifact-{function}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bootstrap");
    std::fs::write(&path, &bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    (path, bytes)
}

fn newest_glibc_minor(binary: &[u8]) -> u32 {
    let marker = b"GLIBC_2.";
    binary
        .windows(marker.len())
        .enumerate()
        .filter(|(_, window)| *window == marker)
        .filter_map(|(at, _)| {
            let digits: String = binary[at + marker.len()..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .map(|b| *b as char)
                .collect();
            digits.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

fn check(function: &str, expected_init_error: &str) {
    let (path, bytes) = extract_bootstrap(function);
    assert_eq!(&bytes[..4], b"\x7fELF", "{function}: an ELF executable");
    assert_eq!(
        u16::from_le_bytes([bytes[18], bytes[19]]),
        62,
        "{function}: built for x86-64"
    );
    let glibc = newest_glibc_minor(&bytes);
    assert!(
        glibc <= MAX_GLIBC_MINOR,
        "{function} needs GLIBC_2.{glibc}; Lambda's runtime has 2.{MAX_GLIBC_MINOR}+"
    );

    // Unconfigured, it must fail its init, naming what is missing, and never start serving.
    let output = Command::new(&path).env_clear().output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "{function} must not start unconfigured"
    );
    assert!(
        stderr.contains(expected_init_error),
        "{function} init error: {stderr}"
    );
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn pre_queue_artifact_runs_here_and_fails_closed_unconfigured() {
    check("pre-queue", "NAMI_SIGNATURE_SCHEME is not set");
}

#[test]
fn post_queue_artifact_runs_here_and_fails_closed_unconfigured() {
    check("post-queue", "NAMI_PIPELINE is not set");
}
