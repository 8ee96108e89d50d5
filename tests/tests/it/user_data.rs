//! The managed store's user data (moto runs none): shellcheck on the rendered script, and each
//! step run by bash against a fixture tree — `/dev/disk/by-id`, `/dev`, `/etc/fstab` under a
//! temporary root, with stand-ins on `PATH` for the tools that touch disks (`blkid`, `mkfs.xfs`,
//! `mount`, `mountpoint`, `findmnt`, `xfs_growfs`, and an `lsblk` that must never be asked).

use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use nami_harness::{emulators_dir, venv_bin};
use terraform_provider_nami::components::store::ManagedSettings;
use terraform_provider_nami::components::store::instance::{
    Boot, CONVERGE_TENANTS_JS, CONVERGE_USERS_JS, Writer, embedded, user_data_script,
};

const VOLUME: &str = "vol-0123456789abcdef0";
const ROOT_VOLUME: &str = "vol-0fedcba9876543210";
const ROOT_SECRET: &str =
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:nami-p-store-root-AbCdEf";
const WRITER_SECRET: &str =
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:nami-p-store-writer-GhIjKl";
/// What the stand-in `aws` answers for each secret.
const ROOT_PASSWORD: &str = "root-pw-from-secrets-manager";
const WRITER_PASSWORD: &str = "writer-pw-from-secrets-manager";

fn script() -> String {
    script_with(Some(Writer {
        database: "events",
        secret_arn: WRITER_SECRET,
    }))
}

/// The script of a store with `writer` (`None`: a shared store, whose users are its pipelines').
fn script_with(writer: Option<Writer<'static>>) -> String {
    user_data_script(
        &ManagedSettings {
            instance_type: "t3.small".into(),
            image: "mongo:7.0.14".into(),
            volume_size: 20,
            retain_volume: true,
            volume_id: None,
            snapshot_retention_days: None,
        },
        Boot {
            volume_id: VOLUME,
            root_secret_arn: ROOT_SECRET,
            shared_store: writer.is_none().then_some("team"),
            writer,
        },
    )
}

/// Stand-ins for the disk tools: they log each call to `$NAMI_ROOT/calls` and keep file
/// systems (`fs/<device>` holds its UUID) and the mount (`mounted` holds the source) as files.
const FAKES: &[(&str, &str)] = &[
    (
        "blkid",
        r#"echo "blkid $*" >>"$NAMI_ROOT/calls"
if [ "$1" = "-s" ]; then cat "$NAMI_ROOT/fs/$(basename "$5")"; exit 0; fi
[ -e "$NAMI_ROOT/fs/$(basename "$1")" ] || exit 2"#,
    ),
    (
        "mkfs.xfs",
        r#"echo "mkfs.xfs $*" >>"$NAMI_ROOT/calls"
mkdir -p "$NAMI_ROOT/fs"
echo "uuid-of-$(basename "${!#}")" >"$NAMI_ROOT/fs/$(basename "${!#}")""#,
    ),
    (
        "mount",
        r#"echo "mount $*" >>"$NAMI_ROOT/calls"
uuid=$(sed -n 's|^UUID=\([^ ]*\) /data .*|\1|p' "$NAMI_ROOT/etc/fstab")
for fs in "$NAMI_ROOT"/fs/*; do
  [ "$(cat "$fs")" = "$uuid" ] && echo "$NAMI_ROOT/dev/$(basename "$fs")" >"$NAMI_ROOT/mounted"
done
true"#,
    ),
    ("mountpoint", r#"[ -e "$NAMI_ROOT/mounted" ]"#),
    (
        "findmnt",
        r#"[ -e "$NAMI_ROOT/mounted" ] || exit 1
cat "$NAMI_ROOT/mounted""#,
    ),
    ("xfs_growfs", r#"echo "xfs_growfs $*" >>"$NAMI_ROOT/calls""#),
    (
        "aws",
        r#"echo "aws $*" >>"$NAMI_ROOT/calls"
[ -e "$NAMI_ROOT/aws-fails" ] && { echo "AccessDeniedException" >&2; exit 255; }
case "$*" in
  *list-secrets*) cat "$NAMI_ROOT/listing" ;;
  *secret:tenant-*) all="$*"; id="${all##*secret:tenant-}"; printf 'pw-%s\n' "${id%% *}" ;;
  *store-root*) printf '%s\n' root-pw-from-secrets-manager ;;
  *store-writer*) printf '%s\n' writer-pw-from-secrets-manager ;;
  *) exit 254 ;;
esac"#,
    ),
    ("docker", r#"echo "docker $*" >>"$NAMI_ROOT/calls""#),
    (
        "lsblk",
        r#"echo "lsblk $*" >>"$NAMI_ROOT/calls"
echo "/dev/nvme0n1 vol0fedcba9876543210""#,
    ),
];

/// A temporary root holding the rendered script, the fake tools and a `/dev` tree.
struct Fixture {
    root: PathBuf,
}

impl Fixture {
    fn new(name: &str) -> Self {
        Fixture::with_script(name, &script())
    }

    fn with_script(name: &str, script: &str) -> Self {
        let root = emulators_dir().join(format!("user-data-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in ["bin", "dev/disk/by-id", "etc"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::write(root.join("nami-store"), script).unwrap();
        for (name, body) in FAKES {
            let path = root.join("bin").join(name);
            std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Fixture { root }
    }

    /// A Nitro instance: NVMe devices with their volume ids in `/dev/disk/by-id`.
    fn nitro(name: &str, data_attached: bool) -> Self {
        let fixture = Fixture::new(name);
        fixture.device("nvme0n1", Some(ROOT_VOLUME));
        if data_attached {
            fixture.device("nvme1n1", Some(VOLUME));
        }
        fixture
    }

    fn device(&self, name: &str, volume: Option<&str>) {
        std::fs::write(self.root.join("dev").join(name), "").unwrap();
        if let Some(volume) = volume {
            let serial = volume.replace('-', "");
            symlink(
                format!("../../{name}"),
                self.root.join(format!(
                    "dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{serial}"
                )),
            )
            .unwrap();
        }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).unwrap_or_default()
    }

    /// Sources the script (functions only) and runs `commands`; returns (success, stdout, stderr).
    fn run(&self, commands: &str) -> (bool, String, String) {
        let output = Command::new("bash")
            .arg("-c")
            .arg(format!("source \"$NAMI_ROOT/nami-store\"\n{commands}"))
            .env("NAMI_ROOT", &self.root)
            .env("ATTACH_TRIES", "1")
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    self.root.join("bin").display(),
                    std::env::var("PATH").unwrap()
                ),
            )
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        )
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn canonical(path: &Path) -> String {
    path.canonicalize().unwrap().display().to_string()
}

#[test]
fn the_rendered_script_passes_shellcheck() {
    let fixture = Fixture::new("shellcheck");
    let output = Command::new(venv_bin("shellcheck"))
        .arg(fixture.path("nami-store"))
        .output()
        .expect("shellcheck runs (make setup installs it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn the_data_volume_is_found_by_its_id_never_by_guessing() {
    let fixture = Fixture::nitro("nitro", true);
    let (ok, device, _) = fixture.run("data_device");
    assert!(ok);
    assert_eq!(device, canonical(&fixture.path("dev/nvme1n1")));
    assert!(!fixture.read("calls").contains("lsblk"));

    // Not attached (yet): only the root disk has a vol… serial, and it is never taken.
    let fixture = Fixture::nitro("unattached", false);
    let (ok, device, errors) = fixture.run("wait_for_data_device");
    assert!(!ok, "found {device}");
    assert_eq!(device, "");
    assert!(
        errors.contains(&format!(
            "data volume {VOLUME} is not attached after 2 s; MongoDB is not started"
        )),
        "{errors}"
    );
    assert!(!fixture.read("calls").contains("lsblk"));
}

#[test]
fn on_xen_the_volume_is_its_attachment_name() {
    let fixture = Fixture::new("xen");
    fixture.device("xvda", None);
    fixture.device("xvdf", None);
    let (ok, device, _) = fixture.run("data_device");
    assert!(ok);
    assert_eq!(device, canonical(&fixture.path("dev/xvdf")));
}

#[test]
fn a_blank_volume_is_formatted_once_and_mounted_by_uuid_once() {
    let fixture = Fixture::nitro("format", true);
    let setup = "device=$(wait_for_data_device)\nformat_if_blank \"$device\"\nmount_data \"$device\"\ncheck_data";
    let (ok, _, errors) = fixture.run(setup);
    assert!(ok, "{errors}");
    let fstab = fixture.read("etc/fstab");
    assert_eq!(
        fstab,
        "UUID=uuid-of-nvme1n1 /data xfs defaults,nofail 0 2\n"
    );
    let calls = fixture.read("calls");
    assert_eq!(calls.matches("mkfs.xfs").count(), 1, "{calls}");
    assert!(calls.contains("mkfs.xfs -q -L nami-data"), "{calls}");
    assert!(calls.contains("xfs_growfs"), "{calls}");
    assert!(fixture.path("data/db").is_dir());

    // A reboot, or a new instance given the retained volume: nothing is formatted or added.
    std::fs::remove_file(fixture.path("mounted")).unwrap();
    let (ok, _, errors) = fixture.run(setup);
    assert!(ok, "{errors}");
    assert_eq!(fixture.read("etc/fstab"), fstab);
    assert_eq!(fixture.read("calls").matches("mkfs.xfs").count(), 1);
}

#[test]
fn mongodb_starts_only_when_data_is_the_data_volume() {
    let fixture = Fixture::nitro("check", true);
    let (ok, _, errors) = fixture.run("check_data");
    assert!(!ok);
    assert!(errors.contains("/data is not mounted"), "{errors}");

    // /data mounted from the root disk: refused.
    let root_disk = fixture.path("dev/nvme0n1");
    std::fs::write(fixture.path("mounted"), root_disk.display().to_string()).unwrap();
    let (ok, _, errors) = fixture.run("check_data");
    assert!(!ok);
    assert!(
        errors.contains(&format!(
            "/data is mounted from {}, not from data volume {VOLUME}",
            root_disk.display()
        )),
        "{errors}"
    );

    let data_disk = fixture.path("dev/nvme1n1");
    std::fs::write(fixture.path("mounted"), data_disk.display().to_string()).unwrap();
    let (ok, _, errors) = fixture.run("check_data");
    assert!(ok, "{errors}");

    // The service checks it before every start, and needs the mount.
    let (ok, _, errors) = fixture.run("write_units");
    assert!(ok, "{errors}");
    let unit = fixture.read("etc/systemd/system/nami-mongodb.service");
    assert!(unit.contains("RequiresMountsFor=/data"), "{unit}");
    assert!(
        unit.contains("ExecStartPre=/usr/local/sbin/nami-store check-data"),
        "{unit}"
    );
    assert!(unit.contains("-v /data/db:/data/db"), "{unit}");
    assert!(unit.contains(" mongo:7.0.14 --auth"), "{unit}");
    let timer = fixture.read("etc/systemd/system/nami-growfs.timer");
    assert!(timer.contains("OnUnitActiveSec=5min"), "{timer}");
}

#[test]
fn the_passwords_come_from_secrets_manager_into_files_only_root_can_read() {
    let fixture = Fixture::new("secrets");
    let (ok, _, errors) = fixture.run("fetch_secrets");
    assert!(ok, "{errors}");
    for (file, password) in [
        ("root-password", ROOT_PASSWORD),
        ("writer-password", WRITER_PASSWORD),
    ] {
        let path = fixture.path(&format!("run/nami/secrets/{file}"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), password);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    let dir_mode = std::fs::metadata(fixture.path("run/nami/secrets"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    // Each by its ARN, in the ARN's region.
    let calls = fixture.read("calls");
    for arn in [ROOT_SECRET, WRITER_SECRET] {
        assert!(
            calls.contains(&format!(
                "aws secretsmanager get-secret-value --region eu-west-1 --secret-id {arn}"
            )),
            "{calls}"
        );
    }

    // No route or no grant: the service does not start, and says why.
    std::fs::write(fixture.path("aws-fails"), "").unwrap();
    let (ok, _, errors) = fixture.run("fetch_secrets");
    assert!(!ok);
    assert!(
        errors.contains(&format!("cannot read secret {ROOT_SECRET}")),
        "{errors}"
    );
}

#[test]
fn no_password_is_in_the_script_a_unit_or_a_container_argument() {
    let fixture = Fixture::new("no-password");
    let script = fixture.read("nami-store");
    let (ok, _, errors) =
        fixture.run("fetch_secrets\nwrite_units\nwrite_converge_script\nconverge_users");
    assert!(ok, "{errors}");
    let unit = fixture.read("etc/systemd/system/nami-mongodb.service");
    let calls = fixture.read("calls");
    let docker: Vec<&str> = calls.lines().filter(|l| l.starts_with("docker ")).collect();
    for text in [script.as_str(), unit.as_str(), &docker.join("\n")] {
        for password in [ROOT_PASSWORD, WRITER_PASSWORD] {
            assert!(!text.contains(password), "{password} in:\n{text}");
        }
    }
    // Before every start: the data volume, the secrets, the users; then MongoDB with --auth.
    let pre: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("ExecStartPre="))
        .collect();
    assert_eq!(
        pre,
        [
            "/usr/local/sbin/nami-store check-data",
            "/usr/local/sbin/nami-store fetch-secrets",
            "-/usr/bin/docker rm -f nami-mongodb",
            "/usr/local/sbin/nami-store converge-users",
        ]
    );
    nami_harness::record_figures(
        "secrets-user-data",
        &serde_json::json!({
            "script_bytes": script.len(),
            "unit_bytes": unit.len(),
            "container_commands": docker.len(),
            "found": 0,
        }),
    );
    assert!(
        unit.contains(" mongo:7.0.14 --auth --bind_ip_all\n"),
        "{unit}"
    );
    assert!(!unit.contains("MONGO_INITDB"), "{unit}");
    // The converge container: no network, the secrets read-only, the user script installed.
    let run = docker.iter().find(|l| l.starts_with("docker run")).unwrap();
    for part in [
        "--network none",
        "-v /run/nami/secrets:/run/secrets:ro",
        "-e NAMI_DATABASE=events",
        "-e NAMI_WRITER_USER=nami-writer",
        "--entrypoint bash mongo:7.0.14",
    ] {
        assert!(run.contains(part), "{part} missing: {run}");
    }
    assert_eq!(
        fixture.read("usr/local/share/nami/converge-users.js"),
        format!("{}\n", embedded(CONVERGE_USERS_JS))
    );
}

#[test]
fn a_shared_store_reads_only_its_root_secret_and_makes_only_its_root_user() {
    let fixture = Fixture::with_script("shared", &script_with(None));
    let (ok, _, errors) = fixture.run("fetch_secrets\nwrite_converge_script\nconverge_users");
    assert!(ok, "{errors}");
    assert!(fixture.path("run/nami/secrets/root-password").exists());
    assert!(!fixture.path("run/nami/secrets/writer-password").exists());
    let calls = fixture.read("calls");
    let reads: Vec<&str> = (calls.lines())
        .filter(|line| line.contains("get-secret-value"))
        .collect();
    assert_eq!(reads.len(), 1, "{calls}");
    assert!(reads[0].contains(ROOT_SECRET), "{calls}");
    let run = (calls.lines())
        .find(|line| line.starts_with("docker run"))
        .unwrap();
    assert!(!run.contains("NAMI_WRITER_USER"), "{run}");
    assert!(!run.contains("NAMI_DATABASE"), "{run}");
    assert!(run.contains("-e NAMI_ROOT_USER=nami"), "{run}");
}

#[test]
fn a_shared_store_fetches_its_tenants_passwords_and_converges_their_users() {
    let fixture = Fixture::with_script("tenants", &script_with(None));
    let arn =
        |id: &str| format!("arn:aws:secretsmanager:eu-west-1:123456789012:secret:tenant-{id}");
    let listing = [
        format!("{}\tnami-github-events\twebhooks\tteam", arn("github-AbC")),
        format!("{}\tnami-stripe\tpayments\tteam", arn("stripe-XyZ")),
        // Another store's tenant (the two tag filters match independently), and a secret naming
        // a user Nami does not make: both skipped.
        format!("{}\tnami-other\tother\tanother-store", arn("other-QqQ")),
        format!("{}\troot\tadmin\tteam", arn("evil-EeE")),
    ]
    .join("\n");
    std::fs::write(fixture.path("listing"), format!("{listing}\n")).unwrap();
    let (ok, _, errors) = fixture.run("fetch_secrets\nwrite_converge_script\ntenants");
    assert!(ok, "{errors}");
    assert!(
        errors.contains("user root or database admin is not one Nami makes"),
        "{errors}"
    );
    assert_eq!(
        fixture.read("run/nami/tenants/manifest"),
        "nami-github-events webhooks\nnami-stripe payments\n"
    );
    for (user, password) in [
        ("nami-github-events", "pw-github-AbC"),
        ("nami-stripe", "pw-stripe-XyZ"),
    ] {
        let path = fixture.path(&format!("run/nami/tenants/{user}"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), password);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{user}");
    }
    assert!(!fixture.path("run/nami/tenants/nami-other").exists());
    let calls = fixture.read("calls");
    assert!(
        calls.contains("aws secretsmanager list-secrets --region eu-west-1 --filters Key=tag-key,Values=nami:store Key=tag-value,Values=team"),
        "{calls}"
    );
    let run = (calls.lines())
        .rfind(|line| line.starts_with("docker run"))
        .unwrap();
    for part in [
        "--network container:nami-mongodb",
        "-v /run/nami/tenants:/run/tenants:ro",
        "--entrypoint mongosh mongo:7.0.14",
        "/nami/converge-tenants.js",
    ] {
        assert!(run.contains(part), "{part} missing: {run}");
    }
    for password in ["pw-github-AbC", "pw-stripe-XyZ", ROOT_PASSWORD] {
        assert!(!calls.contains(&format!("docker run {password}")) && !run.contains(password));
    }
    assert_eq!(
        fixture.read("usr/local/share/nami/converge-tenants.js"),
        format!("{}\n", embedded(CONVERGE_TENANTS_JS))
    );
    // The units: a timer every 30 s, after MongoDB.
    let (ok, _, errors) = fixture.run("write_units");
    assert!(ok, "{errors}");
    let timer = fixture.read("etc/systemd/system/nami-tenants.timer");
    assert!(timer.contains("OnUnitActiveSec=30s"), "{timer}");
    let service = fixture.read("etc/systemd/system/nami-tenants.service");
    assert!(
        service.contains("ExecStart=/usr/local/sbin/nami-store tenants"),
        "{service}"
    );
}

#[test]
fn an_inline_store_has_no_tenants() {
    let fixture = Fixture::new("no-tenants");
    let (ok, _, errors) = fixture.run("tenants\nwrite_units\nwrite_converge_script");
    assert!(ok, "{errors}");
    assert!(
        !fixture
            .path("etc/systemd/system/nami-tenants.timer")
            .exists()
    );
    assert!(
        !fixture
            .path("usr/local/share/nami/converge-tenants.js")
            .exists()
    );
    assert!(!fixture.path("calls").exists() || !fixture.read("calls").contains("list-secrets"));
}
