//! A throwaway PostgreSQL server for tests: a private cluster made by `initdb`
//! in a temporary directory, listening on 127.0.0.1 on a free port only (its
//! Unix socket stays in that directory), password (SCRAM) login over TCP,
//! `fsync` on. Dropping the [`PgServer`] stops it and deletes the directory.
//!
//! The server binaries come from Debian's `postgresql` package (the newest
//! `/usr/lib/postgresql/<version>/bin`) or `COFFER_TEST_PG_BIN`; a missing
//! server fails the test, it is never skipped. PostgreSQL refuses to run as
//! root, so under root (CI) `initdb`, `postgres` and `pg_ctl` run as the
//! `postgres` system user (through `setpriv`) and the directory is handed to it.
//!
//! Start-up costs about half a second; tests that need many empty stores use
//! one server and a fresh table each.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The superuser every test server has.
pub const USER: &str = "postgres";
/// Its password (loopback only, thrown away with the server).
pub const PASSWORD: &str = "coffer-test-password";
/// The database to connect to.
pub const DATABASE: &str = "postgres";

/// How long `postgres` may take to accept connections.
const READY_PATIENCE: Duration = Duration::from_secs(30);
/// Attempts at finding a free port (another process may take ours first).
const PORT_ATTEMPTS: usize = 5;

/// A running private PostgreSQL server; stopped and deleted on drop.
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    tls: bool,
    owner: Option<(u32, u32)>,
    child: Mutex<Option<Child>>,
}

impl PgServer {
    /// Starts a server without TLS.
    pub fn start() -> Self {
        Self::start_inner(None)
    }

    /// Starts a server with `ssl = on`, serving the given PEM certificate (chain) and key.
    pub fn start_with_tls(cert_pem: &str, key_pem: &str) -> Self {
        Self::start_inner(Some((cert_pem, key_pem)))
    }

    fn start_inner(tls: Option<(&str, &str)>) -> Self {
        let bin = bin_dir();
        let owner = running_as_root().then(postgres_user_ids);
        let dir = tempfile::Builder::new()
            .prefix("coffer-pg-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let root = dir.path();
        let pwfile = root.join("pwfile");
        write_private(&pwfile, PASSWORD);
        for p in [root, pwfile.as_path()] {
            give(p, owner);
        }
        init_cluster(&bin, root, &pwfile, owner);
        if let Some((cert, key)) = tls {
            for (name, pem) in [("server.crt", cert), ("server.key", key)] {
                let path = root.join(name);
                write_private(&path, pem);
                give(&path, owner);
            }
        }
        let mut server = Self {
            dir,
            bin,
            port: 0,
            tls: tls.is_some(),
            owner,
            child: Mutex::new(None),
        };
        let mut failures = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port();
            match server.launch() {
                Ok(child) => {
                    server.child = Mutex::new(Some(child));
                    return server;
                }
                Err(log) => failures.push(log),
            }
        }
        panic!(
            "PostgreSQL did not start in {PORT_ATTEMPTS} attempts; last log:\n{}",
            failures.last().map_or("", String::as_str)
        );
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's directory (data in `data/`, log in `postgres.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A connection URL as the superuser, plain TCP (`sslmode=disable`).
    pub fn url(&self) -> String {
        self.url_with(PASSWORD, "sslmode=disable")
    }

    /// A connection URL as the superuser with another password and query string
    /// (`sslmode=require`, ...; may be empty).
    pub fn url_with(&self, password: &str, query: &str) -> String {
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!(
            "postgres://{USER}:{password}@127.0.0.1:{}/{DATABASE}{query}",
            self.port
        )
    }

    /// Stops the server as a crash would (`pg_ctl stop -m immediate`: no
    /// checkpoint, WAL replayed at the next start) and starts it again on the
    /// same port. Panics when it does not come back.
    pub fn crash_and_restart(&self) {
        self.crash();
        self.start_again();
    }

    /// Stops the server as a crash would, and leaves it stopped (a database
    /// outage) until [`PgServer::start_again`].
    pub fn crash(&self) {
        let mut slot = self.child.lock().unwrap_or_else(|p| p.into_inner());
        self.stop(slot.take());
    }

    /// Starts a stopped server again on the same port. Panics when it does
    /// not come back.
    pub fn start_again(&self) {
        let mut slot = self.child.lock().unwrap_or_else(|p| p.into_inner());
        let mut last = String::new();
        // The port is ours until the restart; a few tries cover a slow release.
        for _ in 0..PORT_ATTEMPTS {
            match self.launch() {
                Ok(child) => {
                    *slot = Some(child);
                    return;
                }
                Err(log) => last = log,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("PostgreSQL did not come back after a crash; log:\n{last}");
    }

    /// Starts `postgres` and waits until it accepts connections; on failure
    /// returns its log.
    fn launch(&self) -> Result<Child, String> {
        let root = self.dir.path();
        let log_path = root.join("postgres.log");
        let log = File::create(&log_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
        let log_err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot duplicate the log handle: {e}"));
        let mut cmd = self.command("postgres");
        cmd.arg("-D")
            .arg(root.join("data"))
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("port={}", self.port))
            .arg("-c")
            .arg(format!("unix_socket_directories={}", root.display()))
            .args(["-c", "fsync=on", "-c", "synchronous_commit=on"])
            .args(["-c", "max_connections=100", "-c", "shared_buffers=16MB"]);
        if self.tls {
            cmd.args(["-c", "ssl=on"])
                .arg("-c")
                .arg(format!(
                    "ssl_cert_file={}",
                    root.join("server.crt").display()
                ))
                .arg("-c")
                .arg(format!(
                    "ssl_key_file={}",
                    root.join("server.key").display()
                ));
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}/postgres: {e}", self.bin.display()));
        let pid_file = root.join("data/postmaster.pid");
        let deadline = Instant::now() + READY_PATIENCE;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let text = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!("postgres exited with {status}:\n{text}"));
            }
            // Line 8 of postmaster.pid turns to "ready" once connections are accepted.
            let ready = std::fs::read_to_string(&pid_file)
                .is_ok_and(|t| t.lines().nth(7).is_some_and(|l| l.trim() == "ready"));
            if ready {
                return Ok(child);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let text = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!(
                    "postgres not ready after {READY_PATIENCE:?}:\n{text}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Immediate shutdown (SIGQUIT through `pg_ctl`), then SIGKILL if that failed.
    fn stop(&self, child: Option<Child>) {
        let Some(mut child) = child else {
            return;
        };
        let stopped = self
            .command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "-t", "30"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = child.kill();
        }
        let _ = child.wait();
    }

    /// `program` from the server's bin directory, run as the `postgres` user under root.
    fn command(&self, program: &str) -> Command {
        as_owner(&self.bin.join(program), self.owner)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let child = self
            .child
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.stop(child);
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin`, or `COFFER_TEST_PG_BIN`.
fn bin_dir() -> PathBuf {
    let usable = |dir: &Path| dir.join("postgres").is_file() && dir.join("initdb").is_file();
    if let Some(dir) = std::env::var_os("COFFER_TEST_PG_BIN").map(PathBuf::from) {
        assert!(
            usable(&dir),
            "COFFER_TEST_PG_BIN={} holds no postgres and initdb",
            dir.display()
        );
        return dir;
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            usable(&bin).then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version);
    match newest {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/<version>/bin: \
             run ./scripts/setup (it installs Debian's postgresql package), or set \
             COFFER_TEST_PG_BIN to a directory holding postgres and initdb"
        ),
    }
}

fn init_cluster(bin: &Path, root: &Path, pwfile: &Path, owner: Option<(u32, u32)>) {
    let out = as_owner(&bin.join("initdb"), owner)
        .arg("-D")
        .arg(root.join("data"))
        .args(["-U", USER, "-E", "UTF8", "--locale=C.UTF-8"])
        .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
        .arg(format!("--pwfile={}", pwfile.display()))
        // Only initdb's own final fsync is skipped; the server runs with fsync on.
        .arg("--no-sync")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}/initdb: {e}", bin.display()));
    assert!(
        out.status.success(),
        "initdb failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `program` as is, or under root as the `postgres` user (uid, gid).
fn as_owner(program: &Path, owner: Option<(u32, u32)>) -> Command {
    match owner {
        None => Command::new(program),
        Some((uid, gid)) => {
            let mut cmd = Command::new("setpriv");
            cmd.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg("--")
                .arg(program);
            cmd
        }
    }
}

/// Whether this process runs as root (`/proc/self` belongs to the effective user).
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// uid and gid of the `postgres` system user, which Debian's package creates.
fn postgres_user_ids() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            if fields.next()? != "postgres" {
                return None;
            }
            let uid = fields.nth(1)?.parse().ok()?;
            let gid = fields.next()?.parse().ok()?;
            Some((uid, gid))
        })
        .unwrap_or_else(|| {
            panic!(
                "running as root, but there is no postgres user to run PostgreSQL as: \
                 run ./scripts/setup (Debian's postgresql package creates it)"
            )
        })
}

fn give(path: &Path, owner: Option<(u32, u32)>) {
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("cannot hand {} to postgres: {e}", path.display()));
    }
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text)
        .and_then(|()| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free port: {e}"))
}
