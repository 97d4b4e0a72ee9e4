//! A standalone S3-compatible server for benchmarks and manual runs: `s3s-fs` (the
//! same server the tests embed) over a directory, on 127.0.0.1 only. Buckets are the
//! subdirectories of the root. Prints its endpoint on stdout, then serves until it
//! is killed. Credentials are the fixed test ones of `integration_tests::s3_server`.

use std::path::PathBuf;
use std::process::ExitCode;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use integration_tests::s3_server::{ACCESS_KEY, REGION, SECRET_KEY};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

const HELP: &str = "\
local-s3: an S3-compatible server (s3s-fs) over a directory, on 127.0.0.1

USAGE:
    local-s3 --root DIR [--port PORT] [--bucket NAME]...

OPTIONS:
    --root DIR       directory holding the buckets (created if missing); each
                     subdirectory is a bucket
    --port PORT      TCP port on 127.0.0.1 (default 0: a free port)
    --bucket NAME    create this bucket (a directory) before serving; repeatable
    -h, --help       this text

Prints `http://127.0.0.1:PORT` on stdout once it accepts connections, then serves
until killed (SIGTERM, SIGINT). Requests must be signed (SigV4) with:
    AWS_ACCESS_KEY_ID=local-access-key AWS_SECRET_ACCESS_KEY=local-secret-key
    AWS_REGION=us-east-1
and use path-style addressing.

EXIT CODES:
    1  the server could not start; 2  bad arguments
";

struct Options {
    root: PathBuf,
    port: u16,
    buckets: Vec<String>,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut root = None;
    let mut port = 0u16;
    let mut buckets = Vec::new();
    let mut args = args;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--root" => root = Some(PathBuf::from(value("--root")?)),
            "--port" => {
                let raw = value("--port")?;
                port = raw
                    .parse()
                    .map_err(|_| format!("--port: {raw:?} is not a port number"))?;
            }
            "--bucket" => {
                let name = value("--bucket")?;
                // A bucket is a directory: refuse anything that could escape the root.
                if name.is_empty()
                    || name.starts_with('.')
                    || name.contains(['/', '\\'])
                    || name.len() > 63
                {
                    return Err(format!("--bucket: {name:?} is not a bucket name"));
                }
                buckets.push(name);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let root = root.ok_or("--root is required")?;
    Ok(Some(Options {
        root,
        port,
        buckets,
    }))
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("local-s3: {problem} (see --help)");
            return ExitCode::from(2);
        }
    };
    match serve(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("local-s3: {problem}");
            ExitCode::FAILURE
        }
    }
}

fn serve(options: Options) -> Result<(), String> {
    let root = &options.root;
    std::fs::create_dir_all(root).map_err(|e| format!("creating {}: {e}", root.display()))?;
    for bucket in &options.buckets {
        let dir = root.join(bucket);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let fs = s3s_fs::FileSystem::new(root).map_err(|e| format!("s3s-fs over {root:?}: {e:?}"))?;
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = builder.build();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    runtime.block_on(async move {
        // Loopback only: this server has fixed, public credentials.
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
            .await
            .map_err(|e| format!("binding 127.0.0.1:{}: {e}", options.port))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("reading the bound address: {e}"))?;
        // The endpoint line is the readiness signal: print it only once bound.
        println!("http://{addr}");
        eprintln!(
            "local-s3: serving {} at http://{addr} (region {REGION}, path-style)",
            root.display()
        );
        let http = ConnBuilder::new(TokioExecutor::new());
        loop {
            let (socket, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                // Running out of file descriptors must not end the server.
                Err(e) => {
                    eprintln!("local-s3: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
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
    })
}
