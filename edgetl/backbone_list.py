"""`edgetl backbones`: what the backbone registry offers, read from the registry itself (no TensorFlow)."""

from __future__ import annotations


def backbone_rows() -> list[dict]:
    """One dict per registered backbone, in registry order, default first in the registry."""
    from edgetl.train.backbones import DEFAULT, REGISTRY

    rows = []
    for spec in REGISTRY.values():
        if not spec.has_alpha:
            alpha = "1.0"
        elif spec.alpha_range:
            alpha = f"{spec.alphas[0]}-{spec.alphas[1]}"
        else:
            alpha = ", ".join(str(a) for a in spec.alphas)
        rows.append({"name": spec.name, "display": spec.display, "default": spec.name == DEFAULT,
                     "input_mean": spec.mean, "input_std": spec.std, "features": spec.features, "alpha": alpha,
                     "sizes": list(spec.sizes), "fine_tune_blocks": spec.blocks, "qat": spec.qat,
                     "qat_note": spec.qat_note, "int8_only": spec.int8_only})
    return rows


def format_backbones(rows: list[dict]) -> str:
    header = ("backbone", "mean/std", "features", "alpha", "size", "fine-tune blocks", "QAT")
    table = [header] + [(r["name"] + (" (default)" if r["default"] else ""), f"{r['input_mean']:g}/{r['input_std']:g}",
                         str(r["features"]), r["alpha"], f"{r['sizes'][0]}-{r['sizes'][1]}",
                         str(r["fine_tune_blocks"]), "yes" if r["qat"] else "no") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"{r['name']}: no QAT ({r['qat_note']})" for r in rows if not r["qat"] and r["qat_note"]]
    return "\n".join(lines + ([""] + notes if notes else []) +
                     ["", "features: pooled feature size (MobileNets at alpha 1.0); use: edgetl train DATA --backbone NAME"])
