//! Finding the deployment package a function runs — the `bootstrap.zip` whose SHA-256 matches
//! the function's `CodeSha256` — and unpacking its `bootstrap`.
//!
//! moto keeps uploaded packages but offers no way to download them (`GetFunction`'s
//! `Code.Location` is not a URL it serves), so the data plane looks in the folders the project's
//! builds and installs put them in.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// A package that could not be found or unpacked.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// No zip under the searched folders has the function's hash.
    #[error(
        "no deployment package with CodeSha256 {code_sha256} (function {function}) under {searched}; build and install the artifacts (`make install-mirror`) or pass --artifacts <folder>"
    )]
    NotFound {
        /// The function.
        function: String,
        /// Its `CodeSha256`.
        code_sha256: String,
        /// The folders searched, comma-separated.
        searched: String,
    },
    /// The package has no `bootstrap` or could not be read.
    #[error("unpacking {zip}: {message}")]
    Unpack {
        /// The package.
        zip: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Lambda's `CodeSha256` of a package: base64 of its SHA-256.
pub fn code_sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// Every `*.zip` under `folders` (up to eight levels deep: the mirror layout is seven), with its
/// `CodeSha256`.
pub fn packages(folders: &[PathBuf]) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    for folder in folders {
        collect_zips(folder, 8, &mut found);
    }
    found
        .into_iter()
        .filter_map(|path| {
            let bytes = std::fs::read(&path).ok()?;
            Some((path, code_sha256(&bytes)))
        })
        .collect()
}

fn collect_zips(folder: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && depth > 0 {
            collect_zips(&path, depth - 1, found);
        } else if path.extension().is_some_and(|e| e == "zip") {
            found.push(path);
        }
    }
}

/// Finds the package of `function` with `code_sha256` among `packages` and unpacks its
/// `bootstrap` into `cache/<hash>/bootstrap` (once), returning that path.
pub fn bootstrap_for(
    function: &str,
    code_sha256: &str,
    packages: &[(PathBuf, String)],
    searched: &[PathBuf],
    cache: &Path,
) -> Result<PathBuf, ArtifactError> {
    let zip = packages
        .iter()
        .find(|(_, hash)| hash == code_sha256)
        .map(|(path, _)| path)
        .ok_or_else(|| ArtifactError::NotFound {
            function: function.to_owned(),
            code_sha256: code_sha256.to_owned(),
            searched: searched
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let unpack_error = |message: String| ArtifactError::Unpack {
        zip: zip.clone(),
        message,
    };
    // Absolute: the process runs with its own folder as working directory.
    let cache = std::path::absolute(cache).map_err(|e| unpack_error(e.to_string()))?;
    let folder = cache.join(hex::encode(
        base64::engine::general_purpose::STANDARD
            .decode(code_sha256)
            .unwrap_or_default(),
    ));
    let bootstrap = folder.join("bootstrap");
    if bootstrap.exists() {
        return Ok(bootstrap);
    }
    let file = std::fs::File::open(zip).map_err(|e| unpack_error(e.to_string()))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| unpack_error(e.to_string()))?;
    let mut entry = archive
        .by_name("bootstrap")
        .map_err(|_| unpack_error("it has no `bootstrap` at its root".into()))?;
    let mut bytes = Vec::new();
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| unpack_error(e.to_string()))?;
    std::fs::create_dir_all(&folder).map_err(|e| unpack_error(e.to_string()))?;
    // Written under a temporary name and renamed, so a concurrent start never runs half a file.
    let partial = folder.join(format!("bootstrap.{}.partial", std::process::id()));
    std::fs::write(&partial, &bytes).map_err(|e| unpack_error(e.to_string()))?;
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| unpack_error(e.to_string()))?;
    std::fs::rename(&partial, &bootstrap).map_err(|e| unpack_error(e.to_string()))?;
    Ok(bootstrap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_sha256_is_base64_of_the_digest() {
        // SHA-256 of the empty input, as Lambda would report it.
        assert_eq!(
            code_sha256(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn a_missing_package_names_the_function_and_the_hash() {
        let error = bootstrap_for(
            "nami-x-post-queue",
            "abc=",
            &[],
            &[PathBuf::from("/nowhere")],
            Path::new("/tmp"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("nami-x-post-queue")
                && error.contains("abc=")
                && error.contains("/nowhere"),
            "{error}"
        );
    }
}
