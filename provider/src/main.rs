//! `terraform-provider-nami`: the Terraform provider binary. Its resource is built in a later step
//! (see the open provider issue); until then it says so instead of pretending to serve.

fn main() -> std::process::ExitCode {
    eprintln!("terraform-provider-nami: the provider is not built yet; see docs/ROADMAP.md");
    std::process::ExitCode::FAILURE
}
