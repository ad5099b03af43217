"""Write tests/vectors/decision_setup.json: card + user options -> Decider settings.

Both runtimes run these cases: edgetl/runtime/setup.py (tests/test_decision_setup.py) and the Kotlin
SetupRules in android_demo/decision (its JUnit test, run by tests/test_kotlin_decide.py). The expected
results are written by hand from the rules (see each note), not computed by either implementation.

    python tests/vectors/make_decision_setup_vectors.py tests/vectors/decision_setup.json
"""
import json
import sys

NOTES = ["10", "20", "50", "background"]


def case(name, note, expected, labels=NOTES, card=None, threshold=None, hint_after_s=None):
    """``card``: None (no card) or (background_label, announce_threshold); ``expected``: a dict, or the
    name of the refused input as a string."""
    return {
        "name": name, "note": note, "labels": labels,
        "card": None if card is None else {"background_label": card[0], "announce_threshold": card[1]},
        "user": {"threshold": threshold, "hint_after_s": hint_after_s},
        "expected": {"error": expected} if isinstance(expected, str) else expected,
    }


def ok(threshold, source, background="background", hint_after_s=0.0):
    return {"threshold": threshold, "threshold_source": source, "background": background, "hint_after_s": hint_after_s}


cases = [
    # ---- threshold
    case("no_card_uses_default", "No card (a bare .tflite on the Pi): 0.8, a label named background, no hint.",
         ok(0.8, "default"), card=None),
    case("card_calibrated", "A calibrated card value in [0.5, 1] is used as it is.",
         ok(0.87, "card"), card=("background", 0.87)),
    case("card_threshold_missing", "announce_threshold null (too few held-out answers to calibrate): 0.8.",
         ok(0.8, "default"), card=("background", None)),
    case("card_threshold_zero_means_default", "0 in a card means not calibrated, never 'announce anything': 0.8.",
         ok(0.8, "default"), card=("background", 0.0)),
    case("card_threshold_below_floor_raised", "0.3 is raised to the 0.5 floor (the Pi warns).",
         ok(0.5, "card_raised"), card=("background", 0.3)),
    case("card_threshold_just_below_floor", "0.49 is raised to 0.5 too.",
         ok(0.5, "card_raised"), card=("background", 0.49)),
    case("card_threshold_at_floor", "Exactly 0.5 is kept as the card's own value.",
         ok(0.5, "card"), card=("background", 0.5)),
    case("card_threshold_tiny", "A positive value near 0 is raised, not treated as 0.",
         ok(0.5, "card_raised"), card=("background", 1e-9)),
    case("card_threshold_one", "1.0 (only certain answers) is allowed.",
         ok(1.0, "card"), card=("background", 1.0)),
    case("card_threshold_integer_one", "A JSON integer 1 reads as 1.0.",
         ok(1.0, "card"), card=("background", 1)),
    case("card_threshold_above_one_refused", "1.2 is no probability: the card is refused.",
         "card_threshold", card=("background", 1.2)),
    case("card_threshold_negative_refused", "-0.1 is no probability: the card is refused.",
         "card_threshold", card=("background", -0.1)),
    case("user_threshold_wins", "The user's value beats the card's.",
         ok(0.6, "user"), card=("background", 0.95), threshold=0.6),
    case("user_threshold_not_floored", "An explicit user value below 0.5 is the user's choice: kept.",
         ok(0.3, "user"), card=("background", 0.9), threshold=0.3),
    case("user_threshold_without_card", "The user's value also applies with no card.",
         ok(0.99, "user"), card=None, threshold=0.99),
    case("user_threshold_one", "1.0 is a valid user value.",
         ok(1.0, "user"), card=("background", 0.9), threshold=1.0),
    case("user_threshold_zero_refused", "0 from the user is refused (it would announce noise).",
         "threshold", card=("background", 0.9), threshold=0.0),
    case("user_threshold_above_one_refused", "1.01 from the user is refused.",
         "threshold", card=("background", 0.9), threshold=1.01),
    case("user_threshold_shadows_bad_card", "With a user value the card's threshold is not consulted.",
         ok(0.7, "user"), card=("background", 1.5), threshold=0.7),
    # ---- background
    case("card_background_custom_name", "The card's background label is used when it is a label.",
         ok(0.9, "card", background="nothing"), labels=["10", "20", "nothing"], card=("nothing", 0.9)),
    case("card_background_not_a_label_falls_back", "The card names a label the model lacks: use 'background'.",
         ok(0.9, "card"), card=("empty", 0.9)),
    case("card_background_null_falls_back", "background_label null but a label named background exists: use it.",
         ok(0.9, "card"), card=(None, 0.9)),
    case("no_background_label_at_all", "No background class: every label is a note.",
         ok(0.9, "card", background=None), labels=["10", "20"], card=("background", 0.9)),
    case("no_card_no_background_label", "No card and no background class.",
         ok(0.8, "default", background=None), labels=["10", "20"], card=None),
    case("background_match_is_exact", "'Background' is not 'background' (labels are compared exactly).",
         ok(0.8, "default", background=None), labels=["10", "Background"], card=(None, None)),
    # ---- hint
    case("hint_on_when_asked", "The user asks for the hold-steady hint after 4 s.",
         ok(0.9, "card", hint_after_s=4.0), card=("background", 0.9), hint_after_s=4.0),
    case("hint_zero_is_off", "0 turns the hint off.",
         ok(0.9, "card", hint_after_s=0.0), card=("background", 0.9), hint_after_s=0.0),
    case("hint_negative_refused", "A negative delay is refused.",
         "hint_after_s", card=("background", 0.9), hint_after_s=-1.0),
]

names = [c["name"] for c in cases]
assert len(set(names)) == len(names), "duplicate case names"

with open(sys.argv[1], "w") as f:
    f.write("[\n")
    f.write(",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in cases))
    f.write("\n]\n")
print(len(cases), "cases")
