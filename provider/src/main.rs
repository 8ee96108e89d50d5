//! `terraform-provider-nami`: serves the `nami` provider to Terraform (plugin protocol 6).

fn main() -> anyhow::Result<()> {
    // tf-provider attaches a Rust backtrace to every diagnostic when these are set; users must see
    // only the message. SAFETY: no other thread exists yet.
    unsafe {
        std::env::remove_var("RUST_BACKTRACE");
        std::env::remove_var("RUST_LIB_BACKTRACE");
    }
    exit_with_parent();
    // Two TLS crypto backends are linked (tf-provider's and the AWS SDK's); rustls needs one chosen.
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("a rustls crypto provider was already installed"))?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // An apply is one deep chain of futures (every component's calls, joined); the default
        // 2 MiB worker stack is too small for it in a debug build.
        .thread_stack_size(16 * 1024 * 1024)
        .build()?
        .block_on(tf_provider::serve(
            "nami",
            terraform_provider_nami::provider::NamiProvider::new(),
        ))
}

/// Ends this process when Terraform, its parent, goes away (a killed `terraform apply`): an
/// orphaned provider would otherwise go on calling AWS for minutes with nobody to record what it
/// made. The next apply adopts what the killed one left (see the `ownership` module).
fn exit_with_parent() {
    #[cfg(target_os = "linux")]
    {
        let parent = std::os::unix::process::parent_id();
        // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a signal number on this process.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
        }
        // The parent may have died before the call: then nobody would signal us.
        if std::os::unix::process::parent_id() != parent {
            std::process::exit(1);
        }
    }
}
