//! The managed store's users, as its instance makes them: the user script the user data installs
//! (`converge-users.js`) run by mongosh against SecantusDB without authentication, then the server
//! restarted with `--auth`, as the instance's MongoDB service does before every start. The
//! post-queue function's adapter then connects as the writer with a URI that holds no password
//! and the password given apart, as the function does with its secret.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use nami_handlers::envelope::Envelope;
use nami_handlers::mongo::MongoStore;
use nami_handlers::post_queue::EnvelopeStore as _;
use nami_harness::{Mongo, emulators_dir, mongosh};
use terraform_provider_nami::components::store::instance::CONVERGE_USERS_JS;
use terraform_provider_nami::components::store::{ROOT_USER, WRITER_USER, managed_uri};

use crate::post_queue::envelope;

const DATABASE: &str = "events";

/// The instance's tmpfs of secrets and the installed user script, in a temporary folder.
struct Instance {
    dir: PathBuf,
}

impl Instance {
    fn new(name: &str) -> Self {
        let dir = emulators_dir().join(format!("store-users-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("secrets")).unwrap();
        std::fs::write(dir.join("converge-users.js"), CONVERGE_USERS_JS).unwrap();
        Instance { dir }
    }

    /// Writes the passwords fetch-secrets would have read from Secrets Manager.
    fn secrets(&self, root: &str, writer: &str) {
        std::fs::write(self.dir.join("secrets/root-password"), root).unwrap();
        std::fs::write(self.dir.join("secrets/writer-password"), writer).unwrap();
    }

    /// Runs the user script against `mongo` (no authentication) as the converge step does.
    fn run_converge(&self, mongo: &Mongo) -> Output {
        self.converge_command(mongo)
            .env("NAMI_WRITER_USER", WRITER_USER)
            .env("NAMI_DATABASE", DATABASE)
            .output()
            .expect("mongosh runs (make setup installs it)")
    }

    /// mongosh running the user script against `mongo`, with the root user's settings only (a
    /// shared store's).
    fn converge_command(&self, mongo: &Mongo) -> Command {
        let mut command = Command::new(mongosh());
        command
            .args(["--quiet", "--norc"])
            .arg(format!("mongodb://127.0.0.1:{}/admin", port_of(mongo)))
            .arg(self.dir.join("converge-users.js"))
            .env("NAMI_SECRETS", self.dir.join("secrets"))
            .env("NAMI_ROOT_USER", ROOT_USER);
        command
    }

    /// [`Instance::run_converge`], which must succeed; returns what it printed.
    fn converge(&self, mongo: &Mongo) -> String {
        let output = self.run_converge(mongo);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn port_of(mongo: &Mongo) -> u16 {
    let uri = mongo.uri();
    let rest = uri.strip_prefix("mongodb://127.0.0.1:").unwrap();
    rest.split('/').next().unwrap().parse().unwrap()
}

/// The writer's store as the function builds it: the managed URI (no password) and the password.
async fn writer(mongo: &Mongo, password: &str, database: &str) -> MongoStore {
    let uri = managed_uri("127.0.0.1", DATABASE).replace(
        &format!(
            "127.0.0.1:{}",
            terraform_provider_nami::components::security_groups::MONGODB_PORT
        ),
        &format!("127.0.0.1:{}", port_of(mongo)),
    );
    assert!(!uri.contains(password));
    MongoStore::connect(
        &uri,
        Some(password),
        database,
        "inbound",
        Duration::from_secs(3),
    )
    .await
    .unwrap()
}

async fn insert(store: &MongoStore, id: &str) -> Result<(), String> {
    let envelopes: Vec<Envelope> = vec![envelope(id, br#"{"ok":true}"#, "application/json")];
    let report = store.insert(&envelopes).await.map_err(|e| e.to_string())?;
    match report.failed.is_empty() {
        true => Ok(()),
        false => Err(format!("failed: {:?}", report.failed)),
    }
}

#[tokio::test]
async fn the_writer_may_write_its_database_only_and_a_retained_volume_answers_to_new_secrets() {
    let mut mongo = Mongo::start().unwrap();
    let instance = Instance::new("converge");
    instance.secrets("root-1", "writer-1");
    let first = instance.converge(&mongo);
    assert!(
        first.contains(&format!("user {WRITER_USER} on {DATABASE} created")),
        "{first}"
    );
    mongo.restart_with_auth(true).unwrap();

    let store = writer(&mongo, "writer-1", DATABASE).await;
    insert(&store, "d-1").await.unwrap();
    // readWrite on its own database only.
    let elsewhere = writer(&mongo, "writer-1", "other").await;
    let refused = insert(&elsewhere, "d-2").await.unwrap_err();
    assert!(
        refused.contains("nauthorized") || refused.contains("failed"),
        "{refused}"
    );
    // A wrong password gets nothing.
    let wrong = writer(&mongo, "writer-0", DATABASE).await;
    assert!(insert(&wrong, "d-3").await.is_err());

    // The volume kept by a destroyed pipeline, adopted by a new one with new secrets: the
    // converge step, at the new instance's first start, updates both users.
    mongo.restart_with_auth(false).unwrap();
    instance.secrets("root-2", "writer-2");
    let second = instance.converge(&mongo);
    assert!(
        second.contains(&format!("user {ROOT_USER} on admin updated")),
        "{second}"
    );
    assert!(
        second.contains(&format!("user {WRITER_USER} on {DATABASE} updated")),
        "{second}"
    );
    mongo.restart_with_auth(true).unwrap();
    let old = writer(&mongo, "writer-1", DATABASE).await;
    assert!(
        insert(&old, "d-4").await.is_err(),
        "the old password still works"
    );
    let new = writer(&mongo, "writer-2", DATABASE).await;
    insert(&new, "d-5").await.unwrap();
    let stored = new.stored_digests(&["d-1", "d-5"]).await.unwrap();
    assert_eq!(
        stored.len(),
        2,
        "the data on the volume is still there: {stored:?}"
    );
}

#[test]
fn a_missing_secret_fails_the_converge_step_and_makes_no_user() {
    let mongo = Mongo::start().unwrap();
    let instance = Instance::new("missing");
    std::fs::write(instance.dir.join("secrets/root-password"), "root").unwrap();
    let output = instance.run_converge(&mongo);
    assert!(!output.status.success());
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(errors.contains("writer-password"), "{errors}");
    // Read before any user is made: the root user is not half-made either.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("created"), "{stdout}");
}

#[tokio::test]
async fn a_shared_store_converges_its_root_user_alone() {
    let mongo = Mongo::start().unwrap();
    let instance = Instance::new("shared");
    std::fs::write(instance.dir.join("secrets/root-password"), "root-1").unwrap();
    let output = instance.converge_command(&mongo).output().unwrap();
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.contains(&format!("user {ROOT_USER} on admin created")),
        "{printed}"
    );
    assert!(
        !printed.contains(WRITER_USER),
        "no writer of its own: {printed}"
    );
}

/// A tenant's store as its post-queue function builds it: its user's URI, its password.
async fn tenant(mongo: &Mongo, user: &str, password: &str, database: &str) -> MongoStore {
    let uri = terraform_provider_nami::components::store::user_uri(user, "127.0.0.1", database)
        .replace(":27017/", &format!(":{}/", port_of(mongo)));
    MongoStore::connect(
        &uri,
        Some(password),
        database,
        "inbound",
        Duration::from_secs(3),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_shared_stores_tenants_each_get_their_database_and_leave_with_their_secret() {
    use terraform_provider_nami::components::store::instance::{CONVERGE_TENANTS_JS, embedded};
    let mongo = Mongo::start().unwrap();
    let instance = Instance::new("tenants");
    std::fs::write(instance.dir.join("secrets/root-password"), "root-1").unwrap();
    let root = instance.converge_command(&mongo).output().unwrap();
    assert!(
        root.status.success(),
        "{}",
        String::from_utf8_lossy(&root.stderr)
    );
    // The script as the user data installs it.
    std::fs::write(
        instance.dir.join("converge-tenants.js"),
        embedded(CONVERGE_TENANTS_JS),
    )
    .unwrap();
    let tenants = instance.dir.join("tenants");
    std::fs::create_dir_all(&tenants).unwrap();
    let converge = |manifest: &str, passwords: &[(&str, &str)]| {
        std::fs::write(tenants.join("manifest"), manifest).unwrap();
        for (user, password) in passwords {
            std::fs::write(tenants.join(user), password).unwrap();
        }
        let output = Command::new(mongosh())
            .args(["--quiet", "--norc"])
            .arg(format!("mongodb://127.0.0.1:{}/admin", port_of(&mongo)))
            .arg(instance.dir.join("converge-tenants.js"))
            .env("NAMI_TENANTS", &tenants)
            .env("NAMI_SECRETS", instance.dir.join("secrets"))
            .env("NAMI_ROOT_USER", ROOT_USER)
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{printed}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        printed
    };

    let first = converge(
        "nami-github webhooks\nnami-stripe payments\n",
        &[("nami-github", "gh-1"), ("nami-stripe", "st-1")],
    );
    assert!(
        first.contains("tenant nami-github on webhooks created"),
        "{first}"
    );
    assert!(
        first.contains("tenant nami-stripe on payments created"),
        "{first}"
    );
    // Each writes its own database, and no other.
    let github = tenant(&mongo, "nami-github", "gh-1", "webhooks").await;
    insert(&github, "g-1").await.unwrap();
    let github_elsewhere = tenant(&mongo, "nami-github", "gh-1", "payments").await;
    assert!(
        insert(&github_elsewhere, "g-2").await.is_err(),
        "not another tenant's database"
    );
    let stripe = tenant(&mongo, "nami-stripe", "st-1", "payments").await;
    insert(&stripe, "s-1").await.unwrap();

    // Stripe's pipeline is destroyed (its secret gone): its user goes; GitHub's password turns.
    let second = converge("nami-github webhooks\n", &[("nami-github", "gh-2")]);
    assert!(
        second.contains("tenant nami-stripe on payments dropped"),
        "{second}"
    );
    assert!(
        second.contains("tenant nami-github on webhooks updated"),
        "{second}"
    );
    let stripe_again = tenant(&mongo, "nami-stripe", "st-1", "payments").await;
    assert!(
        insert(&stripe_again, "s-2").await.is_err(),
        "its user is gone"
    );
    let old = tenant(&mongo, "nami-github", "gh-1", "webhooks").await;
    assert!(
        insert(&old, "g-3").await.is_err(),
        "the old password no longer works"
    );
    let new = tenant(&mongo, "nami-github", "gh-2", "webhooks").await;
    insert(&new, "g-4").await.unwrap();
    // Root is never a tenant's to touch.
    assert!(
        !second.contains(&format!("tenant {ROOT_USER} on")),
        "{second}"
    );

    // A manifest naming a system database changes nothing.
    std::fs::write(tenants.join("manifest"), "nami-evil admin\n").unwrap();
    std::fs::write(tenants.join("nami-evil"), "x").unwrap();
    let refused = Command::new(mongosh())
        .args(["--quiet", "--norc"])
        .arg(format!("mongodb://127.0.0.1:{}/admin", port_of(&mongo)))
        .arg(instance.dir.join("converge-tenants.js"))
        .env("NAMI_TENANTS", &tenants)
        .env("NAMI_SECRETS", instance.dir.join("secrets"))
        .env("NAMI_ROOT_USER", ROOT_USER)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let still = tenant(&mongo, "nami-github", "gh-2", "webhooks").await;
    insert(&still, "g-5").await.unwrap();
}
