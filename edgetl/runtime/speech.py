"""Speak announcements without ever stalling the camera loop.

``Speaker.say`` only hands text to one worker thread and returns. The worker speaks one phrase at a
time; if a newer phrase arrives while an older one is still waiting (not yet started), the older one is
dropped, so a blind user always hears the current note, never a backlog of stale ones.

Engines are small blocking objects (``speak(text)``): espeak-ng (default), pyttsx3, a user command
(``--speak-cmd``) or plain printing (``--no-speech``). ``open_speaker`` falls back to printing with one
warning line when the requested engine is not installed.

Phrase templates live in ``phrases.json`` (packaged defaults); a ``phrases.json`` beside the model's
labels extends or overrides them.
"""

from __future__ import annotations

import copy
import io
import json
import math
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import wave
from pathlib import Path
from typing import Callable, TextIO

import numpy as np

from edgetl.atomic import write_bytes
from edgetl.errors import EdgetlError

DEFAULT_RATE = 160  # words per minute; espeak-ng's own default (175) is a little fast for numbers
SPEAK_TIMEOUT_S = 30.0  # no phrase is this long; a hung engine must not wedge the worker forever
PHRASES_FILE = Path(__file__).with_name("phrases.json")
ENGINE_NAMES = ("espeak", "pyttsx3", "command", "print")


class SpeechUnavailable(EdgetlError):
    """The requested speech engine is not installed or cannot start (message names what to install)."""


class SpeechFailed(EdgetlError):
    """An engine started but failed to speak one phrase."""


def _first_line(text: str | bytes | None) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


# --------------------------------------------------------------------------------------------- engines


class Engine:
    """A blocking text-to-speech backend. ``speak`` returns when the phrase has been spoken."""

    name = "engine"

    def speak(self, text: str) -> None:
        raise NotImplementedError

    def to_wav(self, text: str, path: str | Path) -> Path:
        raise SpeechUnavailable(f"the {self.name} speech engine cannot render audio to a file")

    def cancel(self) -> None:
        """Stop whatever is being spoken right now (called from another thread on shutdown)."""


class _SubprocessEngine(Engine):
    """Runs one child process per phrase and can kill it from another thread."""

    def __init__(self) -> None:
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._cancelled = False

    def _run(self, argv: list[str], stdin: bytes | None = None, capture_stdout: bool = False) -> bytes:
        with self._lock:
            self._cancelled = False
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                    stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            except OSError as exc:
                raise SpeechFailed(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
            self._procs.add(proc)
        try:
            out, err = proc.communicate(stdin, timeout=SPEAK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise SpeechFailed(f"{argv[0]} did not finish within {SPEAK_TIMEOUT_S:.0f} s") from None
        finally:
            with self._lock:
                self._procs.discard(proc)
        if proc.returncode != 0 and not self._cancelled:
            reason = _first_line(err) or f"exit status {proc.returncode}"
            raise SpeechFailed(f"{Path(argv[0]).name} failed: {reason}")
        return out or b""

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            for proc in list(self._procs):
                if proc.poll() is None:
                    proc.kill()


class EspeakEngine(_SubprocessEngine):
    """``espeak-ng -v <voice> -s <rate> -- <text>``: the default, light enough for a Raspberry Pi Zero."""

    name = "espeak"

    def __init__(self, voice: str = "en", rate: int | None = None, binary: str | None = None) -> None:
        super().__init__()
        exe = binary or shutil.which("espeak-ng") or shutil.which("espeak")
        if not exe or not shutil.which(exe):
            raise SpeechUnavailable(
                "espeak-ng is not installed: run 'sudo apt-get install espeak-ng' (or use --no-speech)"
            )
        self.binary = exe
        self.voice = str(voice or "en")
        self.rate = int(rate) if rate is not None else DEFAULT_RATE
        if not 80 <= self.rate <= 450:
            raise EdgetlError(f"speech rate {self.rate} is out of range; espeak-ng accepts 80-450 words per minute")
        # Check the voice once now, so a typo is one clear startup line rather than silence later.
        check = subprocess.run(
            [exe, "-q", "-v", self.voice, "x"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=10
        )
        if check.returncode != 0:
            raise SpeechUnavailable(
                f"espeak-ng has no voice '{self.voice}' ({_first_line(check.stderr) or 'unknown voice'}); "
                "list voices with 'espeak-ng --voices'"
            )

    def _argv(self, text: str, *extra: str) -> list[str]:
        # "-b 1": the text is UTF-8 (Hindi etc.); "--" ends options so a phrase starting with "-" is spoken.
        return [self.binary, "-v", self.voice, "-s", str(self.rate), "-b", "1", *extra, "--", text]

    def speak(self, text: str) -> None:
        self._run(self._argv(text))

    def to_wav(self, text: str, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._run(self._argv(text, "-w", str(path)))
        return path

    def wav_bytes(self, text: str) -> bytes:
        """The phrase as a complete WAV file in memory (``espeak-ng --stdout``)."""
        return self._run(self._argv(text, "--stdout"), capture_stdout=True)


class Pyttsx3Engine(Engine):
    """pyttsx3 (optional install); on Linux it drives espeak-ng through its C library."""

    name = "pyttsx3"

    def __init__(self, voice: str | None = None, rate: int | None = None) -> None:
        try:
            import pyttsx3  # noqa: PLC0415 - optional dependency
        except ImportError:
            raise SpeechUnavailable(
                "pyttsx3 is not installed: run 'pip install pyttsx3' (it also needs 'sudo apt-get install espeak-ng')"
            ) from None
        try:
            self._tts = pyttsx3.init()
        except Exception as exc:  # driver load failures come as many exception types
            raise SpeechUnavailable(f"pyttsx3 could not start: {_first_line(str(exc)) or type(exc).__name__}") from None
        self._lock = threading.Lock()
        if rate is not None:
            self._tts.setProperty("rate", int(rate))
        if voice:
            wanted = voice.lower()
            for v in self._tts.getProperty("voices") or []:
                langs = [(lang.decode("utf-8", "ignore") if isinstance(lang, bytes) else str(lang)).lower()
                         for lang in (getattr(v, "languages", None) or [])]
                if wanted in (str(v.id).lower(), str(v.name).lower()) or any(lang.lstrip("\x05").startswith(wanted) for lang in langs):
                    self._tts.setProperty("voice", v.id)
                    break

    def speak(self, text: str) -> None:
        with self._lock:
            self._tts.say(text)
            self._tts.runAndWait()

    def to_wav(self, text: str, path: str | Path) -> Path:
        path = Path(path)
        with self._lock:
            self._tts.save_to_file(text, str(path))
            self._tts.runAndWait()
        return path

    def cancel(self) -> None:
        try:
            self._tts.stop()
        except Exception:  # best effort on shutdown
            pass


_PLACEHOLDER = re.compile(r"\{(text|voice|lang|rate)\}")
_SAFE_TEXT_ARG = re.compile(r"(--?[A-Za-z][\w-]*=)?\{text\}")  # {text} or --option={text}, nothing else


class CommandEngine(_SubprocessEngine):
    """A user command such as ``--speak-cmd 'piper-say --voice hi {text}'``.

    The template is split like a shell would (shlex) but never run through a shell. ``{text}`` must be
    a whole argument (or ``--option={text}``): embedded in a longer one, as in ``sh -c 'say {text}'``,
    the phrase (from a phrases.json or the model's labels) would become shell code, so such a template
    is refused; ``sh -c 'say "$1"' _ {text}`` passes it safely. ``{voice}``, ``{lang}`` and ``{rate}``
    are substituted too. A template without ``{text}`` receives the phrase on standard input
    (``festival --tts``, ``espeak-ng``, ``piper`` all read it).
    """

    name = "command"

    def __init__(self, template: str, voice: str | None = None, lang: str | None = None, rate: int | None = None) -> None:
        super().__init__()
        try:
            argv = shlex.split(template or "")
        except ValueError as exc:
            raise EdgetlError(f"--speak-cmd cannot be parsed ({exc}): {template!r}") from None
        if not argv:
            raise EdgetlError("--speak-cmd is empty; give a command such as 'espeak-ng -v en {text}'")
        if not shutil.which(argv[0]):
            raise SpeechUnavailable(f"--speak-cmd program not found: {argv[0]} (install it or give its full path)")
        self.template = template
        self.argv = argv
        embedded = [a for a in argv if "{text}" in a and not _SAFE_TEXT_ARG.fullmatch(a)]
        if embedded:
            raise EdgetlError(f"--speak-cmd: {{text}} must be an argument of its own, not inside {embedded[0]!r} "
                              "(that would let a phrase run as code); e.g. sh -c 'say \"$1\"' _ {text}, "
                              "or leave {text} out to get the phrase on standard input")
        self.uses_text = any("{text}" in a for a in argv)
        self.values = {"voice": voice or lang or "", "lang": lang or "", "rate": str(rate or DEFAULT_RATE)}

    def argv_for(self, text: str) -> list[str]:
        values = {**self.values, "text": text}
        # One pass: text that itself contains "{voice}" is not substituted again.
        return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in self.argv]

    def speak(self, text: str) -> None:
        argv = self.argv_for(text)
        self._run(argv, stdin=None if self.uses_text else (text + "\n").encode("utf-8"))


class PrintEngine(Engine):
    """Prints each announcement as one line (``--no-speech``, logs, or a machine with no audio)."""

    name = "print"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def speak(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout, flush=True)


def make_engine(
    name: str = "espeak",
    lang: str = "en",
    speak_cmd: str | None = None,
    voice: str | None = None,
    rate: int | None = None,
    stream: TextIO | None = None,
) -> Engine:
    """Build one engine. A ``speak_cmd`` always wins (it is the most explicit choice).

    Raises SpeechUnavailable (one line naming what to install) when the engine is missing, and
    EdgetlError for an unknown engine name.
    """
    key = (name or "espeak").strip().lower()
    if speak_cmd or key in ("command", "cmd"):
        if not speak_cmd:
            raise EdgetlError("the 'command' speech engine needs --speak-cmd, e.g. --speak-cmd 'espeak-ng {text}'")
        return CommandEngine(speak_cmd, voice=voice, lang=lang, rate=rate)
    if key in ("espeak", "espeak-ng", "espeak_ng"):
        return EspeakEngine(voice=voice or lang or "en", rate=rate)
    if key == "pyttsx3":
        return Pyttsx3Engine(voice=voice or lang, rate=rate)
    if key in ("print", "none", "off", "no", "text"):
        return PrintEngine(stream)
    raise EdgetlError(f"unknown speech engine '{name}'; choose one of: {', '.join(ENGINE_NAMES)}")


# --------------------------------------------------------------------------------------------- earcon


def earcon_wav(freq_hz: float = 880.0, duration_s: float = 0.12, rate: int = 22050) -> Path:
    """A short soft beep as a 16-bit mono WAV, written once to the temp dir and reused."""
    path = Path(tempfile.gettempdir()) / f"edgetl-earcon-{int(freq_hz)}-{int(duration_s * 1000)}ms.wav"
    if path.is_file() and path.stat().st_size > 44:
        return path
    n = int(rate * duration_s)
    t = np.arange(n, dtype=np.float64) / rate
    tone = 0.35 * np.sin(2 * math.pi * freq_hz * t)
    ramp = min(n // 2, int(rate * 0.01))  # 10 ms fades: no click at either end
    if ramp:
        fade = np.linspace(0.0, 1.0, ramp)
        tone[:ramp] *= fade
        tone[-ramp:] *= fade[::-1]
    pcm = (tone * 32767).astype("<i2").tobytes()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    write_bytes(path, buf.getvalue())
    return path


def find_player() -> list[str] | None:
    """argv prefix of the first WAV player on PATH (aplay, paplay, sox's play), or None."""
    for exe, args in (("aplay", ["-q"]), ("paplay", []), ("play", ["-q"])):
        found = shutil.which(exe)
        if found:
            return [found, *args]
    return None


# --------------------------------------------------------------------------------------------- speaker

_NO_KEY = object()


class Speaker:
    """Non-blocking front end: one worker thread, a queue of depth one, newest announcement wins.

    ``say(text, key)`` returns at once. If a phrase is already waiting (not started), it is replaced.
    If ``key`` equals the key of the phrase being spoken right now, the call is a no-op (and any other
    waiting phrase is dropped too, since this one is the newest news) - the user is hearing it already.
    Engine failures are reported once through ``on_error`` (default: one line on stderr).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        earcon: bool = False,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.on_error = on_error
        self.spoken = 0  # phrases handed to the engine
        self.replaced = 0  # waiting phrases dropped because a newer one arrived
        self.failures = 0
        self.last_text: str | None = None  # most recent phrase that started playing
        self._cond = threading.Condition()
        self._pending: tuple[str, object] | None = None
        self._speaking = False
        self._current_key: object = _NO_KEY
        self._closed = False
        self._reported: set[str] = set()
        self._earcon_argv: list[str] | None = None
        self._earcon_proc: subprocess.Popen | None = None
        if earcon and not isinstance(engine, PrintEngine):
            player = find_player()
            if player:  # no player: skip the beep silently, the phrase matters more
                try:
                    self._earcon_argv = [*player, str(earcon_wav())]
                except OSError:
                    self._earcon_argv = None
        self._thread = threading.Thread(target=self._run, name="edgetl-speaker", daemon=True)
        self._thread.start()

    # -- public API
    def say(self, text: str, key: object = None) -> bool:
        """Queue ``text``; returns False when it was skipped (empty, closed, or already being spoken)."""
        text = str(text).strip()
        if not text:
            return False
        with self._cond:
            if self._closed:
                return False
            if key is not None and self._speaking and key == self._current_key:
                if self._pending is not None:
                    self.replaced += 1
                    self._pending = None
                return False
            if self._pending is not None:
                self.replaced += 1
            self._pending = (text, key)
            self._cond.notify_all()
        return True

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._speaking or self._pending is not None

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is queued or being spoken; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._closed or (not self._speaking and self._pending is None), timeout)

    def speak_to_wav(self, text: str, path: str | Path) -> Path:
        """Render ``text`` with this speaker's engine into a WAV file (synchronous; bypasses the queue)."""
        return self.engine.to_wav(text, path)

    def close(self, timeout: float = 2.0, drain: bool = False) -> None:
        """Stop the worker. ``drain=True`` first lets the queued phrase finish (up to ``timeout``)."""
        if drain:
            self.wait_idle(timeout)
        with self._cond:
            if self._closed and not self._thread.is_alive():
                return
            self._closed = True
            self._pending = None
            self._cond.notify_all()
        self.engine.cancel()
        proc = self._earcon_proc
        if proc is not None and proc.poll() is None:
            proc.kill()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> "Speaker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- worker
    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._pending is not None)
                if self._closed:
                    return
                text, key = self._pending  # type: ignore[misc]
                self._pending = None
                self._speaking = True
                self._current_key = key
                self.last_text = text
            try:
                if self._earcon_argv:
                    self._play_earcon()
                self.spoken += 1
                self.engine.speak(text)
            except Exception as exc:  # the worker must survive any engine failure
                if not self._closed:
                    self.failures += 1
                    self._report(exc)
            finally:
                with self._cond:
                    self._speaking = False
                    self._current_key = _NO_KEY
                    self._cond.notify_all()

    def _play_earcon(self) -> None:
        try:
            self._earcon_proc = subprocess.Popen(
                self._earcon_argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            if self._earcon_proc.wait(timeout=2) != 0:
                self._earcon_argv = None  # no sound device / player broken: stop trying, silently
        except (OSError, subprocess.TimeoutExpired):
            if self._earcon_proc is not None and self._earcon_proc.poll() is None:
                self._earcon_proc.kill()
            self._earcon_argv = None  # broken player: stop trying, silently
        finally:
            self._earcon_proc = None

    def _report(self, exc: BaseException) -> None:
        msg = _first_line(str(exc)) or type(exc).__name__
        kind = type(exc).__name__ + ":" + msg.split(":")[0]
        if kind in self._reported:
            return
        self._reported.add(kind)
        line = f"speech: {msg}"
        if self.on_error is not None:
            try:
                self.on_error(line)
            except Exception:
                pass
        else:
            print(line, file=sys.stderr, flush=True)


def open_speaker(
    engine: str = "espeak",
    lang: str = "en",
    speak_cmd: str | None = None,
    voice: str | None = None,
    rate: int | None = None,
    earcon: bool = False,
    stream: TextIO | None = None,
    on_error: Callable[[str], None] | None = None,
) -> tuple[Speaker, str | None]:
    """A running Speaker plus an optional one-line warning.

    When the requested engine is missing (SpeechUnavailable) the speaker prints announcements instead
    and the warning says why; the caller shows the warning once. Other configuration mistakes (an
    unknown engine name, an unparsable --speak-cmd) still raise EdgetlError.
    """
    try:
        eng = make_engine(engine, lang=lang, speak_cmd=speak_cmd, voice=voice, rate=rate, stream=stream)
        warning = None
    except SpeechUnavailable as exc:
        eng = PrintEngine(stream)
        warning = f"{exc}; printing announcements instead"
    return Speaker(eng, earcon=earcon, on_error=on_error), warning


# --------------------------------------------------------------------------------------------- phrases

_MERGED_DICTS = ("labels", "label_phrases")
_FALLBACK_LANG = "en"


def _read_phrases(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EdgetlError(f"{path}: no such phrases file") from None
    except UnicodeDecodeError:
        raise EdgetlError(f"{path}: phrases file is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise EdgetlError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise EdgetlError(f'{path}: expected {{"<lang>": {{"announce": "{{label}} ...", ...}}, ...}}')
    for lang, table in data.items():
        for key, value in table.items():
            if key in _MERGED_DICTS:
                if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                    raise EdgetlError(f'{path}: "{lang}.{key}" must map label names to text')
            elif not isinstance(value, str):
                raise EdgetlError(f'{path}: "{lang}.{key}" must be text, not {type(value).__name__}')
    return data


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for lang, table in override.items():
        target = out.setdefault(lang, {})
        for key, value in table.items():
            if key in _MERGED_DICTS:
                target[key] = {**target.get(key, {}), **value}
            else:
                target[key] = value
    return out


def _resolve_lang(lang: str, available: list[str]) -> str | None:
    lang = (lang or _FALLBACK_LANG).strip()
    lowered = {a.lower(): a for a in available}
    for candidate in (lang, lang.lower(), re.split(r"[-_]", lang)[0].lower()):
        if candidate in available:
            return candidate
        if candidate in lowered:
            return lowered[candidate]
    return None


class Phrases:
    """The phrase templates for one language."""

    def __init__(self, lang: str, table: dict, available: list[str], sources: list[str]) -> None:
        self.lang = lang
        self.table = table
        self.available = sorted(available)
        self.sources = sources
        self.labels: dict[str, str] = dict(table.get("labels", {}))
        self.label_phrases: dict[str, str] = dict(table.get("label_phrases", {}))

    @classmethod
    def load(cls, path: str | Path | None = None, lang: str = "en") -> "Phrases":
        """Packaged defaults, extended/overridden by ``path``.

        ``path`` may be a phrases JSON file (must exist) or a directory such as the model folder, in
        which case its ``phrases.json`` is used when present. Per language, ``labels`` and
        ``label_phrases`` are merged key by key; other entries replace the default.
        """
        data = _read_phrases(PHRASES_FILE)
        sources = [str(PHRASES_FILE)]
        if path is not None:
            p = Path(path)
            if p.is_dir():
                p = p / "phrases.json"
                if not p.is_file():
                    p = None  # type: ignore[assignment]
            if p is not None:
                data = _merge(data, _read_phrases(p))
                sources.append(str(p))
        available = sorted(data)
        chosen = _resolve_lang(lang, available)
        if chosen is None:
            raise EdgetlError(
                f"no phrases for language '{lang}'; available: {', '.join(available)} "
                "(add it to a phrases.json next to the model's labels)"
            )
        table = dict(data.get(_FALLBACK_LANG, {}))  # a new language may omit hints; English fills the gaps
        table.update({k: v for k, v in data[chosen].items()})
        if chosen != _FALLBACK_LANG:
            for key in _MERGED_DICTS:
                table[key] = dict(data[chosen].get(key, {}))
            if "voice" not in data[chosen]:
                table["voice"] = chosen
            if "announce" not in data[chosen]:
                raise EdgetlError(f'{sources[-1]}: language "{chosen}" needs an "announce" template such as "{{label}} rupees"')
        return cls(chosen, table, available, sources)

    @property
    def voice(self) -> str:
        return self.table.get("voice") or self.lang

    def spoken_label(self, label: str) -> str:
        label = str(label)
        for candidate in (label, label.strip(), label.strip().lower()):
            if candidate in self.labels:
                return self.labels[candidate]
        numbers = re.findall(r"\d+", label)
        if len(numbers) == 1 and numbers[0] in self.labels:  # "inr_500", "500_new" -> the "500" entry
            return self.labels[numbers[0]]
        return re.sub(r"[_\-]+", " ", label).strip() or label

    def phrase_for(self, label: str) -> str:
        """What to say for a predicted class, e.g. "500 rupees" / "पाँच सौ रुपये"."""
        label = str(label)
        if label in self.label_phrases:
            return self.label_phrases[label]
        return self.table.get("announce", "{label}").replace("{label}", self.spoken_label(label))

    def hint_phrase(self) -> str:
        """Said when the view is unclear (low confidence / motion)."""
        return self.text("hold_steady")

    def text(self, key: str, default: str | None = None) -> str:
        value = self.table.get(key)
        if isinstance(value, str):
            return value
        if default is not None:
            return default
        raise EdgetlError(f"no phrase '{key}' for language '{self.lang}'")
