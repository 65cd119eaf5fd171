#!/usr/bin/env bash
# notebooks/setup.sh: everything the notebooks need, in one command (run it again after changing the code).
#
#  1. builds the project's jars (infini-cli/target/infini-cli.jar and infini-cli/target/lib/) when they are missing or older
#     than the sources (through ./infini, which does that on every start);
#  2. fetches the Java kernel rapaio-jupyter-kernel from Maven Central (through Maven) and registers it for this
#     user as the Jupyter kernel "infini-java", with the JVM settings ND4J wants (bigger thread stacks, a GC
#     without background threads, off-heap memory not capped by the heap, headless AWT for the plots);
#  3. writes notebooks/infini-classpath.jar, a jar holding only a manifest whose Class-Path lists the project's
#     jars, so that a notebook's first cell `%jar infini-classpath.jar` loads all of them.
#
# Environment: JUPYTER (the jupyter command; default: jupyter on PATH), INFINI_KERNEL_JAVA_OPTS (JVM options of
# the kernel), RJK_VERSION (kernel version, default 3.0.1).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
RJK_VERSION="${RJK_VERSION:-3.0.1}"
KERNEL_NAME=infini-java
LIB="$ROOT/infini-cli/target/lib"

JAVA="$(command -v java || true)"
[ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ] && JAVA="$JAVA_HOME/bin/java"
if [ -z "$JAVA" ]; then
  echo "setup: no java found (Java 17 or newer is needed)" >&2
  exit 1
fi
JAVA="$(readlink -f "$JAVA")"
java_major="$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
if [ "${java_major%%.*}" -lt 17 ] 2>/dev/null; then
  echo "setup: $JAVA is Java $java_major; the project and the kernel need Java 17 or newer" >&2
  exit 1
fi

# 1. The project's jars: ./infini builds them when they are missing or older than the sources.
"$ROOT/infini" --version >/dev/null

# 2. The kernel, from Maven Central, registered for this user.
JUPYTER="${JUPYTER:-$(command -v jupyter || true)}"
if [ -n "$JUPYTER" ]; then
  DATA_DIR="$("$JUPYTER" --data-dir)"
else
  DATA_DIR="${JUPYTER_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/jupyter}"
  echo "setup: no jupyter command found; registering the kernel in $DATA_DIR anyway. To install Jupyter:" >&2
  echo "       Debian/Ubuntu: sudo apt-get install jupyter-notebook jupyter-nbconvert python3-ipykernel; or: pip install notebook" >&2
fi
KDIR="$DATA_DIR/kernels/$KERNEL_NAME"
KJAR="$KDIR/rapaio-jupyter-kernel-$RJK_VERSION.jar"
mkdir -p "$KDIR"
if [ ! -f "$KJAR" ]; then
  echo "setup: fetching io.github.padreati:rapaio-jupyter-kernel:$RJK_VERSION through Maven..."
  (cd "$ROOT" && mvn -B -q -Dstyle.color=never -N dependency:copy -Dartifact="io.github.padreati:rapaio-jupyter-kernel:$RJK_VERSION" \
      -DoutputDirectory="$KDIR")
fi
find "$KDIR" -maxdepth 1 -name 'rapaio-jupyter-kernel-*.jar' ! -name "$(basename "$KJAR")" -delete
JAVA_OPTS="${INFINI_KERNEL_JAVA_OPTS:--Xss4m -XX:+UseSerialGC -Xmx2g -Djava.awt.headless=true -Dorg.bytedeco.javacpp.maxbytes=0 -Dorg.bytedeco.javacpp.maxphysicalbytes=0}"
# The kernel (3.0.1) starts each channel thread before setting the flag that keeps its loop running; when the new
# thread runs first it ends at once and the kernel never answers. Linux's batch scheduling policy (no preemption on
# wake-up, no other effect on a compute job) lets the starting thread set the flag first: here it cut failed
# starts from 1 in 2 to about 1 in 8 on a loaded machine. run-all.sh retries the rest.
PREFIX=()
if command -v chrt >/dev/null 2>&1 && chrt --batch 0 true 2>/dev/null; then
  PREFIX=("$(command -v chrt)" --batch 0)
fi
{
  echo '{'
  printf '  "argv": ['
  for a in ${PREFIX[@]+"${PREFIX[@]}"}; do printf '"%s", ' "$a"; done
  printf '"%s"' "$JAVA"
  for opt in $JAVA_OPTS; do printf ', "%s"' "$opt"; done
  printf ', "-jar", "%s", "{connection_file}"],\n' "$KJAR"
  cat <<JSON
  "display_name": "Java (Infini, rapaio $RJK_VERSION)",
  "language": "java",
  "interrupt_mode": "message",
  "env": {
    "RJK_CLASSPATH": "",
    "RJK_COMPILER_OPTIONS": "",
    "RJK_INIT_SCRIPT": "",
    "RJK_TIMEOUT_MILLIS": "-1",
    "RJK_MIMA_CACHE": "$KDIR/mima_cache",
    "OMP_WAIT_POLICY": "PASSIVE",
    "OPENBLAS_THREAD_TIMEOUT": "4"
  }
}
JSON
} > "$KDIR/kernel.json"

# 3. One jar whose manifest puts the project's jars on the classpath (paths relative to this folder).
MANIFEST="$(mktemp)"
trap 'rm -f "$MANIFEST"' EXIT
{
  echo "Manifest-Version: 1.0"
  printf 'Class-Path: ../infini-cli/target/infini-cli.jar'
  for j in "$LIB"/*.jar; do printf ' \n  ../infini-cli/target/lib/%s' "$(basename "$j")"; done
  echo
} > "$MANIFEST"
rm -f "$HERE/infini-classpath.jar"
"$(dirname "$JAVA")/jar" --create --file "$HERE/infini-classpath.jar" --manifest "$MANIFEST"

echo "setup: kernel '$KERNEL_NAME' (rapaio-jupyter-kernel $RJK_VERSION) registered in $KDIR"
echo "setup: notebooks/infini-classpath.jar lists $(ls "$LIB"/*.jar | wc -l) jars plus infini-cli.jar"
echo "setup: open the notebooks with: jupyter notebook notebooks/"
