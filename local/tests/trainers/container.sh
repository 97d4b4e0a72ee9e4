#!/bin/sh
# One test "image" that trains and serves, as SageMaker runs `docker run <image> train`
# and `docker run <image> serve`: the last argument picks the script.
for last; do :; done
here=$(dirname "$0")
case "$last" in
  train) exec python3 "$here/train.py" "$@" ;;
  serve) exec python3 "$here/serve.py" "$@" ;;
  *) echo "container.sh: expected train or serve as the last argument, got '$last'" >&2; exit 64 ;;
esac
