"""Speech: real espeak-ng audio, the non-blocking newest-wins queue, fallbacks and phrase templates."""

from __future__ import annotations

import io
import json
import shlex
import shutil
import sys
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from edgetl.errors import EdgetlError
from edgetl.runtime.speech import (
    CommandEngine,
    EspeakEngine,
    Phrases,
    PrintEngine,
    Speaker,
    SpeechUnavailable,
    earcon_wav,
    make_engine,
    open_speaker,
)

HAVE_ESPEAK = shutil.which("espeak-ng") is not None
needs_espeak = pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng is not installed (sudo apt-get install espeak-ng)")

# A stand-in "TTS program": sleeps, then appends the phrase (argv or stdin) as one line to a log file.
RECORDER = r"""
import sys, time
log, delay = sys.argv[1], float(sys.argv[2])
text = sys.argv[3] if len(sys.argv) > 3 else sys.stdin.read().rstrip("\n")
time.sleep(delay)
with open(log, "a", encoding="utf-8") as fh:
    fh.write(text.replace("\n", "\\n") + "\n")
"""


def recorder_cmd(tmp_path: Path, delay: float = 0.0, with_text: bool = True) -> tuple[str, Path]:
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER, encoding="utf-8")
    log = tmp_path / "spoken.log"
    parts = [shlex.quote(sys.executable), shlex.quote(str(script)), shlex.quote(str(log)), str(delay)]
    if with_text:
        parts.append("{text}")
    return " ".join(parts), log


def spoken_lines(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def wav_stats(source) -> tuple[float, float, float]:
    """(duration s, RMS as a fraction of full scale, fraction of samples at full scale)."""
    with wave.open(source, "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        rate, n = w.getframerate(), w.getnframes()
        pcm = np.frombuffer(w.readframes(n), dtype="<i2").astype(np.float64)
    assert rate > 8000 and n > 0
    rms = float(np.sqrt(np.mean(pcm**2))) / 32768.0
    clipped = float(np.mean(np.abs(pcm) >= 32767))
    return n / rate, rms, clipped


# ------------------------------------------------------------------ real espeak-ng audio


@needs_espeak
def test_espeak_renders_english_denomination_as_speech(tmp_path):
    phrase = Phrases.load(lang="en").phrase_for("500")
    assert phrase == "500 rupees"
    engine = make_engine("espeak", lang="en")
    assert isinstance(engine, EspeakEngine)
    out = Speaker(engine).speak_to_wav(phrase, tmp_path / "en.wav")
    duration, rms, clipped = wav_stats(str(out))
    assert 0.5 <= duration <= 4.0
    assert rms > 0.02  # silence is ~0; espeak speech sits around 0.1
    assert clipped < 0.01


@needs_espeak
def test_espeak_renders_hindi_phrase(tmp_path):
    phrases = Phrases.load(lang="hi")
    phrase = phrases.phrase_for("500")
    assert phrase == "पाँच सौ रुपये"
    engine = make_engine("espeak", lang="hi", voice=phrases.voice)
    out = engine.to_wav(phrase, tmp_path / "hi.wav")
    duration, rms, clipped = wav_stats(str(out))
    assert 0.5 <= duration <= 4.0
    assert rms > 0.02
    assert clipped < 0.01
    # Devanagari really was read as words: far longer than espeak saying one short latin word.
    short, _, _ = wav_stats(str(engine.to_wav("a", tmp_path / "a.wav")))
    assert duration > short + 0.3


@needs_espeak
def test_espeak_stdout_and_leading_dash_text():
    engine = EspeakEngine(voice="en", rate=200)
    duration, rms, _ = wav_stats(io.BytesIO(engine.wav_bytes("-5 is spoken, not an option")))
    assert duration > 0.8 and rms > 0.02


@needs_espeak
def test_espeak_unknown_voice_is_one_clear_line():
    with pytest.raises(SpeechUnavailable) as err:
        EspeakEngine(voice="zz")
    msg = str(err.value)
    assert "'zz'" in msg and "\n" not in msg


# ------------------------------------------------------------------ non-blocking queue


def test_say_returns_immediately_while_engine_is_busy(tmp_path):
    cmd, log = recorder_cmd(tmp_path, delay=0.6)
    with Speaker(CommandEngine(cmd)) as speaker:
        t0 = time.perf_counter()
        assert speaker.say("first")
        assert time.perf_counter() - t0 < 0.05
        assert wait_until(lambda: speaker.last_text == "first")  # worker is now inside the slow engine
        t0 = time.perf_counter()
        for i in range(20):
            speaker.say(f"later {i}")
        assert time.perf_counter() - t0 < 0.05
        assert speaker.busy
        assert speaker.wait_idle(5)
    assert spoken_lines(log) == ["first", "later 19"]


def test_stale_queued_phrase_is_replaced_by_newest(tmp_path):
    cmd, log = recorder_cmd(tmp_path, delay=0.3)
    speaker = Speaker(CommandEngine(cmd))
    try:
        speaker.say("100 rupees")
        assert wait_until(lambda: speaker.last_text == "100 rupees")
        speaker.say("200 rupees")
        speaker.say("500 rupees")  # 200 was still waiting: dropped, never spoken
        assert speaker.wait_idle(5)
        assert spoken_lines(log) == ["100 rupees", "500 rupees"]
        assert speaker.replaced == 1 and speaker.spoken == 2
    finally:
        speaker.close()


def test_same_key_as_phrase_in_progress_is_not_repeated(tmp_path):
    cmd, log = recorder_cmd(tmp_path, delay=0.3)
    with Speaker(CommandEngine(cmd)) as speaker:
        assert speaker.say("500 rupees", key="500")
        assert wait_until(lambda: speaker.last_text == "500 rupees")
        assert speaker.say("100 rupees", key="100")
        # The note went back to 500 while 500 is still being spoken: nothing more to say.
        assert not speaker.say("500 rupees", key="500")
        assert speaker.wait_idle(5)
        assert speaker.say("500 rupees", key="500")  # once finished, the same key is spoken again
        assert speaker.wait_idle(5)
    assert spoken_lines(log) == ["500 rupees", "500 rupees"]


def test_close_kills_running_speech_and_joins(tmp_path):
    cmd, log = recorder_cmd(tmp_path, delay=10)
    engine = CommandEngine(cmd)
    speaker = Speaker(engine)
    speaker.say("a very long announcement")
    assert wait_until(lambda: bool(engine._procs))
    proc = next(iter(engine._procs))
    t0 = time.perf_counter()
    speaker.close()
    assert time.perf_counter() - t0 < 1.5
    assert not speaker.alive
    assert proc.poll() is not None  # the child process was killed, not orphaned
    assert spoken_lines(log) == []
    assert not speaker.say("after close")
    speaker.close()  # idempotent


# ------------------------------------------------------------------ command engine safety


def test_speak_cmd_text_is_one_argument_no_shell_injection(tmp_path):
    cmd, log = recorder_cmd(tmp_path)
    evil = (
        f'500"; touch {tmp_path}/pwned1; echo " $(touch {tmp_path}/pwned2) `touch {tmp_path}/pwned3` '
        f"'; rm -rf {tmp_path} | cat {{voice}} && echo"
    )
    with Speaker(CommandEngine(cmd, voice="en")) as speaker:
        speaker.say(evil)
        assert speaker.wait_idle(5)
    assert spoken_lines(log) == [evil.strip()]
    assert not any(tmp_path.glob("pwned*"))
    assert (tmp_path / "recorder.py").exists()


def test_speak_cmd_without_text_placeholder_gets_stdin(tmp_path):
    cmd, log = recorder_cmd(tmp_path, with_text=False)
    engine = make_engine("espeak", speak_cmd=cmd)  # an explicit command wins over the engine name
    assert isinstance(engine, CommandEngine)
    engine.speak("पाँच सौ रुपये")
    assert spoken_lines(log) == ["पाँच सौ रुपये"]


def test_speak_cmd_placeholders_substituted():
    engine = CommandEngine("say-it --voice {voice} --rate={rate} {text}".replace("say-it", sys.executable), voice="hi", rate=180)
    assert engine.argv_for("दो सौ")[1:] == ["--voice", "hi", "--rate=180", "दो सौ"]


def test_engine_failure_reported_once_and_worker_survives(tmp_path):
    errors: list[str] = []
    false = shutil.which("false")
    assert false
    with Speaker(CommandEngine(f"{false} {{text}}"), on_error=errors.append) as speaker:
        for text in ("one", "two", "three"):
            speaker.say(text)
            assert speaker.wait_idle(5)
        assert speaker.alive
    assert len(errors) == 1 and "false failed" in errors[0] and "\n" not in errors[0]
    assert speaker.failures == 3


# ------------------------------------------------------------------ missing engines and fallback


def test_missing_espeak_raises_one_line_naming_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    with pytest.raises(SpeechUnavailable) as err:
        make_engine("espeak", lang="en")
    msg = str(err.value)
    assert "apt-get install espeak-ng" in msg and "\n" not in msg


def test_missing_pyttsx3_raises_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyttsx3", None)  # import fails as if not installed
    with pytest.raises(SpeechUnavailable) as err:
        make_engine("pyttsx3")
    assert "pip install pyttsx3" in str(err.value) and "\n" not in str(err.value)


def test_missing_speak_cmd_program():
    with pytest.raises(SpeechUnavailable, match="not found: no-such-tts-program"):
        make_engine(speak_cmd="no-such-tts-program {text}")
    with pytest.raises(EdgetlError, match="cannot be parsed"):
        make_engine(speak_cmd="espeak-ng 'unterminated {text}")


def test_open_speaker_falls_back_to_print_with_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    out = io.StringIO()
    speaker, warning = open_speaker("espeak", lang="hi", stream=out)
    try:
        assert isinstance(speaker.engine, PrintEngine)
        assert warning and "espeak-ng" in warning and "printing" in warning and "\n" not in warning
        speaker.say("पाँच सौ रुपये")
        assert speaker.wait_idle(5)
    finally:
        speaker.close()
    assert out.getvalue() == "पाँच सौ रुपये\n"


def test_open_speaker_print_engine_has_no_warning_and_bad_name_raises():
    out = io.StringIO()
    speaker, warning = open_speaker("print", stream=out)
    speaker.say("500 rupees")
    speaker.close(drain=True)
    assert warning is None and out.getvalue() == "500 rupees\n"
    with pytest.raises(EdgetlError, match="unknown speech engine 'festivalx'"):
        open_speaker("festivalx")


@needs_espeak
def test_open_speaker_real_espeak_has_no_warning():
    speaker, warning = open_speaker("espeak", lang="hi")
    speaker.close()
    assert warning is None and isinstance(speaker.engine, EspeakEngine) and speaker.engine.voice == "hi"


# ------------------------------------------------------------------ earcon


def test_earcon_wav_is_a_short_tone():
    duration, rms, clipped = wav_stats(str(earcon_wav()))
    assert 0.05 < duration < 0.3 and rms > 0.1 and clipped == 0


def test_earcon_then_phrase_even_when_player_fails(tmp_path):
    cmd, log = recorder_cmd(tmp_path)
    with Speaker(CommandEngine(cmd), earcon=True) as speaker:  # no sound card here: the beep is skipped
        speaker.say("500 rupees")
        assert speaker.wait_idle(5)
        speaker.say("200 rupees")
        assert speaker.wait_idle(5)
    assert spoken_lines(log) == ["500 rupees", "200 rupees"]


# ------------------------------------------------------------------ phrases


def test_default_phrases_english_and_hindi():
    en = Phrases.load(lang="en")
    assert en.phrase_for("500") == "500 rupees"
    assert en.phrase_for("2000") == "2000 rupees"
    assert en.hint_phrase() == "Hold the note steady"
    assert en.text("repeat_none") == "Nothing announced yet"
    assert en.voice == "en"
    hi = Phrases.load(lang="hi")
    assert hi.voice == "hi"
    assert hi.phrase_for("500") == "पाँच सौ रुपये"
    assert hi.phrase_for("2000") == "दो हज़ार रुपये"
    assert hi.phrase_for("inr_200") == "दो सौ रुपये"  # folder-style label names still find their word
    assert hi.hint_phrase() and hi.hint_phrase() != en.hint_phrase()
    assert Phrases.load(lang="hi-IN").lang == "hi"
    assert en.phrase_for("500_new") == "500 new rupees"


def test_unknown_language_lists_available():
    with pytest.raises(EdgetlError) as err:
        Phrases.load(lang="fr")
    assert "'fr'" in str(err.value) and "en, hi" in str(err.value)


def test_phrases_next_to_model_override_and_extend(tmp_path):
    (tmp_path / "phrases.json").write_text(
        json.dumps(
            {
                "en": {"labels": {"500": "five hundred"}, "label_phrases": {"background": "No note"}},
                "ta": {"voice": "ta", "announce": "{label} ரூபாய்", "labels": {"500": "ஐநூறு"}},
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    en = Phrases.load(tmp_path, lang="en")  # a model directory
    assert en.phrase_for("500") == "five hundred rupees"
    assert en.phrase_for("100") == "100 rupees"
    assert en.phrase_for("background") == "No note"
    ta = Phrases.load(tmp_path / "phrases.json", lang="ta")
    assert ta.phrase_for("500") == "ஐநூறு ரூபாய்"
    assert ta.hint_phrase() == "Hold the note steady"  # missing entries fall back to English
    assert ta.available == ["en", "hi", "ta"]
    assert Phrases.load(tmp_path, lang="hi").phrase_for("500") == "पाँच सौ रुपये"  # untouched
    model_dir = tmp_path / "model"  # a model folder without phrases.json just uses the defaults
    model_dir.mkdir()
    assert Phrases.load(model_dir, lang="en").phrase_for("5") == "5 rupees"


def test_bad_phrase_files_are_one_line_errors(tmp_path):
    bad = tmp_path / "phrases.json"
    bad.write_text('{"en": {"announce": "{label} rupees",}}', encoding="utf-8")
    with pytest.raises(EdgetlError, match=r"invalid JSON at line 1"):
        Phrases.load(bad)
    with pytest.raises(EdgetlError, match="no such phrases file"):
        Phrases.load(tmp_path / "missing.json")
    bad.write_text('{"en": {"labels": ["500"]}}', encoding="utf-8")
    with pytest.raises(EdgetlError, match="must map label names"):
        Phrases.load(bad)
    bad.write_text('{"xx": {"voice": "xx"}}', encoding="utf-8")
    with pytest.raises(EdgetlError, match='needs an "announce"'):
        Phrases.load(bad, lang="xx")


def test_speaker_is_thread_safe_under_concurrent_say(tmp_path):
    cmd, log = recorder_cmd(tmp_path, delay=0.05)
    with Speaker(CommandEngine(cmd)) as speaker:
        threads = [threading.Thread(target=lambda i=i: [speaker.say(f"t{i}-{j}") for j in range(50)]) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert speaker.wait_idle(5)
    lines = spoken_lines(log)
    assert 1 <= len(lines) <= 10 and speaker.spoken + speaker.replaced == 200
