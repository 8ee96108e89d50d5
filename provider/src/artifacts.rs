//! The functions' code: a `bootstrap.zip` from the user, or the one installed with the provider.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use nami_contract::naming::Function;
use sha2::{Digest, Sha256};

/// Overrides the folder of the installed artifacts (`<folder>/<function>/bootstrap.zip`).
pub const ARTIFACTS_DIR_VAR: &str = "NAMI_ARTIFACTS_DIR";

/// A located artifact and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Where the zip is.
    pub path: PathBuf,
    /// Base64 SHA-256 of the zip, as Lambda reports `CodeSha256`.
    pub sha256: String,
}

/// An artifact that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The file cannot be read.
    #[error("cannot read artifact {path}: {source}")]
    Read {
        /// The artifact's path.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The file is not a zip archive.
    #[error("{0} is not a zip archive (expected a bootstrap.zip built with cargo-lambda)")]
    NotZip(PathBuf),
}

impl Artifact {
    /// The artifact at `custom`, or the installed one for `function`.
    pub fn locate(function: Function, custom: Option<&str>) -> Result<Artifact, ArtifactError> {
        let path = match custom {
            Some(path) => PathBuf::from(path),
            None => installed_dir().join(function.slug()).join("bootstrap.zip"),
        };
        let bytes = read(&path)?;
        Ok(Artifact {
            sha256: sha256(&bytes),
            path,
        })
    }

    /// The zip's bytes.
    pub fn bytes(&self) -> Result<Vec<u8>, ArtifactError> {
        read(&self.path)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ArtifactError> {
    let bytes = std::fs::read(path).map_err(|source| ArtifactError::Read {
        path: path.to_owned(),
        source,
    })?;
    if !bytes.starts_with(b"PK\x03\x04") {
        return Err(ArtifactError::NotZip(path.to_owned()));
    }
    Ok(bytes)
}

/// Base64 SHA-256, Lambda's `CodeSha256` format.
pub fn sha256(bytes: &[u8]) -> String {
    BASE64.encode(Sha256::digest(bytes))
}

/// `$NAMI_ARTIFACTS_DIR`, else `artifacts/` beside the provider binary (where `make install` puts them).
fn installed_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(ARTIFACTS_DIR_VAR) {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("artifacts")))
        .unwrap_or_else(|| PathBuf::from("artifacts"))
}
