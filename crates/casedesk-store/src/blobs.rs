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

/// Content in an object store (S3-compatible storage), by SHA-256 under a prefix.
#[derive(Debug, Clone)]
pub struct ObjectBlobs {
    store: std::sync::Arc<dyn object_store::ObjectStore>,
    prefix: String,
}

fn object_error(e: object_store::Error) -> DomainError {
    DomainError::Internal(format!("attachment storage: {e}"))
}

impl ObjectBlobs {
    /// Content on S3-compatible storage.
    pub fn s3(s: &casedesk_core::attachments::S3Settings) -> Result<Self> {
        let mut b = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&s.bucket)
            .with_region(&s.region)
            .with_access_key_id(&s.access_key_id)
            .with_secret_access_key(&s.secret_access_key)
            .with_allow_http(s.allow_http);
        if let Some(e) = &s.endpoint {
            b = b.with_endpoint(e);
        }
        Ok(Self {
            store: std::sync::Arc::new(b.build().map_err(object_error)?),
            prefix: s.prefix.trim_matches('/').to_owned(),
        })
    }

    fn path(&self, sha256: &str) -> Result<object_store::path::Path> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DomainError::Internal(format!(
                "bad content hash {sha256:?}"
            )));
        }
        Ok(object_store::path::Path::from(format!(
            "{}/{}/{}",
            self.prefix,
            &sha256[..2],
            sha256
        )))
    }
}

#[async_trait]
impl Blobs for ObjectBlobs {
    async fn put(&self, sha256: &str, bytes: Vec<u8>) -> Result<()> {
        use object_store::ObjectStoreExt;
        let path = self.path(sha256)?;
        self.store
            .put(&path, object_store::PutPayload::from(bytes))
            .await
            .map_err(object_error)?;
        Ok(())
    }

    async fn get(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        use object_store::ObjectStoreExt;
        let path = self.path(sha256)?;
        match self.store.get(&path).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(object_error)?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(object_error(e)),
        }
    }

    async fn delete(&self, sha256: &str) -> Result<()> {
        use object_store::ObjectStoreExt;
        let path = self.path(sha256)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(object_error(e)),
        }
    }
}

/// The content store the settings name: S3-compatible storage, or `attachments/` in the
/// data folder.
pub fn blobs_for(
    cfg: &casedesk_core::attachments::AttachmentConfig,
    data: &Path,
) -> Result<std::sync::Arc<dyn Blobs>> {
    Ok(match &cfg.s3 {
        Some(s) => std::sync::Arc::new(ObjectBlobs::s3(s)?),
        None => std::sync::Arc::new(LocalBlobs::new(data.join("attachments"))?),
    })
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
