//! The database of the local stack: `DATABASE_URL` when set, or else a private PostgreSQL cluster under the stack's
//! directory (initdb once, pg_ctl start on a free port, its unix socket inside the directory), reused by later runs.
//!
//! PostgreSQL refuses to run as root, so when this process is root the cluster's files belong to, and its commands
//! run as, an unprivileged user (`postgres` unless `TRADESIM_PG_USER` says otherwise), through `runuser`.

use crate::DevError;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A private cluster: `dir/data`, `dir/run` (the socket), `dir/server.log`.
#[derive(Debug)]
pub struct PrivateCluster {
    dir: PathBuf,
    bin: PathBuf,
    run_as: Option<String>,
    port: u16,
    /// Only a cluster this process started is stopped by it.
    started_here: bool,
}

/// Where initdb and pg_ctl are: `TRADESIM_PG_BIN`, the `PATH`, or Debian's `/usr/lib/postgresql/<newest>/bin`.
fn pg_bin_dir() -> Result<PathBuf, DevError> {
    if let Some(dir) = std::env::var_os("TRADESIM_PG_BIN").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let in_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .find(|dir| dir.join("pg_ctl").is_file() && dir.join("initdb").is_file());
    if let Some(dir) = in_path {
        return Ok(dir);
    }
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|dir| dir.join("pg_ctl").is_file())
        .collect();
    debian.sort_by_key(|dir| dir.parent().and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok()));
    debian.pop().ok_or_else(|| {
        DevError::Postgres(
            "initdb and pg_ctl were not found: install PostgreSQL, set TRADESIM_PG_BIN, or set DATABASE_URL".into(),
        )
    })
}

fn free_port() -> Result<u16, DevError> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

impl PrivateCluster {
    /// Initializes the cluster if needed and starts it unless it already runs. Blocking (runs the tools).
    pub fn ensure(dir: &Path) -> Result<Self, DevError> {
        let run_as = rustix::process::geteuid()
            .is_root()
            .then(|| std::env::var("TRADESIM_PG_USER").unwrap_or_else(|_| "postgres".into()));
        let mut cluster =
            Self { dir: std::path::absolute(dir)?, bin: pg_bin_dir()?, run_as, port: 0, started_here: false };
        let data = cluster.dir.join("data");
        std::fs::create_dir_all(cluster.dir.join("run"))?;
        if !data.join("PG_VERSION").is_file() {
            std::fs::create_dir_all(&data)?;
            cluster.give_to_user()?;
            println!("tradesim-dev: creating a private PostgreSQL cluster in {}", data.display());
            cluster.tool(
                "initdb",
                &["-D", path(&data)?, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-instructions"],
            )?;
        }
        cluster.give_to_user()?;
        match cluster.running_port() {
            Some(port) => cluster.port = port,
            None => cluster.start()?,
        }
        Ok(cluster)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Starts the server, on the port it had before if it ran already (so its URLs stay valid). Blocking.
    pub fn start(&mut self) -> Result<(), DevError> {
        if self.port == 0 {
            self.port = free_port()?;
        }
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, path(&self.dir.join("run"))?);
        let data = self.dir.join("data");
        let log = self.dir.join("server.log");
        self.tool("pg_ctl", &["-D", path(&data)?, "-l", path(&log)?, "-w", "-t", "60", "-o", &options, "start"])?;
        self.started_here = true;
        Ok(())
    }

    /// The port of the cluster's running server, if `pg_ctl status` says one runs (postmaster.pid's 4th line).
    fn running_port(&self) -> Option<u16> {
        let data = self.dir.join("data");
        self.tool("pg_ctl", &["-D", path(&data).ok()?, "status"]).ok()?;
        let pid_file = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    /// The pid of the cluster's server (the postmaster; its backends are its children), if one runs.
    pub fn server_pid(&self) -> Option<i32> {
        let pid_file = std::fs::read_to_string(self.dir.join("data").join("postmaster.pid")).ok()?;
        pid_file.lines().next()?.trim().parse().ok()
    }

    /// Stops the server if this process started it. Blocking.
    pub fn stop(&self) -> Result<(), DevError> {
        if self.started_here {
            self.stop_server()?;
        }
        Ok(())
    }

    /// Stops the server, whoever started it, and starts it again on the same port `down` later: a database restart
    /// under connected clients. Blocking.
    pub fn restart(&mut self, down: std::time::Duration) -> Result<(), DevError> {
        self.stop_server()?;
        std::thread::sleep(down);
        self.start()
    }

    fn stop_server(&self) -> Result<(), DevError> {
        self.tool("pg_ctl", &["-D", path(&self.dir.join("data"))?, "-m", "fast", "-w", "stop"])
    }

    fn give_to_user(&self) -> Result<(), DevError> {
        let Some(user) = &self.run_as else { return Ok(()) };
        run(Command::new("chown").args(["-R", &format!("{user}:")]).arg(&self.dir))
    }

    fn tool(&self, name: &str, args: &[&str]) -> Result<(), DevError> {
        let program = self.bin.join(name);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(program);
                command
            }
            None => Command::new(program),
        };
        run(command.args(args).current_dir(&self.dir))
    }
}

fn path(path: &Path) -> Result<&str, DevError> {
    path.to_str().ok_or_else(|| DevError::Config(format!("{} is not valid UTF-8", path.display())))
}

fn run(command: &mut Command) -> Result<(), DevError> {
    let output = command.output().map_err(|e| DevError::Postgres(format!("cannot run {command:?}: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    Err(DevError::Postgres(format!(
        "{command:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

/// Creates `database` on the server at `admin_url` (a database that exists, such as `postgres`) unless it exists.
pub async fn create_database(admin_url: &str, database: &str) -> Result<(), DevError> {
    let (client, connection) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls).await?;
    let connection = tokio::spawn(connection);
    let exists = client.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database]).await?.is_some();
    if !exists {
        // The name is ours (a constant), not user input; identifiers cannot be bound as parameters.
        client.batch_execute(&format!("CREATE DATABASE \"{database}\"")).await?;
    }
    drop(client);
    let _ = connection.await;
    Ok(())
}
