"""Static checks of the Android project (android_demo/) plus its pure-Kotlin helpers compiled and
unit-tested with plain kotlinc (no Gradle: Google's Maven repository is unreachable here), and a
cross-check that the Kotlin model-card/phrase parsing matches edgetl.card / edgetl.runtime.speech."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
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
    assert not list(ANDROID.rglob("gradle-wrapper.jar")), "no wrapper jar binary in the repository"


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
