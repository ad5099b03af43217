"""Every option and argument of every command explains itself in --help, and `edgetl backbones` reads the registry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import typer.main

from edgetl.cli import app

EDGETL = Path(sys.executable).with_name("edgetl")


def _leaves(command, words=()):
    subcommands = getattr(command, "commands", None)
    if subcommands:
        for name, sub in subcommands.items():
            yield from _leaves(sub, (*words, name))
    yield words, command


def test_every_parameter_has_help_text():
    missing = [f"edgetl {' '.join(words)} {param.opts[0] if param.opts else param.name}"
               for words, command in _leaves(typer.main.get_command(app))
               for param in command.params
               if param.name != "help" and not (getattr(param, "help", None) or "").strip()]
    assert not missing, "parameters without help text:\n" + "\n".join(missing)


def test_backbones_lists_the_registry_without_tensorflow():
    from edgetl.train.backbones import DEFAULT, REGISTRY

    proc = subprocess.run([str(EDGETL), "backbones", "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["name"] for r in rows] == list(REGISTRY)
    for row in rows:
        spec = REGISTRY[row["name"]]
        assert (row["input_mean"], row["input_std"], row["features"]) == (spec.mean, spec.std, spec.features)
        assert row["fine_tune_blocks"] == spec.blocks and row["qat"] == spec.qat
        assert row["default"] == (spec.name == DEFAULT)
    text = subprocess.run([str(EDGETL), "backbones"], capture_output=True, text=True, timeout=60).stdout
    assert all(name in text for name in REGISTRY) and "0.35-1.4" in text
    code = "import sys; from edgetl.backbone_list import backbone_rows; backbone_rows(); print('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def _usage_error(*args: str) -> str:
    proc = subprocess.run([str(EDGETL), *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Usage" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    return " ".join(proc.stderr.split())


def test_run_takes_model_positionally_or_as_the_older_option_but_not_two():
    assert "edgetl run MODEL" in _usage_error("run")
    assert "two models given" in _usage_error("run", "a.tflite", "--model", "b.tflite")


def test_export_refuses_int8_options_for_other_quantizations(tmp_path):
    assert "--output-type only applies to --int8" in _usage_error("export", str(tmp_path), "--fp16", "--output-type", "float32")
    assert "--calibration only applies" in _usage_error("export", str(tmp_path), "--float32", "--calibration", str(tmp_path))
    assert "--qat/--ptq only applies" in _usage_error("export", str(tmp_path), "--dynamic", "--ptq")


def test_defaults_are_read_from_the_config_dataclasses_not_restated():
    """An option that a config dataclass declares defaults to "not given"; its help shows the dataclass's value."""
    from dataclasses import fields

    from edgetl.export.config import NONE_MEANS as EXPORT_NONE_MEANS, ExportConfig
    from edgetl.train.config import NONE_MEANS, QatConfig, TrainConfig

    renamed = {"val": "val_fraction", "test": "test_fraction"}
    checked = 0
    commands = typer.main.get_command(app).commands
    for verb, config, none_means in (("train", TrainConfig, NONE_MEANS), ("qat", QatConfig, NONE_MEANS),
                                     ("export", ExportConfig, EXPORT_NONE_MEANS)):
        declared = {f.name: f.default for f in fields(config)}
        for param in commands[verb].params:
            field = renamed.get(param.name, param.name)
            if field not in declared or param.name == "out":
                continue
            checked += 1
            assert param.default is None, f"edgetl {verb} {param.opts[0]} restates a default ({param.default!r})"
            shown = none_means[field] if declared[field] is None and field in none_means else declared[field]
            assert f"(default: {shown})" in param.help, f"edgetl {verb} {param.opts[0]}: help does not show it"
    assert checked >= 20

