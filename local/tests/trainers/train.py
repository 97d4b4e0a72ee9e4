#!/usr/bin/env python3
"""A training "container" for sfn-local's SageMaker tests.

Run as `train.py train`, like `docker run <image> train`. It finds its /opt/ml through
SM_ML_ROOT (sfn-local's convention) and behaves as the `mode` hyperparameter says:

- ok: prints metrics, copies what it was given (config files, channel files, SM_*
  environment) into the model directory, writes a model and output data; exits 0.
- failure: writes /opt/ml/output/failure and exits 1.
- exit: exits 3 without a failure file.
- failure-exit0: writes a failure file but exits 0 (the exit code decides).
- long-failure: writes a 3,000-character failure file, exits 2.
- sleep: sleeps; on SIGTERM saves a partial model and exits 0.
- stubborn: sleeps and ignores SIGTERM.
"""
import json
import os
import signal
import sys
import time

ML = os.environ.get("SM_ML_ROOT", "/opt/ml")


def path(*parts):
    return os.path.join(ML, *parts)


def main():
    if sys.argv[-1] != "train":
        print(f"expected `train` as the last argument, got {sys.argv[1:]}", file=sys.stderr)
        return 64
    with open(path("input", "config", "hyperparameters.json")) as f:
        hp = json.load(f)
    mode = hp.get("mode", "ok")
    model = path("model")

    if mode == "ok":
        # stderr first, then a pause: the two pipes are read independently, and the
        # test checks that the *last* value of each metric wins.
        print("validation:accuracy=0.5", file=sys.stderr, flush=True)
        time.sleep(0.3)
        for loss in ("0.9", "0.5", "0.25"):
            print(f"epoch train:loss={loss}", flush=True)
        print("validation:accuracy=0.875 validation:macro_f1=7.5e-1", flush=True)
        print("validation:accuracy=not-a-number", flush=True)
        seen = os.path.join(model, "seen")
        os.makedirs(seen, exist_ok=True)
        for name in ("hyperparameters.json", "resourceconfig.json", "inputdataconfig.json"):
            with open(path("input", "config", name)) as src, open(os.path.join(seen, name), "w") as dst:
                dst.write(src.read())
        channels = {}
        data = path("input", "data")
        for channel in sorted(os.listdir(data)):
            files = {}
            for root, _, names in os.walk(os.path.join(data, channel)):
                for name in names:
                    full = os.path.join(root, name)
                    with open(full) as f:
                        files[os.path.relpath(full, os.path.join(data, channel))] = f.read()
            channels[channel] = files
        with open(os.path.join(seen, "channels.json"), "w") as f:
            json.dump(channels, f, sort_keys=True)
        env = {k: v for k, v in os.environ.items()
               if k.startswith(("SM_", "TRAINING_JOB_", "AWS_", "SAGEMAKER_", "EXTRA_", "IMAGE_"))}
        env["cwd"] = os.getcwd()
        env["argv"] = sys.argv[1:]
        with open(os.path.join(seen, "env.json"), "w") as f:
            json.dump(env, f, sort_keys=True)
        with open(os.path.join(model, "model.json"), "w") as f:
            json.dump({"name": "tiny-model", "epochs": hp.get("epochs")}, f)
        os.makedirs(os.path.join(model, "sub"), exist_ok=True)
        with open(os.path.join(model, "sub", "weights.txt"), "w") as f:
            f.write("0.1 0.2 0.3\n")
        with open(path("output", "data", "report.txt"), "w") as f:
            f.write("a report\n")
        return 0
    if mode == "failure":
        print("training... then a NaN", flush=True)
        with open(path("output", "failure"), "w") as f:
            f.write("ValueError: the loss became NaN at epoch 3\n")
        return 1
    if mode == "exit":
        print("giving up without a word", file=sys.stderr)
        return 3
    if mode == "failure-exit0":
        with open(path("output", "failure"), "w") as f:
            f.write("a failure file, but the exit code is 0")
        with open(os.path.join(model, "model.json"), "w") as f:
            f.write("{}")
        return 0
    if mode == "long-failure":
        with open(path("output", "failure"), "w") as f:
            f.write("E" * 3000)
        return 2
    if mode == "sleep":
        def on_term(signum, frame):
            with open(os.path.join(model, "partial.txt"), "w") as f:
                f.write("saved on SIGTERM\n")
            print("got SIGTERM, saved a partial model", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, on_term)
        print("train:loss=2.0", flush=True)
        time.sleep(60)
        return 0
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ignoring SIGTERM", flush=True)
        time.sleep(60)
        return 0
    print(f"unknown mode {mode}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
