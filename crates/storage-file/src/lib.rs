//! `file`: a storage backend that uses HashiCorp Vault's on-disk `file`
//! layout, so a data directory can move between Vault and Coffer.
//!
//! Key `a/b/c` lives in `<root>/a/b/_c` (leaf names get a `_` prefix, folder
//! names do not) and holds the JSON `{"Value":"<base64>"}` followed by a
//! newline, as Go's `json.Encoder` writes it. Writes replace the file
//! atomically and durably: temporary file, fsync, rename, fsync of the folder.
//!
//! It must never depend on the server, an engine, a seal or another backend:
//! only on the storage contract in `coffer-core`.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_core::storage::{Backend, StorageError, validate_key, validate_prefix};
use serde::Deserialize;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Names of temporary files start with this. Entries start with `_` and
/// folders are directories, so `list` never mistakes one for either.
const TEMP_PREFIX: &str = ".coffer-tmp.";

/// The longest file or directory name Linux file systems take (NAME_MAX).
const NAME_MAX: usize = 255;

/// The longest path the kernel takes in one call (PATH_MAX, with its NUL).
const PATH_MAX: usize = 4096;

/// How often `put` retries when a concurrent `delete` prunes the folder it is
/// writing into between creating the folder and creating the file.
const PUT_ATTEMPTS: usize = 8;

/// The [`Backend`] that speaks Vault's `file` storage layout under one root directory.
#[derive(Debug, Clone)]
pub struct FileBackend {
    root: PathBuf,
    temp_counter: Arc<AtomicU64>,
}

impl FileBackend {
    /// A backend rooted at `root`, creating the root (mode 0700) when missing.
    ///
    /// Fails with an error naming the root when it cannot be created or is
    /// not a directory, so a bad path shows up at startup rather than on the
    /// first write. This one-off mkdir runs on the caller's thread; every
    /// later operation runs on a blocking thread.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        let fail = |e: &std::io::Error| StorageError::Io {
            op: "open",
            key: root.display().to_string(),
            cause: format!("cannot use {} as the storage root: {e}", root.display()),
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(|e| fail(&e))?;
        if !root.is_dir() {
            return Err(fail(&std::io::Error::from(ErrorKind::NotADirectory)));
        }
        Ok(Self {
            root,
            temp_counter: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `key` is stored: `<root>/<folders...>/_<leaf>`. The key must be valid.
    fn entry_path(&self, key: &str) -> PathBuf {
        let (folders, leaf) = key.rsplit_once('/').unwrap_or(("", key));
        let mut path = self.folder_path(folders);
        path.push(format!("_{leaf}"));
        path
    }

    /// Parts of a temporary file name unique among live writers in this
    /// process: this backend's identity (the address of its counter, which
    /// clones share) and the next serial number.
    fn temp_name(&self) -> (usize, u64) {
        let instance = Arc::as_ptr(&self.temp_counter).addr();
        (instance, self.temp_counter.fetch_add(1, Ordering::Relaxed))
    }

    /// Refuses, before touching the disk, a key or prefix whose file the
    /// file system could not name: a folder segment over NAME_MAX bytes, a
    /// leaf over NAME_MAX with its `_`, or a path over PATH_MAX. Without
    /// this a put would make the folders and then fail on the file, leaving
    /// empty folders that list as children. Coffer's own physical keys stay
    /// far below (encrypted segments are under 240 bytes).
    fn check_fits(&self, key: &str, leaf: bool) -> Result<(), StorageError> {
        let mut segments = key.trim_end_matches('/').split('/');
        let longest = segments.clone().map(str::len).max().unwrap_or(0);
        let last = segments.next_back().map_or(0, str::len);
        let reason = if longest > NAME_MAX || (leaf && last + 1 > NAME_MAX) {
            format!(
                "a segment is longer than the file backend's {} bytes (one file name)",
                NAME_MAX - 1
            )
        } else if self.root.as_os_str().len() + key.len() + 2 >= PATH_MAX {
            format!(
                "the key is too long for a file path under {}",
                self.root.display()
            )
        } else {
            return Ok(());
        };
        Err(StorageError::InvalidKey {
            key: key.to_owned(),
            reason,
        })
    }

    /// The directory for a `/`-separated folder path (empty for the root).
    fn folder_path(&self, folders: &str) -> PathBuf {
        let mut path = self.root.clone();
        path.extend(folders.split('/').filter(|s| !s.is_empty()));
        path
    }
}

#[async_trait]
impl Backend for FileBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        validate_key(key)?;
        self.check_fits(key, true)?;
        let (path, k) = (self.entry_path(key), key.to_owned());
        blocking("get", key, move || read_entry(&path, &k)).await
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        validate_key(key)?;
        self.check_fits(key, true)?;
        let content = encode_entry(value);
        let (root, path, k) = (self.root.clone(), self.entry_path(key), key.to_owned());
        let name = self.temp_name();
        blocking("put", key, move || {
            write_entry(&root, &path, &content, name, &k)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        self.check_fits(key, true)?;
        let (root, path, k) = (self.root.clone(), self.entry_path(key), key.to_owned());
        blocking("delete", key, move || remove_entry(&root, &path, &k)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        validate_prefix(prefix)?;
        self.check_fits(prefix, false)?;
        let (dir, p) = (self.folder_path(prefix), prefix.to_owned());
        blocking("list", prefix, move || list_folder(&dir, &p)).await
    }

    fn kind(&self) -> &'static str {
        "file"
    }
}

/// The JSON document in every entry file; the field name is Vault's.
#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "Value")]
    value: String,
}

fn encode_entry(value: &[u8]) -> Vec<u8> {
    // Written by hand: exact bytes, no impossible error path, and base64 needs
    // no JSON escaping. The newline matches Go's json.Encoder, which Vault uses.
    format!("{{\"Value\":\"{}\"}}\n", STANDARD.encode(value)).into_bytes()
}

fn read_entry(path: &Path, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if is_absent(&e) => return Ok(None),
        Err(e) => return Err(io_err("get", key, "reading", path, &e)),
    };
    let corrupt = |cause: String| StorageError::Corrupt {
        key: key.to_owned(),
        cause: format!("{}: {cause}", path.display()),
    };
    let entry: Entry = serde_json::from_slice(&bytes)
        .map_err(|e| corrupt(format!("not a Vault file entry: {e}")))?;
    STANDARD
        .decode(entry.value)
        .map(Some)
        .map_err(|e| corrupt(format!("Value is not base64: {e}")))
}

/// Atomic, durable replace of one entry file.
fn write_entry(
    root: &Path,
    path: &Path,
    content: &[u8],
    (instance, serial): (usize, u64),
    key: &str,
) -> Result<(), StorageError> {
    let fail = |doing: &str, at: &Path, e: &std::io::Error| io_err("put", key, doing, at, e);
    let dir = path.parent().unwrap_or(root);
    let temp = dir.join(format!(
        "{TEMP_PREFIX}{}.{instance:x}.{serial}",
        std::process::id()
    ));
    let mut file = create_temp(root, dir, &temp, key)?;
    let written = file
        .write_all(content)
        .and_then(|()| file.sync_all())
        .map_err(|e| fail("writing", &temp, &e))
        .and_then(|()| std::fs::rename(&temp, path).map_err(|e| fail("renaming into", path, &e)));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    sync_dir(dir).map_err(|e| fail("syncing directory", dir, &e))
}

/// Creates the temporary file, creating missing folders as needed. A
/// concurrent delete may prune a folder we just made, so retry a few times.
fn create_temp(root: &Path, dir: &Path, temp: &Path, key: &str) -> Result<File, StorageError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let opened = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(temp);
        let err = match opened {
            Ok(file) => return Ok(file),
            Err(e) => e,
        };
        let retry = match err.kind() {
            ErrorKind::NotFound => match make_folders(root, dir) {
                Ok(()) => true,
                Err((_, e)) if e.kind() == ErrorKind::NotFound => true,
                Err((at, e)) => return Err(io_err("put", key, "creating directory", &at, &e)),
            },
            // Left behind by a crashed process that had our pid: temp names
            // are unique among live writers, so nobody is using it.
            ErrorKind::AlreadyExists => std::fs::remove_file(temp).is_ok(),
            _ => false,
        };
        if !retry || attempts >= PUT_ATTEMPTS {
            return Err(io_err("put", key, "creating", temp, &err));
        }
    }
}

/// Creates `dir` and any missing folders between it and `root` (and `root`
/// itself), fsyncing each parent so the new folder survives a power cut.
fn make_folders(root: &Path, dir: &Path) -> Result<(), (PathBuf, std::io::Error)> {
    if !root.is_dir() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(|e| (root.to_path_buf(), e))?;
    }
    let Ok(rel) = dir.strip_prefix(root) else {
        return Ok(());
    };
    let mut at = root.to_path_buf();
    for part in rel.components() {
        let parent = at.clone();
        at.push(part);
        match DirBuilder::new().mode(0o700).create(&at) {
            Ok(()) => sync_dir(&parent).map_err(|e| (parent, e))?,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err((at, e)),
        }
    }
    Ok(())
}

/// Removes the entry file, then every folder it leaves empty, up to the root.
fn remove_entry(root: &Path, path: &Path, key: &str) -> Result<(), StorageError> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if is_absent(&e) => return Ok(()),
        Err(e) => return Err(io_err("delete", key, "removing", path, &e)),
    }
    let mut dir = path.parent();
    if let Some(d) = dir {
        sync_dir(d).map_err(|e| io_err("delete", key, "syncing directory", d, &e))?;
    }
    // Stops at the first folder that still holds something (or vanished
    // under a concurrent delete); that is not an error.
    while let Some(d) = dir.filter(|d| *d != root && d.starts_with(root)) {
        if std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

/// Lists one directory: `_name` files become `name`, directories `name/`;
/// temporary and foreign files are skipped.
fn list_folder(dir: &Path, prefix: &str) -> Result<Vec<String>, StorageError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if is_absent(&e) => return Ok(Vec::new()),
        Err(e) => return Err(io_err("list", prefix, "reading directory", dir, &e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_err("list", prefix, "reading directory", dir, &e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue; // Not a name any key could have produced.
        };
        match entry.file_type() {
            Ok(t) if t.is_dir() => names.push(format!("{name}/")),
            Ok(t) if t.is_file() => {
                if let Some(leaf) = name.strip_prefix('_').filter(|l| !l.is_empty()) {
                    names.push(leaf.to_owned());
                }
            }
            Ok(_) => {}
            Err(e) if is_absent(&e) => {} // Removed while we were listing.
            Err(e) => return Err(io_err("list", prefix, "inspecting", &entry.path(), &e)),
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The file or one of its folders does not exist, or the file's name is a
/// folder's (in Vault's layout the folder of keys `_u/...` is named like
/// the file of key `u`): the key is absent.
fn is_absent(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::IsADirectory
    )
}

/// Runs filesystem work on a blocking thread, never on the async workers.
async fn blocking<T: Send + 'static>(
    op: &'static str,
    key: &str,
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StorageError::Io {
            op,
            key: key.to_owned(),
            cause: format!("storage task failed: {e}"),
        })?
}

fn io_err(
    op: &'static str,
    key: &str,
    doing: &str,
    path: &Path,
    e: &std::io::Error,
) -> StorageError {
    StorageError::Io {
        op,
        key: key.to_owned(),
        cause: format!("{doing} {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_json_is_vault_shaped() {
        assert_eq!(encode_entry(b"hi\x00"), b"{\"Value\":\"aGkA\"}\n");
        assert_eq!(encode_entry(b""), b"{\"Value\":\"\"}\n");
    }

    #[test]
    fn leaf_names_get_an_underscore_and_folders_do_not() {
        let b = FileBackend {
            root: PathBuf::from("/r"),
            temp_counter: Arc::default(),
        };
        assert_eq!(b.entry_path("a/b/c"), Path::new("/r/a/b/_c"));
        assert_eq!(b.entry_path("top"), Path::new("/r/_top"));
        assert_eq!(b.entry_path("_u/_v"), Path::new("/r/_u/__v"));
        assert_eq!(b.folder_path("a/b/"), Path::new("/r/a/b"));
        assert_eq!(b.folder_path(""), Path::new("/r"));
    }
}
