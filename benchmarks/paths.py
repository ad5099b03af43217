"""Where the benchmarks find the project and the real data beside it; importing it makes `edgetl` importable.

The benchmark scripts run as plain files (``python benchmarks/x.py``), so Python puts this folder on the
path and ``import paths`` works from any of them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("EDGETL_PROGRESS", "0")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"
WEIGHTS = SHARED / "weights" / "mobilenet_v2_1.0_224_imagenet_from_coral_int8ptq_no_top.h5"
FOLDERS = ("inr-photos", "inr-scans", "inr-handheld")  # the three real photo sets, no "no note" class
