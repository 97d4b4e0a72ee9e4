#!/bin/sh
# A shell "container": prints a metric and fails with exit code 3, no failure file.
echo "train:loss=1.5"
echo "the last argument is $1" >&2
exit 3
