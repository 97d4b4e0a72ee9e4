//! The start-up every local test server shares: a listener on 127.0.0.1 with a free
//! port, served on a thread with its own tokio runtime (so it answers callers on
//! any runtime, blocking or async), ready before `start` returns, stopped on drop.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;

use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// A server running in the background; stops accepting and joins its thread on
/// drop (dropping its runtime cancels the connections still open).
pub struct BackgroundServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundServer {
    /// Binds 127.0.0.1:0 and hands every accepted connection to `on_connection`,
    /// which runs inside the server's runtime (it may `tokio::spawn`).
    pub fn start<F>(name: &str, workers: usize, on_connection: F) -> std::io::Result<Self>
    where
        F: Fn(TcpStream) + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (shutdown_tx, mut shutdown_rx) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel::<std::io::Result<()>>();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers.max(1))
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
                    loop {
                        tokio::select! {
                            accepted = listener.accept() => {
                                if let Ok((socket, _)) = accepted {
                                    on_connection(socket);
                                }
                            }
                            _ = &mut shutdown_rx => break,
                        }
                    }
                });
            })?;
        ready_rx
            .recv()
            .map_err(|_| std::io::Error::other(format!("{name}: thread died during start-up")))??;
        Ok(BackgroundServer {
            addr,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// Serves `service` over HTTP/1.1 and HTTP/2 on every connection.
    pub fn http<S, B>(name: &str, workers: usize, service: S) -> std::io::Result<Self>
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<Box<dyn StdError + Send + Sync>>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        BackgroundServer::start(name, workers, move |socket| {
            let conn = ConnBuilder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(socket), service.clone())
                .into_owned();
            tokio::spawn(async move {
                let _ = conn.await;
            });
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
