#!/usr/bin/env bash
# Compile the pure-Kotlin decision module and its JUnit4 tests with plain kotlinc
# (no Gradle, works with Debian's kotlinc 1.3), run them, exit non-zero on failure.
#
#   android_demo/decision/run_tests.sh
#
# Environment:
#   EDGETL_VECTORS  vector file (default: <repo>/tests/vectors/decision.json)
#   EDGETL_SETUP_VECTORS  card -> settings cases (default: <repo>/tests/vectors/decision_setup.json)
#   EDGETL_DUMP     "IN OUT [IN OUT ...]": after the tests, write the Kotlin events of every
#                   case in IN to OUT (one JSON line per case; used by tests/test_kotlin_decide.py)
#   EDGETL_DUMP_SETUP  "IN OUT": write what SetupRules returns for every case of IN to OUT
#   KOTLIN_BUILD    build directory (default: android_demo/decision/build/kotlinc, gitignored)
# Compilation is skipped when the sources and toolchain are unchanged since the last build.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BUILD="${KOTLIN_BUILD:-$HERE/build/kotlinc}"
VECTORS="${EDGETL_VECTORS:-$REPO/tests/vectors/decision.json}"
SETUP_VECTORS="${EDGETL_SETUP_VECTORS:-$REPO/tests/vectors/decision_setup.json}"

die() { echo "run_tests.sh: $*" >&2; exit 2; }

KOTLINC="$(command -v kotlinc || true)"
[ -n "$KOTLINC" ] || { echo "run_tests.sh: kotlinc not found (apt-get install kotlin)" >&2; exit 127; }
command -v java >/dev/null || die "java not found"

first_existing() { for f in "$@"; do [ -f "$f" ] && { echo "$f"; return 0; }; done; return 1; }
KOTLIN_LIB="$(cd "$(dirname "$(readlink -f "$KOTLINC")")/../lib" 2>/dev/null && pwd || true)"
STDLIB="$(first_existing "$KOTLIN_LIB/kotlin-stdlib.jar" /usr/share/java/kotlin-stdlib.jar)" \
    || die "kotlin-stdlib.jar not found"
JUNIT="$(first_existing /usr/share/java/junit4.jar)" || die "/usr/share/java/junit4.jar not found (apt-get install junit4)"
HAMCREST="$(first_existing /usr/share/java/hamcrest-core.jar /usr/share/java/hamcrest.jar /usr/share/java/hamcrest-all.jar)" \
    || die "hamcrest jar not found in /usr/share/java"

MAIN_SRC="$HERE/src/main/kotlin"
TEST_SRC="$HERE/src/test/kotlin"
STAMP="$BUILD/stamp"
stamp_now="$( { readlink -f "$KOTLINC"; find "$MAIN_SRC" "$TEST_SRC" -name '*.kt' -type f | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -d' ' -f1)"

# The module must stay pure Kotlin/JVM: no Android, no test libraries in main.
if grep -rnE '^\s*import\s+(android|androidx|org\.junit|org\.hamcrest)\.' "$MAIN_SRC"; then
    die "src/main must not import Android or test libraries"
fi

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$stamp_now" ] && [ -d "$BUILD/classes" ]; then
    echo "run_tests.sh: sources unchanged, reusing $BUILD/classes"
else
    rm -rf "$BUILD/classes" "$STAMP"
    mkdir -p "$BUILD/classes"
    echo "run_tests.sh: compiling main + test with $(readlink -f "$KOTLINC")"
    # One kotlinc run for both source sets: JVM start-up dominates (~15 s on 2 cores).
    kotlinc "$MAIN_SRC" "$TEST_SRC" -cp "$JUNIT:$HAMCREST" -d "$BUILD/classes" -jvm-target 1.8 \
        2> >(grep -v 'Xverify:none and -noverify were deprecated' >&2)
    echo "$stamp_now" > "$STAMP"
fi

CP="$BUILD/classes:$STDLIB:$JUNIT:$HAMCREST"
java -cp "$CP" -Dedgetl.vectors="$VECTORS" -Dedgetl.setup_vectors="$SETUP_VECTORS" org.junit.runner.JUnitCore \
    org.edgetl.decision.DeciderVectorsTest org.edgetl.decision.DeciderTest org.edgetl.decision.SetupVectorsTest

if [ -n "${EDGETL_DUMP:-}" ]; then
    # shellcheck disable=SC2086  # word splitting into IN OUT pairs is intended
    java -cp "$CP" org.edgetl.decision.DumpEvents $EDGETL_DUMP
fi

if [ -n "${EDGETL_DUMP_SETUP:-}" ]; then
    # shellcheck disable=SC2086  # IN OUT
    java -cp "$CP" org.edgetl.decision.DumpSetup $EDGETL_DUMP_SETUP
fi
