//! Writes the registry documentation (`docs/index.md`, `docs/resources/*.md`,
//! `docs/data-sources/*.md`) from the schemas and `examples/` (`make docs`).

fn main() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (path, text) in terraform_provider_nami::docs::pages(&root)? {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("pages live in folders"))?;
        std::fs::write(&path, text)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
