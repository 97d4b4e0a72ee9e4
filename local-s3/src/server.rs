//! The running server: the [`Backend`] behind s3s's HTTP service (SigV4 with fixed
//! credentials), on 127.0.0.1 only, on a thread with its own runtime, so any caller
//! can use it whatever runtime (or none) that caller runs.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use aws_sdk_s3::config::{Credentials, Region};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::sync::oneshot;

use crate::backend::Backend;
use crate::store::{Store, StoreOptions, DEFAULT_MIN_PART_SIZE};

/// The fixed credentials every request must be signed with. Public on purpose: the
/// server only listens on loopback.
pub const ACCESS_KEY: &str = "local-access-key";
pub const SECRET_KEY: &str = "local-secret-key";
pub const REGION: &str = "us-east-1";

/// How to start a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The directory holding the buckets (created if missing); `None`: a new
    /// temporary directory, removed when the server stops.
    pub root: Option<PathBuf>,
    /// The port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The smallest size of every part but the last (S3: 5 MiB).
    pub min_part_size: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            root: None,
            port: 0,
            min_part_size: DEFAULT_MIN_PART_SIZE,
        }
    }
}

/// A running server; it stops on drop (and removes its directory if it made one).
pub struct LocalS3 {
    addr: SocketAddr,
    root: PathBuf,
    store: Store,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    // Last: removed only after the server thread has stopped.
    _dir: Option<tempfile::TempDir>,
}

impl LocalS3 {
    /// Starts a server over a new temporary directory.
    pub fn start() -> io::Result<LocalS3> {
        LocalS3::start_with(Options::default())
    }

    /// Starts a server over `root` (created if missing); what an earlier server left
    /// there is served again.
    pub fn start_in(root: &Path) -> io::Result<LocalS3> {
        LocalS3::start_with(Options {
            root: Some(root.to_path_buf()),
            ..Options::default()
        })
    }

    /// Starts a server; returns once it accepts connections.
    pub fn start_with(options: Options) -> io::Result<LocalS3> {
        let (dir, root) = match options.root {
            Some(root) => (None, root),
            None => {
                let dir = tempfile::tempdir()?;
                let root = dir.path().to_path_buf();
                (Some(dir), root)
            }
        };
        let store = Store::open_with(
            &root,
            StoreOptions {
                min_part_size: options.min_part_size,
            },
        )?;
        let mut builder = S3ServiceBuilder::new(Backend::new(store.clone()));
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();

        // Loopback only: the credentials are public.
        let listener = std::net::TcpListener::bind(("127.0.0.1", options.port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (shutdown_tx, mut shutdown_rx) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();

        let thread = std::thread::Builder::new()
            .name("local-s3".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("local-s3-worker")
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let http = ConnBuilder::new(TokioExecutor::new());
                    loop {
                        tokio::select! {
                            accepted = listener.accept() => {
                                let socket = match accepted {
                                    Ok((socket, _)) => socket,
                                    // Out of file descriptors, say: wait, do not stop serving.
                                    Err(_) => {
                                        tokio::time::sleep(Duration::from_millis(20)).await;
                                        continue;
                                    }
                                };
                                let _ = socket.set_nodelay(true);
                                let conn = http
                                    .serve_connection(TokioIo::new(socket), service.clone())
                                    .into_owned();
                                tokio::spawn(async move {
                                    let _ = conn.await;
                                });
                            }
                            _ = &mut shutdown_rx => break,
                        }
                    }
                });
                // Dropping the runtime here ends the connections still open.
            })?;
        ready_rx
            .recv()
            .map_err(|_| io::Error::other("the local S3 thread died during start-up"))??;
        Ok(LocalS3 {
            addr,
            root,
            store,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The directory holding the buckets.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The store behind the server, for seeding and checking without HTTP.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// An `aws-sdk-s3` client for this server: static credentials, path-style.
    pub fn client(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(self.client_config().build())
    }

    /// The client configuration, for callers that tune retries or timeouts.
    pub fn client_config(&self) -> aws_sdk_s3::config::Builder {
        aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(Region::new(REGION))
            .endpoint_url(self.endpoint())
            .force_path_style(true)
            .credentials_provider(Credentials::new(
                ACCESS_KEY, SECRET_KEY, None, None, "local-s3",
            ))
    }

    /// The environment a Lambda binary needs to use this server as its S3.
    pub fn lambda_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_S3", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("AWS_REGION", REGION.to_string()),
        ]
    }
}

impl Drop for LocalS3 {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
