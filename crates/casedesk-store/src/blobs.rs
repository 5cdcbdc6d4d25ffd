//! Attachment content in the data folder: `attachments/ab/cd/<sha256>`, written to a
//! temporary file, flushed to disk and renamed into place, so a file either is whole or is
//! not there.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use casedesk_core::attachments::Blobs;
use casedesk_core::{DomainError, Result};

/// Content stored under a folder, by SHA-256.
#[derive(Debug, Clone)]
pub struct LocalBlobs {
    root: PathBuf,
}

impl LocalBlobs {
    /// Content under `root` (created when missing).
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(root.join("tmp"))
            .map_err(|e| DomainError::Internal(format!("cannot create {}: {e}", root.display())))?;
        Ok(Self { root })
    }

    fn path(&self, sha256: &str) -> Result<PathBuf> {
        // Only a hash names a file, so no input can walk out of the folder.
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DomainError::Internal(format!(
                "bad content hash {sha256:?}"
            )));
        }
        Ok(self
            .root
            .join(&sha256[..2])
            .join(&sha256[2..4])
            .join(sha256))
    }
}

fn io(path: &Path, e: std::io::Error) -> DomainError {
    DomainError::Internal(format!("{}: {e}", path.display()))
}

#[async_trait]
impl Blobs for LocalBlobs {
    async fn put(&self, sha256: &str, bytes: Vec<u8>) -> Result<()> {
        let path = self.path(sha256)?;
        let tmp = self.root.join("tmp").join(uuid::Uuid::new_v4().to_string());
        tokio::task::spawn_blocking(move || -> Result<()> {
            if path.exists() {
                return Ok(());
            }
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
            }
            let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
            f.write_all(&bytes).map_err(|e| io(&tmp, e))?;
            f.sync_all().map_err(|e| io(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
            Ok(())
        })
        .await
        .map_err(|e| DomainError::Internal(format!("blob writer: {e}")))?
    }

    async fn get(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(sha256)?;
        match tokio::fs::read(&path).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path, e)),
        }
    }

    async fn delete(&self, sha256: &str) -> Result<()> {
        let path = self.path(sha256)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_delete() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBlobs::new(dir.path()).unwrap();
        let sha = "ab".repeat(32);
        b.put(&sha, b"hello".to_vec()).await.unwrap();
        b.put(&sha, b"hello".to_vec()).await.unwrap();
        assert_eq!(b.get(&sha).await.unwrap().as_deref(), Some(&b"hello"[..]));
        b.delete(&sha).await.unwrap();
        assert_eq!(b.get(&sha).await.unwrap(), None);
        b.delete(&sha).await.unwrap();
        assert!(b.get("../../etc/passwd").await.is_err());
    }
}
