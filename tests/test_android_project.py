"""Static checks of the Android project (android_demo/) plus its pure-Kotlin helpers compiled and
unit-tested with plain kotlinc (no Gradle: Google's Maven repository is unreachable here), and a
cross-check that the Kotlin model-card/phrase parsing matches edgetl.card / edgetl.runtime.speech.

The Android-facing sources (MainActivity, NoteClassifier, Speaker, Haptics, Settings, the
instrumentation tests) cannot be compiled here without the Android SDK, AndroidX and LiteRT: they are
parse-checked with kotlinc, and the fixes of issue 16 that live in them are checked by reading them.
The committed Gradle wrapper is run for real, against a stand-in distribution served from a file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from edgetl.card import ModelCard
from edgetl.runtime.speech import Phrases
from tests.android_assets import ASSETS_KT, android_asset_names

ROOT = Path(__file__).resolve().parents[1]
ANDROID = ROOT / "android_demo"
APP = ANDROID / "app"
SRC = APP / "src" / "main" / "java" / "org" / "edgetl" / "demo"
RES = APP / "src" / "main" / "res"
MANIFEST = APP / "src" / "main" / "AndroidManifest.xml"
RUN_PURE = APP / "run_pure_tests.sh"
PHRASES_JSON = ROOT / "edgetl" / "runtime" / "phrases.json"
A = "{http://schemas.android.com/apk/res/android}"

ANDROID_TEST = APP / "src" / "androidTest"
# Minimum Gradle per Android Gradle plugin line, from Google's AGP release notes (AGP 9.1.x: 9.3.1).
AGP_MIN_GRADLE = {"9.1": (9, 3, 1)}

EXPORTED = {"model_int8.tflite", "model_int8.json", "model_fp16.tflite", "model_fp16.json", "labels.txt", "phrases.json"}


def kotlin_sources(under: Path = APP) -> list[Path]:
    return sorted(p for p in under.rglob("*.kt") if "build" not in p.relative_to(under).parts)


def strip_kotlin_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"(?m)//[^\n]*$", "", text)


def string_names(path: Path) -> set[str]:
    return {e.get("name") for e in ET.parse(path).getroot().iter("string")}


# ----------------------------------------------------------------------------------------- gradle


def test_gradle_project_layout():
    settings = (ANDROID / "settings.gradle.kts").read_text()
    assert re.search(r'include\(\s*":app"\s*\)', settings)
    assert re.search(r'include\(\s*":decision"\s*\)', settings), "the decision module must be part of the build"
    for f in ("build.gradle.kts", "gradle.properties", "gradle/libs.versions.toml",
              "gradle/wrapper/gradle-wrapper.properties", "decision/build.gradle.kts"):
        assert (ANDROID / f).is_file(), f


def test_app_build_declares_sdk_levels_namespace_and_dependencies():
    app = strip_kotlin_comments((APP / "build.gradle.kts").read_text())
    assert re.search(r"\bminSdk\s*=\s*24\b", app)
    assert int(re.search(r"\bcompileSdk\s*=\s*(\d+)", app).group(1)) >= 35
    assert int(re.search(r"\btargetSdk\s*=\s*(\d+)", app).group(1)) >= 35
    assert re.search(r'namespace\s*=\s*"org\.edgetl\.demo"', app)
    assert re.search(r'implementation\(\s*project\(\s*":decision"\s*\)\s*\)', app)
    assert re.search(r'noCompress\s*\+=\s*"tflite"', app), ".tflite must stay uncompressed to be memory-mapped"
    catalog = (ANDROID / "gradle" / "libs.versions.toml").read_text()
    for module in ("androidx.camera:camera-core", "androidx.camera:camera-camera2", "androidx.camera:camera-lifecycle",
                   "androidx.camera:camera-view", "com.google.ai.edge.litert:litert",
                   "com.google.ai.edge.litert:litert-gpu"):
        assert f'"{module}"' in catalog, module
    # every catalog library the app uses is declared, and vice versa nothing dangles
    used = set(re.findall(r"\blibs\.([a-z0-9.]+)", app))
    declared = {k.replace("-", ".") for k in re.findall(r"(?m)^([a-z0-9-]+)\s*=\s*\{\s*module", catalog)}
    plugins = {"plugins." + k.replace("-", ".") for k in re.findall(r"(?m)^([a-z0-9-]+)\s*=\s*\{\s*id", catalog)}
    assert used <= declared | plugins, used - declared - plugins
    # LiteRT 2.x dropped the Interpreter delegate API NoteClassifier uses
    assert re.search(r'(?m)^litert\s*=\s*"1\.', catalog)


def test_decision_module_takes_kotlin_version_from_the_root_build():
    dec = strip_kotlin_comments((ANDROID / "decision" / "build.gradle.kts").read_text())
    assert "alias(libs.plugins.kotlin.jvm)" in dec
    assert not re.search(r'kotlin\("jvm"\)\s*version', dec), "a second Kotlin plugin version would clash with the root"
    assert "repositories" not in dec, "settings.gradle.kts forbids project repositories"


# ----------------------------------------------------------------------------------------- manifest / camera


def test_manifest_permissions_and_launcher():
    root = ET.parse(MANIFEST).getroot()
    perms = {e.get(A + "name") for e in root.iter("uses-permission")}
    assert {"android.permission.CAMERA", "android.permission.VIBRATE"} <= perms
    assert "android.permission.INTERNET" not in perms, "the app is offline by design"
    cams = [e for e in root.iter("uses-feature") if e.get(A + "name", "").startswith("android.hardware.camera")]
    assert cams and all(e.get(A + "required") == "false" for e in cams)
    tts = [e.get(A + "name") for e in root.iter("action")]
    assert "android.intent.action.TTS_SERVICE" in tts, "API 30+ needs the TTS query to find speech engines"
    acts = [e for e in root.iter("activity") if e.get(A + "name") == ".MainActivity"]
    assert acts and acts[0].get(A + "exported") == "true"


def test_camera_analysis_keeps_only_latest_rgba_frames():
    main = strip_kotlin_comments((SRC / "MainActivity.kt").read_text())
    assert "setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)" in main
    assert "setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)" in main
    assert re.search(r"finally\s*\{\s*image\.close\(\)", main), "every analysed frame must be closed"
    assert "TextToSpeech.QUEUE_FLUSH" in (SRC / "Speaker.kt").read_text()
    clf = strip_kotlin_comments((SRC / "NoteClassifier.kt").read_text())
    for needle in ("isDelegateSupportedOnThisDevice", "GpuDelegate(", "NnApiDelegate(", "setUseXNNPACK(true)",
                   "imageInfo.rotationDegrees"):
        assert needle in clf, needle


# ----------------------------------------------------------------------------------------- assets / strings


def test_asset_names_are_exactly_what_the_exporter_writes():
    names = android_asset_names()
    assert set(names.values()) == EXPORTED
    assert len(names) == len(EXPORTED)
    assert names["MODEL_INT8"] == "model_int8.tflite" and names["PHRASES"] == "phrases.json"
    # the app opens assets only through these constants
    for path in kotlin_sources(SRC.parent.parent.parent):
        if path == ASSETS_KT:
            continue
        code = strip_kotlin_comments(path.read_text())
        for lit in re.findall(r'"([\w.\-]+\.(?:tflite|json|txt))"', code):
            pytest.fail(f"{path.name} hard-codes asset name {lit!r}; use Assets.*")
    readme = (APP / "src" / "main" / "assets" / "README.md").read_text()
    assert all(n in readme for n in EXPORTED)


def test_android_asset_names_parser_rejects_junk(tmp_path):
    bad = tmp_path / "Assets.kt"
    bad.write_text("package x\nclass Other { }\n")
    with pytest.raises(ValueError):
        android_asset_names(bad)
    ok = tmp_path / "Ok.kt"
    ok.write_text('object Assets {\n    /** doc "x.json" */\n    const val A = "a.tflite" // c\n    // const val B = "b.json"\n}\n')
    assert android_asset_names(ok) == {"A": "a.tflite"}


def test_every_referenced_string_resource_exists_in_english_and_hindi():
    en = string_names(RES / "values" / "strings.xml")
    hi = string_names(RES / "values-hi" / "strings.xml")
    assert en == hi, f"missing in values-hi: {en - hi}; only in values-hi: {hi - en}"
    used: set[str] = set()
    for path in kotlin_sources():
        used |= set(re.findall(r"(?<![\w.])R\.string\.(\w+)", strip_kotlin_comments(path.read_text())))
    for xml in list((RES / "layout").glob("*.xml")) + [MANIFEST]:
        used |= set(re.findall(r"@string/(\w+)", xml.read_text()))
    assert used, "no string references found: the scan is broken"
    assert used <= en, f"R.string / @string used but not defined: {sorted(used - en)}"
    # every format string has the same placeholders in both languages
    def fmt(path):
        return {e.get("name"): sorted(re.findall(r"%\d\$[sd.\d]*f?|%\d\$[sd]", "".join(e.itertext())))
                for e in ET.parse(path).getroot().iter("string")}
    fe, fh = fmt(RES / "values" / "strings.xml"), fmt(RES / "values-hi" / "strings.xml")
    assert {k: v for k, v in fe.items() if v} == {k: fh[k] for k, v in fe.items() if v}


def test_every_referenced_view_id_exists():
    ids = set()
    for xml in (RES / "layout").glob("*.xml"):
        ids |= set(re.findall(r"@\+id/(\w+)", xml.read_text()))
    used = set()
    for path in kotlin_sources():
        used |= set(re.findall(r"(?<![\w.])R\.id\.(\w+)", strip_kotlin_comments(path.read_text())))
    assert used and used <= ids, sorted(used - ids)


def test_pure_sources_have_no_android_imports():
    script = RUN_PURE.read_text()
    pure = re.search(r"PURE=\(([^)]*)\)", script).group(1).split()
    assert {"Assets.kt", "ModelCard.kt", "Preprocess.kt", "Vibrations.kt"} <= set(pure)
    for name in pure:
        text = (SRC / name).read_text()
        assert "// PURE:" in text, name
        assert not re.search(r"(?m)^\s*import\s+(android|androidx|org\.tensorflow)\.", text), name


# ----------------------------------------------------------------------------------------- kotlinc


needs_kotlinc = pytest.mark.skipif(
    shutil.which("kotlinc") is None or shutil.which("java") is None,
    reason="kotlinc/java not installed (apt-get install kotlin junit4 libandroid-json-java) - app Kotlin tests not run",
)


@pytest.fixture(scope="module")
def pure_run(tmp_path_factory):
    if not any(Path(p).is_file() for p in ("/usr/share/java/com.android.json.jar", "/usr/share/java/android-json.jar")):
        pytest.skip("Android's org.json for the JVM is not installed (apt-get install libandroid-json-java)")
    tmp = tmp_path_factory.mktemp("android_pure")
    card = ModelCard(
        name="notes-test", model_file="model_int8.tflite",
        labels=["10", "100", "20", "200", "2000", "50", "500", "background"],
        input_size=224, input_dtype="uint8", quantization="int8", sha256="0" * 64, size_bytes=123,
        input_quantization={"scale": 0.0078125, "zero_point": 128}, output_dtype="uint8",
        output_quantization={"scale": 0.00390625, "zero_point": 0}, announce_threshold=0.87,
    )
    card_path = card.save(tmp / "model_int8.json")
    out = tmp / "dump.json"
    env = dict(os.environ, EDGETL_DUMP_CARD=f"{card_path} {PHRASES_JSON} {out}")
    res = subprocess.run(["bash", str(RUN_PURE)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    return res, card_path, out


@needs_kotlinc
def test_pure_kotlin_helpers_compile_and_pass_their_junit_tests(pure_run):
    res, *_ = pure_run
    assert res.returncode == 0, f"run_pure_tests.sh failed ({res.returncode}):\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    m = re.search(r"OK \((\d+) tests\)", res.stdout)
    assert m and int(m.group(1)) >= 15, res.stdout[-2000:]


@needs_kotlinc
def test_kotlin_reads_cards_and_phrases_like_python(pure_run):
    res, card_path, out = pure_run
    assert out.is_file(), res.stdout[-2000:] + res.stderr[-2000:]
    k = json.loads(out.read_text(encoding="utf-8"))
    card = ModelCard.load(card_path)
    assert k["labels"] == card.labels and k["input_size"] == card.input_size
    assert k["model_file"] == card.model_file and k["input_kind"] == "UINT8"
    assert k["background"] == card.background_label
    assert k["threshold"] == pytest.approx(card.announce_threshold)
    assert k["mean"] == [card.normalization["mean"]] * 3 and k["std"] == [card.normalization["std"]] * 3
    assert k["output_scale"] == pytest.approx(card.output_quantization["scale"])
    assert k["output_zero_point"] == card.output_quantization["zero_point"]
    for lang in ("en", "hi"):
        py = Phrases.load(None, lang)
        assert {lab: k["phrases"][lang][lab] for lab in card.labels} == {lab: py.phrase_for(lab) for lab in card.labels}
        assert k["phrases"][lang]["hold_steady"] == py.hint_phrase()
    assert k["phrases"]["hi"]["500"] == "पाँच सौ रुपये"
    # one distinct vibration per note, none for background, more pulses/longs for bigger notes
    vib = {lab: tuple(v) for lab, v in k["vibrations"].items()}
    assert set(vib) == set(card.labels) - {"background"}
    assert len(set(vib.values())) == len(vib)
    assert len(vib["10"]) < len(vib["50"]) and vib["10"] == (0, 120)


# ----------------------------------------------------------------------------------------- gradle wrapper


def _catalog_version(key: str) -> str:
    catalog = (ANDROID / "gradle" / "libs.versions.toml").read_text()
    return re.search(rf'(?m)^{re.escape(key)}\s*=\s*"([^"]+)"', catalog).group(1)


def _wrapper_gradle_version() -> tuple[int, ...]:
    props = (ANDROID / "gradle" / "wrapper" / "gradle-wrapper.properties").read_text()
    url = re.search(r"(?m)^distributionUrl=(.+)$", props).group(1).replace("\\:", ":")
    m = re.fullmatch(r"https://services\.gradle\.org/distributions/gradle-(\d+(?:\.\d+)*)-(bin|all)\.zip", url)
    assert m, url
    return tuple(int(x) for x in m.group(1).split("."))


def test_gradle_wrapper_is_committed_and_executable():
    for f in ("gradlew", "gradlew.bat", "gradle/wrapper/gradle-wrapper.jar", "gradle/wrapper/gradle-wrapper.properties"):
        assert (ANDROID / f).is_file(), f
    assert os.access(ANDROID / "gradlew", os.X_OK)
    # a fresh clone gets it executable too: git records mode 100755
    mode = subprocess.run(["git", "ls-files", "-s", "android_demo/gradlew"], cwd=ROOT, capture_output=True, text=True)
    if mode.stdout:  # tracked (not yet committed while a change is being written: then only the file mode counts)
        assert mode.stdout.startswith("100755"), mode.stdout
    with zipfile.ZipFile(ANDROID / "gradle" / "wrapper" / "gradle-wrapper.jar") as jar:
        assert "org/gradle/wrapper/GradleWrapperMain.class" in jar.namelist()
    assert "org.gradle.wrapper.GradleWrapperMain" in (ANDROID / "gradlew").read_text()
    assert "org.gradle.wrapper.GradleWrapperMain" in (ANDROID / "gradlew.bat").read_text()


def test_wrapper_names_the_gradle_the_android_plugin_needs():
    agp = _catalog_version("agp")
    line = ".".join(agp.split(".")[:2])
    assert line in AGP_MIN_GRADLE, f"AGP {agp}: add its minimum Gradle (AGP release notes) to AGP_MIN_GRADLE"
    assert _wrapper_gradle_version() >= AGP_MIN_GRADLE[line]
    assert "-bin.zip" in (ANDROID / "gradle" / "wrapper" / "gradle-wrapper.properties").read_text()


_FAKE_LAUNCHER = """
package org.gradle.launcher;
public class GradleMain {
    public static void main(String[] args) {
        System.out.println("STAND-IN GRADLE " + String.join(" ", args) + " in " + System.getProperty("user.dir"));
    }
}
"""


@pytest.mark.skipif(shutil.which("javac") is None or shutil.which("jar") is None, reason="needs a JDK (javac, jar)")
def test_gradlew_downloads_and_starts_the_named_distribution(tmp_path):
    """The committed gradlew + jar, run for real: it fetches the distribution its properties name (here a
    stand-in at a file: URL with the real name, since services.gradle.org is unreachable), unpacks it and
    starts its launcher with our arguments."""
    version = ".".join(map(str, _wrapper_gradle_version()))
    src = tmp_path / "src" / "org" / "gradle" / "launcher"
    src.mkdir(parents=True)
    (src / "GradleMain.java").write_text(_FAKE_LAUNCHER)
    classes = tmp_path / "classes"
    subprocess.run(["javac", "-d", str(classes), str(src / "GradleMain.java")], check=True, capture_output=True)
    dist = tmp_path / "dist" / f"gradle-{version}"
    (dist / "lib").mkdir(parents=True)
    subprocess.run(["jar", "cf", str(dist / "lib" / f"gradle-launcher-{version}.jar"), "-C", str(classes), "."],
                   check=True, capture_output=True)
    zip_path = tmp_path / f"gradle-{version}-bin.zip"
    with zipfile.ZipFile(zip_path, "w") as z:  # with directory entries, as Gradle's own zips have
        z.writestr(f"gradle-{version}/", "")
        z.writestr(f"gradle-{version}/lib/", "")
        z.write(dist / "lib" / f"gradle-launcher-{version}.jar", f"gradle-{version}/lib/gradle-launcher-{version}.jar")
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy2(ANDROID / "gradlew", project / "gradlew")
    shutil.copytree(ANDROID / "gradle" / "wrapper", project / "gradle" / "wrapper")
    props = project / "gradle" / "wrapper" / "gradle-wrapper.properties"
    text = props.read_text()
    text = re.sub(r"(?m)^distributionUrl=.*$", "distributionUrl=" + zip_path.as_uri().replace(":", "\\:"), text)
    props.write_text(re.sub(r"(?m)^validateDistributionUrl=.*$", "validateDistributionUrl=false", text))
    env = dict(os.environ, GRADLE_USER_HOME=str(tmp_path / "home"))
    env.pop("JAVA_OPTS", None)
    env.pop("GRADLE_OPTS", None)
    res = subprocess.run(["./gradlew", "assembleDebug"], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert f"STAND-IN GRADLE assembleDebug in {project}" in res.stdout, res.stdout[-2000:]
    assert list((tmp_path / "home" / "wrapper" / "dists").glob(f"gradle-{version}-bin/*/gradle-{version}/lib"))


# ----------------------------------------------------------------------------------------- issue 16 fixes


def test_litert_artifacts_share_one_published_version():
    catalog = (ANDROID / "gradle" / "libs.versions.toml").read_text()
    # 1.4.1: the newest release published for litert, litert-api, litert-gpu, litert-gpu-api and
    # litert-support alike (there is no LiteRT 1.4.2 release / litert-support 1.4.2)
    assert _catalog_version("litert") == "1.4.1"
    rows = re.findall(r'module = "com\.google\.ai\.edge\.litert:([\w-]+)", version\.ref = "(\w+)"', catalog)
    assert {m for m, _ in rows} == {"litert", "litert-api", "litert-gpu", "litert-gpu-api", "litert-support"}
    assert {ref for _, ref in rows} == {"litert"}
    assert not re.search(r'"com\.google\.ai\.edge\.litert:[\w-]+:\d', catalog), "no inline LiteRT versions"
    app = strip_kotlin_comments((APP / "build.gradle.kts").read_text())
    assert "libs.litert.api" in app


def test_manifest_survives_rotation_keeps_fixed_focus_phones_and_has_an_icon():
    root = ET.parse(MANIFEST).getroot()
    act = next(e for e in root.iter("activity") if e.get(A + "name") == ".MainActivity")
    changes = set(act.get(A + "configChanges", "").split("|"))
    assert {"orientation", "screenSize", "screenLayout", "smallestScreenSize"} <= changes, changes
    features = {e.get(A + "name"): e.get(A + "required") for e in root.iter("uses-feature")}
    # the CAMERA permission implies these as required unless they are declared optional
    for name in ("android.hardware.camera", "android.hardware.camera.autofocus", "android.hardware.camera.any"):
        assert features.get(name) == "false", name
    app = root.find("application")
    for attr in ("icon", "roundIcon"):
        ref = app.get(A + attr)
        assert ref and ref.startswith("@mipmap/"), attr
        name = ref.split("/")[1]
        files = list(RES.glob(f"mipmap*/{name}.xml")) + list(RES.glob(f"mipmap*/{name}.png"))
        assert any(f.parent.name == "mipmap-anydpi-v26" for f in files), files  # adaptive, Android 8+
        assert any(f.parent.name == "mipmap-anydpi" for f in files), files  # Android 7.x (minSdk 24)
    adaptive = ET.parse(RES / "mipmap-anydpi-v26" / "ic_launcher.xml").getroot()
    assert adaptive.tag == "adaptive-icon"
    for ref in re.findall(r'@(drawable|color)/(\w+)', (RES / "mipmap-anydpi-v26" / "ic_launcher.xml").read_text()):
        kind, name = ref
        if kind == "drawable":
            assert (RES / "drawable" / f"{name}.xml").is_file(), name
        else:
            assert any(f'name="{name}"' in f.read_text() for f in (RES / "values").glob("*.xml")), name
    for xml in RES.rglob("*.xml"):
        ET.parse(xml)  # every resource is well-formed


def test_accessibility_manager_is_nullable_not_lateinit():
    main = strip_kotlin_comments((SRC / "MainActivity.kt").read_text())
    lateinits = set(re.findall(r"lateinit\s+var\s+(\w+)", main))
    for name in lateinits:
        assert not re.search(rf"\b{name}\s*=\s*getSystemService\(", main), f"{name}: getSystemService is @Nullable"
    assert re.search(r"var\s+accessibility\s*:\s*AccessibilityManager\?", main)


def test_settings_instructions_are_said_in_full_before_the_settings_open():
    main = strip_kotlin_comments((SRC / "MainActivity.kt").read_text())
    body = re.search(r"fun askAgainOrOpenSettings\(\)(.*?)\n    override fun onResume", main, re.S).group(1)
    said = body.index("sayThen(spokenString(R.string.camera_permission_settings))")
    assert said < body.index("startActivity("), "the settings must open from sayThen's callback"
    assert body.count("startActivity(") == 1
    speaker = strip_kotlin_comments((SRC / "Speaker.kt").read_text())
    assert "setOnUtteranceProgressListener" in speaker and "override fun onDone" in speaker
    en = ET.parse(RES / "values" / "strings.xml").getroot()
    text = next(e.text for e in en.iter("string") if e.get("name") == "camera_permission_settings")
    assert "Opening the app settings" not in text


def test_a_granted_permission_always_restores_the_talkback_label():
    main = strip_kotlin_comments((SRC / "MainActivity.kt").read_text())
    grant = re.search(r"fun onCameraPermissionGranted\(\)\s*\{(.*?)\n    \}", main, re.S).group(1)
    assert "R.string.repeat_button_description" in grant
    # every way the permission arrives goes through it: the prompt's answer, start-up, back from settings
    assert re.search(r"if \(granted\) onCameraPermissionGranted\(\)", main)
    resume = re.search(r"override fun onResume\(\)\s*\{(.*?)\n    \}", main, re.S).group(1)
    assert "onCameraPermissionGranted()" in resume
    assert "cameraRequested" not in main


def test_delegates_are_built_where_their_failure_falls_back():
    clf = strip_kotlin_comments((SRC / "NoteClassifier.kt").read_text())
    create = re.search(r"private fun create\((.*?)\n        private fun checkTensors", clf, re.S).group(1)
    first_try = create.index("try {")
    for needle in ("CompatibilityList()", "GpuDelegate(", "NnApiDelegate("):
        assert create.index(needle) > first_try, f"{needle} must run inside the try"
    assert "catch (e: Throwable)" in create
    assert "DelegatePlan.firstThatOpens" in clf or "openWith(" in clf
    main = strip_kotlin_comments((SRC / "MainActivity.kt").read_text())
    assert "catch (e: LinkageError)" in main, "a missing LiteRT native library must not crash the app"
    assert "frameFailures.failure(" in main and "R.string.recognition_failed" in main


def test_no_deprecated_locale_constructor_and_vibrations_are_accessibility_vibrations():
    for path in kotlin_sources():
        code = strip_kotlin_comments(path.read_text())
        assert not re.search(r"\bLocale\(\s*\"", code), f"{path.name}: Locale(String, String) is deprecated"
    haptics = strip_kotlin_comments((SRC / "Haptics.kt").read_text())
    assert "VibrationAttributes.createForUsage(VibrationAttributes.USAGE_ACCESSIBILITY)" in haptics
    assert "AudioAttributes.USAGE_ASSISTANCE_ACCESSIBILITY" in haptics
    assert not re.search(r"vibrate\(VibrationEffect\.createWaveform\(timings, -1\)\)", haptics)


def test_no_model_sentence_exists_in_both_languages():
    for values in ("values", "values-hi"):
        names = string_names(RES / values / "strings.xml")
        assert {"no_model", "no_model_status", "recognition_failed", "hint_label"} <= names
    en = {e.get("name"): "".join(e.itertext()) for e in ET.parse(RES / "values" / "strings.xml").getroot().iter("string")}
    assert en["no_model"].startswith("No model in this build:")
    assert "`" not in en["no_model"] and "edgetl export" not in en["no_model"], "spoken: no command line"
    main = strip_kotlin_comments((SRC / "MainActivity.kt").read_text())
    assert re.search(r"catch \(e: NoModelException\)\s*\{[^}]*R\.string\.no_model\)", main, re.S)


def test_readme_builds_with_the_wrapper_and_says_what_is_unverified():
    readme = (ANDROID / "README.md").read_text()
    assert "./gradlew assembleDebug" in readme and "./gradlew connectedAndroidTest" in readme
    assert "gradle wrapper --gradle-version" not in readme, "the wrapper is committed: no local Gradle needed"
    assert "not verified" in readme.lower() or "unverified" in readme.lower()


# ----------------------------------------------------------------------------------------- instrumentation test


def test_instrumentation_test_is_wired_up():
    app = strip_kotlin_comments((APP / "build.gradle.kts").read_text())
    assert 'testInstrumentationRunner = "androidx.test.runner.AndroidJUnitRunner"' in app
    assert "androidTestImplementation(libs.androidx.test.runner)" in app
    assert "androidTestImplementation(libs.androidx.test.ext.junit)" in app
    tests = {p.name: p.read_text() for p in (ANDROID_TEST / "java").rglob("*.kt")}
    assert {"ColourModelTest.kt", "BundledModelTest.kt"} <= set(tests)
    for name in ("ColourModelTest.kt", "BundledModelTest.kt"):
        assert "@RunWith(AndroidJUnit4::class)" in tests[name]
    assert "UnsatisfiedLinkError" in tests["ColourModelTest.kt"], "the delegate fallback is exercised"
    assert "NoModelException" in tests["BundledModelTest.kt"]


def test_instrumentation_assets_match_the_pi_runtime():
    """The colour model the instrumentation test ships, and what it expects, agree with the Python runtime."""
    from tests.vectors.make_android_test_assets import python_expectations, tensor_facts

    assets = ANDROID_TEST / "assets"
    card = ModelCard.load(assets / "model_int8.json")
    assert card.model_file == "model_int8.tflite"
    card.verify(assets / "model_int8.tflite")
    # the phone takes dtypes and quantization from the card: they must be the model's own
    facts = tensor_facts(assets / "model_int8.tflite")
    assert {k: getattr(card, k) for k in facts} == facts
    assert facts["input_dtype"] == facts["output_dtype"] == "uint8"
    expected = json.loads((assets / "colour_cases.json").read_text())
    got = json.loads(json.dumps(python_expectations(assets / "model_int8.tflite")))
    assert got == expected
    assert expected["top_label"] == {"red": "10", "green": "20", "grey": "background"}
    assert [e[1] for e in expected["events"]] == ["10", "20"]


@needs_kotlinc
def test_android_sources_parse(tmp_path):
    """kotlinc without the Android SDK cannot resolve android.*, androidx.* or LiteRT, but it does parse
    every file: a syntax error in the Android-facing code or the instrumentation tests fails here."""
    android_facing = [p for p in SRC.glob("*.kt") if "// PURE:" not in p.read_text()]
    assert {p.name for p in android_facing} >= {"MainActivity.kt", "NoteClassifier.kt", "Speaker.kt", "Haptics.kt"}
    instrumented = sorted((ANDROID_TEST / "java").rglob("*.kt"))
    broken = tmp_path / "Broken.kt"  # a control: the check must see a real syntax error
    broken.write_text("package x\nfun f(a: Int = ) { listOf(1, 2 }\n")
    res = subprocess.run(["kotlinc", *map(str, android_facing + instrumented), str(broken), "-d", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=600)
    parse_errors = [line for line in res.stderr.splitlines()
                    if re.search(r": error: (expecting|unexpected|unclosed|illegal|expected )", line, re.I)]
    assert parse_errors and all("Broken.kt" in line for line in parse_errors), "\n".join(parse_errors)
