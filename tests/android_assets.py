"""The asset file names the Android app opens, parsed from android_demo/.../Assets.kt.

``edgetl export ... --android DIR`` must write exactly these names; its test imports
``android_asset_names`` from here so the Kotlin object stays the single source of truth.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS_KT = ROOT / "android_demo" / "app" / "src" / "main" / "java" / "org" / "edgetl" / "demo" / "Assets.kt"

_OBJECT = re.compile(r"\bobject\s+Assets\s*\{(?P<body>.*?)^\}", re.S | re.M)
_CONST = re.compile(r'^\s*const\s+val\s+(?P<name>[A-Z][A-Z0-9_]*)\s*=\s*"(?P<value>[^"\\$]*)"\s*$', re.M)


def android_asset_names(path: str | Path = ASSETS_KT) -> dict[str, str]:
    """``{"MODEL_INT8": "model_int8.tflite", ...}`` from the ``object Assets`` constants."""
    text = Path(path).read_text(encoding="utf-8")
    m = _OBJECT.search(text)
    if not m:
        raise ValueError(f"{path}: no `object Assets {{ ... }}`")
    body = re.sub(r"/\*.*?\*/", "", m.group("body"), flags=re.S)  # KDoc comments
    body = re.sub(r"//[^\n]*", "", body)
    names = {c.group("name"): c.group("value") for c in _CONST.finditer(body)}
    if not names:
        raise ValueError(f"{path}: object Assets declares no `const val NAME = \"file\"`")
    return names
