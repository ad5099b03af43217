"""Compare the announcements of the same `edgetl run` on two machines (JSON-lines logs).

OpenCV's resize and LiteRT's int8 kernels round differently on ARM and x86, so smoothed confidences
differ by a few hundredths: a note announced just above the threshold on one side may stay just below
it on the other. Announcements at least MARGIN above the threshold are not that case: each side's
confident announcements must appear among the other side's, in the same order. Exit 1 otherwise.

    compare_announcements.py HOST.jsonl ARM64.jsonl THRESHOLD HOST_NAME [weak]

(weak: the model had no pretrained weights, so announcing nothing is no failure.)
"""

import json
import sys

MARGIN = 0.1


def announced(path):
    with open(path, encoding="utf-8") as lines:
        return [e for e in map(json.loads, lines) if e["event"] == "announce"]


def in_order(wanted, said):
    """Are the labels of ``wanted`` a subsequence of the labels of ``said``?"""
    rest = iter(e["label"] for e in said)
    return all(any(label == e for label in rest) for e in (w["label"] for w in wanted))


def show(events, bar):
    return " ".join(f"{e['label']}@{e['frame']}({e['confidence']:.2f}{'' if e['confidence'] >= bar else '~'})"
                    for e in events) or "(none)"


def main(host_log, arm_log, threshold, host_name, weak_model=""):
    host, arm = announced(host_log), announced(arm_log)
    bar = float(threshold) + MARGIN
    print(f"announcements, label@frame(confidence), threshold {threshold}; ~ marks ones within {MARGIN} of it:")
    print(f"  {host_name:7s} {show(host, bar)}")
    print(f"  arm64   {show(arm, bar)}")
    confident_host = [e for e in host if e["confidence"] >= bar]
    confident_arm = [e for e in arm if e["confidence"] >= bar]
    if not confident_host and not weak_model:
        return "this machine announced nothing confidently: the model is too weak to compare with"
    if not in_order(confident_host, arm):
        return "arm64 missed or reordered notes this machine announced confidently"
    if not in_order(confident_arm, host):
        return "arm64 confidently announced notes this machine did not, or in another order"
    return None


if __name__ == "__main__":
    problem = main(*sys.argv[1:6])
    if problem:
        sys.exit(f"pi-check: FAILED: {problem}")
