//! Uploaded files on disk. A body is received into `incoming/` while it is hashed, then
//! kept content-addressed as `files/ab/<sha256>`, on disk for good (file and directory
//! fsynced) before the database row that refers to it commits.

use std::{
    io,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncWriteExt, BufWriter};

/// Where bodies are received, in the data dir: the same file system as the blobs, so a
/// received file becomes a blob by a rename.
const INCOMING: &str = "incoming";
const BLOBS: &str = "files";
/// Bytes gathered before each write to the file, so a body costs few blocking writes.
const WRITE_BUFFER: usize = 256 * 1024;

/// A body being received. Its file is deleted when this is dropped before `into_blob`:
/// on every error, and when the client goes away mid-body (the request's future is
/// dropped then).
pub struct Incoming {
    file: BufWriter<tokio::fs::File>,
    hasher: Sha256,
    size: u64,
    partial: DeleteOnDrop,
}

/// A file in the blob store, by its SHA-256 (lower-case hex).
pub struct Blob {
    pub sha256: String,
    pub size: u64,
}

/// The received file's path, deleted on drop unless it was kept.
struct DeleteOnDrop {
    path: PathBuf,
    kept: bool,
}

impl Drop for DeleteOnDrop {
    fn drop(&mut self) {
        // Synchronous: unlinking is quick, and it must happen even when no runtime is left
        // to run a task for it.
        if !self.kept {
            if let Err(e) = std::fs::remove_file(&self.path) {
                tracing::warn!(path = %self.path.display(), "could not delete a partial upload: {e}");
            }
        }
    }
}

impl Incoming {
    pub async fn create(data_dir: &Path) -> io::Result<Incoming> {
        let dir = data_dir.join(INCOMING);
        create_dir_durably(&dir).await?;
        let path = dir.join(format!("{}.part", random_hex()?));
        let file = tokio::fs::OpenOptions::new().write(true).create_new(true).open(&path).await?;
        Ok(Incoming {
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
            hasher: Sha256::new(),
            size: 0,
            partial: DeleteOnDrop { path, kept: false },
        })
    }

    /// Bytes received so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        self.file.write_all(chunk).await
    }

    /// Makes the received bytes a durable blob. A blob already stored under the same
    /// digest is checked, not trusted: if its size or content differ (corrupted, or
    /// tampered with), it is replaced atomically by the bytes just received.
    pub async fn into_blob(mut self, data_dir: &Path) -> io::Result<Blob> {
        self.file.flush().await?;
        self.file.get_mut().sync_all().await?;
        let sha256 = hex(&self.hasher.finalize_reset());
        let size = self.size;
        let dir = data_dir.join(BLOBS).join(&sha256[..2]);
        let path = dir.join(&sha256);
        if tokio::fs::try_exists(&path).await? {
            if holds(&path, size, &sha256).await {
                return Ok(Blob { sha256, size });
            }
            tracing::warn!(
                sha256,
                "the stored copy of a file did not match its digest; replacing it"
            );
        }
        create_dir_durably(&dir).await?;
        tokio::fs::rename(&self.partial.path, &path).await?;
        self.partial.kept = true;
        sync_dir(&dir).await?;
        Ok(Blob { sha256, size })
    }
}

/// True when the file at `path` has exactly `size` bytes whose SHA-256 is `sha256`.
async fn holds(path: &Path, size: u64, sha256: &str) -> bool {
    let (path, sha256) = (path.to_path_buf(), sha256.to_string());
    let checked = tokio::task::spawn_blocking(move || -> io::Result<bool> {
        let mut file = std::fs::File::open(&path)?;
        if file.metadata()?.len() != size {
            return Ok(false);
        }
        let mut hasher = Sha256::new();
        io::copy(&mut file, &mut hasher)?;
        Ok(hex(&hasher.finalize()) == sha256)
    })
    .await;
    matches!(checked, Ok(Ok(true)))
}

/// Creates `dir` and any missing parents, fsyncing each new directory's parent so the
/// new entry survives a crash.
async fn create_dir_durably(dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut cursor = Some(dir);
    while let Some(d) = cursor.filter(|d| !d.as_os_str().is_empty()) {
        if tokio::fs::try_exists(d).await? {
            break;
        }
        missing.push(d);
        cursor = d.parent();
    }
    for d in missing.into_iter().rev() {
        match tokio::fs::create_dir(d).await {
            Ok(()) => sync_dir(parent_of(d)).await?,
            // Another upload created it first.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A rename or a new entry is durable only once its directory is fsynced.
#[cfg(unix)]
async fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
        .await
        .map_err(io::Error::other)?
}

/// Elsewhere a directory cannot be opened to be fsynced.
#[cfg(not(unix))]
async fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Deletes partial uploads that a stopped process left behind (a crash skips `Drop`).
/// Only old ones: another process sharing the data dir may be receiving into the others.
pub fn remove_abandoned_uploads(data_dir: &Path) {
    const ABANDONED_AFTER: Duration = Duration::from_secs(3600);
    let Ok(entries) = std::fs::read_dir(data_dir.join(INCOMING)) else {
        return;
    };
    for entry in entries.flatten() {
        let modified =
            entry.metadata().and_then(|m| m.modified()).unwrap_or_else(|_| SystemTime::now());
        let age = SystemTime::now().duration_since(modified).unwrap_or_default();
        if age > ABANDONED_AFTER {
            if let Err(e) = std::fs::remove_file(entry.path()) {
                tracing::warn!(path = %entry.path().display(), "could not delete an abandoned upload: {e}");
            }
        }
    }
}

fn random_hex() -> io::Result<String> {
    let mut bytes = [0u8; 16];
    rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut bytes)
        .map_err(io::Error::other)?;
    Ok(hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
