#!/usr/bin/env bash
# Compile the app's pure-Kotlin helpers (no Android imports) with their JUnit4 tests using plain
# kotlinc (Debian's 1.3 works; no Gradle, no Android SDK), together with the decision module they
# use, then run the tests. Exit non-zero on any failure.
#
#   android_demo/app/run_pure_tests.sh
#
# The helpers use org.json, which Android ships; on the JVM it comes from Debian's
# libandroid-json-java (Android's own org.json): apt-get install kotlin junit4 libandroid-json-java
#
# Environment:
#   EDGETL_DUMP_CARD  "CARD PHRASES OUT": afterwards, write what the app reads from CARD and
#                     PHRASES to OUT as JSON (used by tests/test_android_project.py)
#   KOTLIN_BUILD      build directory (default: android_demo/app/build/kotlinc-pure, gitignored)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BUILD="${KOTLIN_BUILD:-$HERE/build/kotlinc-pure}"
SRC="$HERE/src/main/java/org/edgetl/demo"
TEST_SRC="$HERE/src/test/java/org/edgetl/demo"
DECISION_SRC="$REPO/android_demo/decision/src/main/kotlin"

# The Android-free sources of the app; each says "// PURE:" in its header.
PURE=(Assets.kt ModelCard.kt Phrases.kt Preprocess.kt Vibrations.kt Delegates.kt DecisionSetup.kt
      ThresholdSetting.kt Languages.kt SpeechTiming.kt)

die() { echo "run_pure_tests.sh: $*" >&2; exit 2; }

KOTLINC="$(command -v kotlinc || true)"
[ -n "$KOTLINC" ] || { echo "run_pure_tests.sh: kotlinc not found (apt-get install kotlin)" >&2; exit 127; }
command -v java >/dev/null || die "java not found"

first_existing() { for f in "$@"; do [ -f "$f" ] && { echo "$f"; return 0; }; done; return 1; }
KOTLIN_LIB="$(cd "$(dirname "$(readlink -f "$KOTLINC")")/../lib" 2>/dev/null && pwd || true)"
STDLIB="$(first_existing "$KOTLIN_LIB/kotlin-stdlib.jar" /usr/share/java/kotlin-stdlib.jar)" \
    || die "kotlin-stdlib.jar not found"
JUNIT="$(first_existing /usr/share/java/junit4.jar)" || die "/usr/share/java/junit4.jar not found (apt-get install junit4)"
HAMCREST="$(first_existing /usr/share/java/hamcrest-core.jar /usr/share/java/hamcrest.jar /usr/share/java/hamcrest-all.jar)" \
    || die "hamcrest jar not found in /usr/share/java"
ORGJSON="$(first_existing /usr/share/java/com.android.json.jar /usr/share/java/android-json.jar)" \
    || { echo "run_pure_tests.sh: Android's org.json not found (apt-get install libandroid-json-java)" >&2; exit 127; }

files=()
for f in "${PURE[@]}"; do
    [ -f "$SRC/$f" ] || die "missing $SRC/$f"
    grep -q '^// PURE:' "$SRC/$f" || die "$f is listed as pure but lacks its '// PURE:' header"
    files+=("$SRC/$f")
done
# Pure means pure: the JVM compile below would not catch an Android import in a file it skips,
# so also refuse one in the files it compiles.
if grep -nE '^\s*import\s+(android|androidx|org\.tensorflow)\.' "${files[@]}"; then
    die "pure sources must not import Android or LiteRT"
fi

STAMP="$BUILD/stamp"
stamp_now="$( { readlink -f "$KOTLINC"; echo "$ORGJSON"; find "${files[@]}" "$TEST_SRC" "$DECISION_SRC" -name '*.kt' -type f | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$stamp_now" ] && [ -d "$BUILD/classes" ]; then
    echo "run_pure_tests.sh: sources unchanged, reusing $BUILD/classes"
else
    rm -rf "$BUILD/classes" "$STAMP"
    mkdir -p "$BUILD/classes"
    echo "run_pure_tests.sh: compiling ${#files[@]} app sources + decision + tests with $(readlink -f "$KOTLINC")"
    kotlinc "${files[@]}" "$DECISION_SRC" "$TEST_SRC" -cp "$JUNIT:$HAMCREST:$ORGJSON" -d "$BUILD/classes" -jvm-target 1.8 \
        2> >(grep -v 'Xverify:none and -noverify were deprecated' >&2)
    echo "$stamp_now" > "$STAMP"
fi

CP="$BUILD/classes:$STDLIB:$JUNIT:$HAMCREST:$ORGJSON"
java -Dfile.encoding=UTF-8 -cp "$CP" -Dedgetl.phrases="$REPO/edgetl/runtime/phrases.json" org.junit.runner.JUnitCore \
    org.edgetl.demo.PreprocessTest org.edgetl.demo.VibrationsTest org.edgetl.demo.CardAndPhrasesTest \
    org.edgetl.demo.AppRulesTest

if [ -n "${EDGETL_DUMP_CARD:-}" ]; then
    # shellcheck disable=SC2086  # CARD PHRASES OUT
    java -Dfile.encoding=UTF-8 -cp "$CP" org.edgetl.demo.DumpCard $EDGETL_DUMP_CARD
fi
