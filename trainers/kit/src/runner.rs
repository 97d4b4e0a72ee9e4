//! The container entry point: `<binary> train` or `<binary> serve`, as SageMaker
//! runs an image (`docker run <image> train|serve`, developer guide
//! your-algorithms-training-algo-dockerfile and your-algorithms-inference-code) and
//! sfn-local runs the local command (the same word appended, `SM_ML_ROOT` set).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;

use crate::paths::SM_ML_ROOT;
use crate::{serve_on, MlRoot, Predictor, TrainError};

/// EX_USAGE from sysexits.h: the command line was wrong.
const EXIT_USAGE: u8 = 64;

/// The port SageMaker's hosting and batch transform call unless
/// SAGEMAKER_BIND_TO_PORT says otherwise.
const DEFAULT_PORT: u16 = 8080;

/// The whole container entry point: `<binary> train` or `<binary> serve` (the LAST
/// argument decides, as `docker run <image> train` appends it).
/// - train: [`run_train`] with [`MlRoot::from_env`].
/// - serve: [`run_serve`] with [`MlRoot::from_env`].
/// - anything else: usage on stderr, exit 64.
pub fn container_main<P: Predictor>(
    name: &str,
    train: fn(&MlRoot) -> Result<(), TrainError>,
    load: fn(&Path) -> Result<P, TrainError>,
) -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    match args.last().and_then(|a| a.to_str()) {
        Some("train") => {
            let root = MlRoot::from_env();
            write_failure_on_panic(&root);
            run_train(&root, train)
        }
        Some("serve") => run_serve(&MlRoot::from_env(), load),
        _ => {
            eprintln!(
                "usage: {name} train|serve\n\
                 \n\
                 train  trains on the channels under $SM_ML_ROOT/input/data (default /opt/ml)\n\
                 \x20      and writes the model to $SM_ML_ROOT/model\n\
                 serve  serves $SM_ML_ROOT/model over HTTP on port $SAGEMAKER_BIND_TO_PORT (default 8080)"
            );
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Runs `train`; on error writes its Display text to the failure file (creating
/// `output/`), prints `error: <reason>` on stderr and returns exit code 1; 0 on Ok.
pub fn run_train(root: &MlRoot, train: impl FnOnce(&MlRoot) -> Result<(), TrainError>) -> ExitCode {
    match train(root) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let reason = e.to_string();
            eprintln!("error: {reason}");
            if let Err(write_error) = write_failure(root, &reason) {
                eprintln!("error: {write_error}");
            }
            ExitCode::FAILURE
        }
    }
}

/// A panic is a bug, but it must still reach SageMaker as a FailureReason: the
/// release profile aborts on panic, so this hook writes the failure file first, then
/// lets the previous hook print the panic as usual.
pub fn write_failure_on_panic(root: &MlRoot) {
    let root = root.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = write_failure(
            &root,
            &format!("internal error (a bug in the trainer): {info}"),
        );
        previous(info);
    }));
}

/// Writes `reason` whole to `output/failure`, creating `output/` (SageMaker shows
/// its first 1024 characters as the job's FailureReason).
pub fn write_failure(root: &MlRoot, reason: &str) -> Result<(), TrainError> {
    let path = root.failure_file();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| TrainError::io(format!("creating {}", dir.display()), e))?;
    }
    std::fs::write(&path, reason)
        .map_err(|e| TrainError::io(format!("writing {}", path.display()), e))
}

/// Loads the model from `model/`, then serves it (see [`serve_on`]) on
/// SAGEMAKER_BIND_TO_PORT (default 8080): on 127.0.0.1 when SM_ML_ROOT is set
/// (sfn-local runs us as a local process, nothing else should reach it), else on
/// 0.0.0.0 (inside a container). Runs until SIGTERM or SIGINT, then returns 0; a
/// load or start-up error is printed on stderr and returns 1.
pub fn run_serve<P: Predictor>(
    root: &MlRoot,
    load: impl FnOnce(&Path) -> Result<P, TrainError>,
) -> ExitCode {
    match serve(root, load) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("error: {reason}");
            ExitCode::FAILURE
        }
    }
}

fn serve<P: Predictor>(
    root: &MlRoot,
    load: impl FnOnce(&Path) -> Result<P, TrainError>,
) -> Result<(), String> {
    let address = bind_address(
        std::env::var("SAGEMAKER_BIND_TO_PORT").ok().as_deref(),
        std::env::var_os(SM_ML_ROOT).is_some_and(|v| !v.is_empty()),
    )?;
    let model_dir = root.model_dir();
    let predictor = load(&model_dir)
        .map_err(|e| format!("loading the model from {}: {e}", model_dir.display()))?;
    // Two workers are plenty for /ping and a few connections; the model itself runs
    // on the blocking pool.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;
    runtime.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        // Installed before binding, so a stop that comes as soon as /ping answers
        // is a clean shutdown rather than the default (die by the signal).
        let mut terminate =
            signal(SignalKind::terminate()).map_err(|e| format!("handling SIGTERM: {e}"))?;
        let mut interrupt =
            signal(SignalKind::interrupt()).map_err(|e| format!("handling SIGINT: {e}"))?;
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| format!("cannot listen on {address}: {e}"))?;
        let local = listener.local_addr().unwrap_or(address);
        eprintln!("listening on http://{local}");
        let shutdown = async move {
            let name = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            eprintln!("{name}: stopping");
        };
        serve_on(listener, predictor, shutdown)
            .await
            .map_err(|e| format!("serving: {e}"))
    })
}

/// The address to listen on, from SAGEMAKER_BIND_TO_PORT and whether we run under
/// sfn-local (SM_ML_ROOT set).
fn bind_address(port: Option<&str>, local: bool) -> Result<SocketAddr, String> {
    let port = match port.map(str::trim) {
        None | Some("") => DEFAULT_PORT,
        Some(text) => text
            .parse::<u16>()
            .map_err(|_| format!("SAGEMAKER_BIND_TO_PORT must be a port number, got {text:?}"))?,
    };
    let ip = if local {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    };
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_train_writes_the_failure_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = MlRoot::at(dir.path());
        let code = run_train(&root, |_| {
            Err(TrainError::Hyperparameter {
                name: "epochs".into(),
                message: "must be an integer from 1 to 10000, got \"0\"".into(),
            })
        });
        assert_eq!(code, ExitCode::FAILURE);
        assert_eq!(
            std::fs::read_to_string(root.failure_file()).unwrap(),
            "hyperparameter `epochs`: must be an integer from 1 to 10000, got \"0\""
        );
    }

    #[test]
    fn a_panic_in_train_still_writes_the_failure_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = MlRoot::at(dir.path());
        write_failure_on_panic(&root);
        let panicked = std::panic::catch_unwind(|| {
            run_train(&root, |_| -> Result<(), TrainError> {
                panic!("index out of bounds")
            })
        });
        // Back to the default hook for the other tests of this binary.
        let _ = std::panic::take_hook();
        assert!(panicked.is_err());
        let reason = std::fs::read_to_string(root.failure_file()).unwrap();
        assert!(
            reason.starts_with("internal error (a bug in the trainer): panicked at ")
                && reason.contains("index out of bounds"),
            "{reason}"
        );
    }

    #[test]
    fn the_failure_file_holds_the_whole_reason() {
        let dir = tempfile::tempdir().unwrap();
        let root = MlRoot::at(dir.path());
        let long = "x".repeat(5000);
        let reason = long.clone();
        assert_eq!(
            run_train(&root, move |_| Err(TrainError::Data(reason))),
            ExitCode::FAILURE
        );
        assert_eq!(std::fs::read_to_string(root.failure_file()).unwrap(), long);
    }

    #[test]
    fn a_successful_train_writes_no_failure_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = MlRoot::at(dir.path());
        let code = run_train(&root, |r| {
            crate::save_model(r, "model.json", &serde_json::json!({"ok": true}))
        });
        assert_eq!(code, ExitCode::SUCCESS);
        assert!(!root.failure_file().exists());
        assert!(root.model_dir().join("model.json").is_file());
    }

    #[test]
    fn paths_follow_sagemakers_layout() {
        let root = MlRoot::at("/x");
        assert_eq!(root.root(), Path::new("/x"));
        assert_eq!(
            root.hyperparameters_file(),
            Path::new("/x/input/config/hyperparameters.json")
        );
        assert_eq!(root.channel_dir("train"), Path::new("/x/input/data/train"));
        assert_eq!(root.model_dir(), Path::new("/x/model"));
        assert_eq!(root.output_data_dir(), Path::new("/x/output/data"));
        assert_eq!(root.failure_file(), Path::new("/x/output/failure"));
    }

    #[test]
    fn bind_address_defaults_and_errors() {
        assert_eq!(
            bind_address(None, false).unwrap(),
            "0.0.0.0:8080".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            bind_address(Some("9001"), true).unwrap(),
            "127.0.0.1:9001".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            bind_address(Some("http"), false).unwrap_err(),
            "SAGEMAKER_BIND_TO_PORT must be a port number, got \"http\""
        );
    }
}
