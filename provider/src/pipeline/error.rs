//! Why an apply stops.

use super::ids::MissingId;
use crate::aws::AwsError;

/// Why an apply stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// An AWS call failed (or a local artifact could not be read).
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// An id an earlier step should have made is missing.
    #[error(transparent)]
    MissingId(#[from] MissingId),
    /// The pipeline's name is taken: a create refused before it made anything.
    #[error(transparent)]
    NameTaken(#[from] crate::ownership::NameTaken),
}
