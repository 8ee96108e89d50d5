//! The managed store's user data (moto runs none): shellcheck on the rendered script, and each
//! step run by bash against a fixture tree — `/dev/disk/by-id`, `/dev`, `/etc/fstab` under a
//! temporary root, with stand-ins on `PATH` for the tools that touch disks (`blkid`, `mkfs.xfs`,
//! `mount`, `mountpoint`, `findmnt`, `xfs_growfs`, and an `lsblk` that must never be asked).

use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use nami_harness::{emulators_dir, venv_bin};
use terraform_provider_nami::components::store::ManagedSettings;
use terraform_provider_nami::components::store::instance::user_data_script;

const VOLUME: &str = "vol-0123456789abcdef0";
const ROOT_VOLUME: &str = "vol-0fedcba9876543210";

fn script() -> String {
    user_data_script(
        &ManagedSettings {
            instance_type: "t3.small".into(),
            image: "mongo:7.0.14".into(),
            volume_size: 20,
            retain_volume: true,
            volume_id: None,
            password: "s3cret-pw".into(),
        },
        VOLUME,
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
        let root = emulators_dir().join(format!("user-data-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in ["bin", "dev/disk/by-id", "etc"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::write(root.join("nami-store"), script()).unwrap();
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
    let (ok, _, errors) = fixture.run("write_units\nwrite_secrets");
    assert!(ok, "{errors}");
    let unit = fixture.read("etc/systemd/system/nami-mongodb.service");
    assert!(unit.contains("RequiresMountsFor=/data"), "{unit}");
    assert!(
        unit.contains("ExecStartPre=/usr/local/sbin/nami-store check-data"),
        "{unit}"
    );
    assert!(unit.contains("-v /data/db:/data/db"), "{unit}");
    assert!(unit.contains(" mongo:7.0.14\n"), "{unit}");
    let timer = fixture.read("etc/systemd/system/nami-growfs.timer");
    assert!(timer.contains("OnUnitActiveSec=5min"), "{timer}");
}

#[test]
fn the_container_reads_the_root_password_from_a_file_only_root_can_read() {
    let fixture = Fixture::new("secrets");
    let (ok, _, errors) = fixture.run("write_units\nwrite_secrets");
    assert!(ok, "{errors}");
    let unit = fixture.read("etc/systemd/system/nami-mongodb.service");
    assert!(!unit.contains("s3cret-pw"), "{unit}");
    assert!(
        unit.contains("-e MONGO_INITDB_ROOT_PASSWORD_FILE=/run/secrets/root-password"),
        "{unit}"
    );
    let secret = fixture.path("etc/nami/secrets/root-password");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "s3cret-pw");
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(fixture.path("etc/nami/secrets"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
}
