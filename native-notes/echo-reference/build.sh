#!/bin/sh
# build.sh: compiles the C echo references into OUTDIR (default: bin/ next to this script).
# Usage: native-notes/echo-reference/build.sh [OUTDIR]
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/bin}
mkdir -p "$out"

# -Werror keeps the references warning-free; -O2 is what the benchmark compares against.
CFLAGS="-O2 -Wall -Wextra -Werror"

gcc $CFLAGS -pthread -o "$out/echo_epoll" "$here/echo_epoll.c"
gcc $CFLAGS -o "$out/echo_blocking" "$here/echo_blocking.c"
gcc $CFLAGS -pthread -o "$out/echo_threads" "$here/echo_threads.c"

echo "built echo_epoll echo_blocking echo_threads in $out"
