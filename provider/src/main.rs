//! `terraform-provider-nami`: serves the `nami` provider to Terraform (plugin protocol 6).

fn main() -> anyhow::Result<()> {
    // tf-provider attaches a Rust backtrace to every diagnostic when these are set; users must see
    // only the message. SAFETY: no other thread exists yet.
    unsafe {
        std::env::remove_var("RUST_BACKTRACE");
        std::env::remove_var("RUST_LIB_BACKTRACE");
    }
    // Two TLS crypto backends are linked (tf-provider's and the AWS SDK's); rustls needs one chosen.
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("a rustls crypto provider was already installed"))?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(tf_provider::serve(
            "nami",
            terraform_provider_nami::provider::NamiProvider::new(),
        ))
}
