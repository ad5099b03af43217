"""Write tests/vectors/decision.json. Expected events are written by hand (see each note)."""
import json, sys

L4 = ["background", "10", "20", "50"]
DT = 0.125  # 8 fps: every timestamp and difference is exact in binary floating point
BG  = [0.97, 0.01, 0.01, 0.01]
N10 = [0.01, 0.97, 0.01, 0.01]
N20 = [0.01, 0.01, 0.97, 0.01]
N50 = [0.01, 0.01, 0.01, 0.97]
AMB_A = [0.02, 0.49, 0.47, 0.02]
AMB_B = [0.02, 0.47, 0.49, 0.02]

def seq(*parts):
    out = []
    for frame, n in parts:
        out.extend([frame] * n)
    return out

def alt(a, b, n):
    return [a if i % 2 == 0 else b for i in range(n)]

def case(name, note, frames, expected, config=None, labels=L4, background="background"):
    return {
        "name": name, "note": note, "labels": labels, "background": background,
        "config": config or {},
        "frames": [{"t": i * DT, "probs": p} for i, p in enumerate(frames)],
        "expected": [{"kind": k, "label": l, "frame": f} for k, l, f in expected],
    }

A = "announce"
cases = [
    case("clean_note_appears",
         "EMA s10 over N10 frames from background: .49 .73 .85(candidate, 1) .91(2) .94(3) -> announce on the 5th note frame (8+4).",
         seq((BG, 8), (N10, 24)), [(A, "10", 12)]),
    case("note_from_first_frame",
         "EMA starts at the first frame, so 10 is the candidate from frame 0 and stable for 3 frames at frame 2.",
         seq((N10, 10)), [(A, "10", 2)]),
    case("background_only", "Background is never announced, however confident.",
         seq((BG, 80)), []),
    case("flicker_below_threshold",
         "No raw frame reaches 0.8, so no EMA value (a convex mix) can: silence.",
         alt([0.25, 0.7, 0.03, 0.02], [0.5, 0.4, 0.05, 0.05], 60), []),
    case("brief_flash_too_short",
         "4 note frames: candidate only at note frames 2 and 3 (count 2 < 3), then background: silence.",
         seq((BG, 8), (N10, 4), (BG, 20)), []),
    case("exactly_stable_frames",
         "5 note frames: candidate at note frames 2,3,4 -> count reaches 3 on the last note frame (12).",
         seq((BG, 8), (N10, 5), (BG, 20)), [(A, "10", 12)]),
    case("single_confident_outlier",
         "One confident 10 frame amid background lifts s10 to .49 only; a confident 20 later likewise: silence.",
         seq((BG, 20), (N10, 1), (BG, 20), (N20, 1), (BG, 10)), []),
    case("long_stay_announced_once",
         "Announced at 12 (as clean_note_appears); stays in view for 30 s, far past the cooldown, never repeated.",
         seq((BG, 8), (N10, 240)), [(A, "10", 12)]),
    case("leave_and_return_after_cooldown",
         "Announce at 12 (t=1.5); background from 24 gives no candidate from 24, view cleared at 28; "
         "note back at 56 -> announce at 60 (t=7.5, 6 s after the first).",
         seq((BG, 8), (N10, 16), (BG, 32), (N10, 16)), [(A, "10", 12), (A, "10", 60)]),
    case("return_within_cooldown_silent",
         "Announce at 2 (t=.25); background 8-13 clears the view at 12; note back at 14: s10 .4975 .73375 .851875 "
         "-> stable at 18 (t=2.25) but only 2.0 s since the last 10; stream ends at t=2.875 < 3.25: silent.",
         seq((N10, 8), (BG, 6), (N10, 10)), [(A, "10", 2)]),
    case("return_within_cooldown_then_held",
         "As return_within_cooldown_silent, but the note is still held when the cooldown ends: "
         "first frame with t - .25 >= 3.0 is t=3.25 = frame 26.",
         seq((N10, 8), (BG, 6), (N10, 27)), [(A, "10", 2), (A, "10", 26)]),
    case("brief_dropout_keeps_view",
         "s10 = .97 at 39; 2 background frames -> s10 .49 .25 .61 .79 .88: no-candidate frames 40-43 (4 < leave 5), "
         "so the note never left and is not re-announced although the cooldown has long passed.",
         seq((N10, 40), (BG, 2), (N10, 30)), [(A, "10", 2)]),
    case("dropout_while_note_leads_keeps_view",
         "3 background frames -> s10 .49 (ties background: first index wins) .25 .13, then .55 .76: away only at "
         "40-42 (3 < leave 5); from 43 the 10 leads again with >= .4 (half the threshold), so it is held, "
         "not gone, and never re-announced.",
         seq((N10, 40), (BG, 3), (N10, 30)), [(A, "10", 2)]),
    case("weak_lead_is_not_a_leave",
         "After the 10 is announced the frames give it only .65: s10 settles near .65, under the threshold but "
         "leading, for 30 frames (3.75 s, past the cooldown): still in view, said once.",
         seq((N10, 40), ([0.3, 0.65, 0.03, 0.02], 30), (N10, 30)), [(A, "10", 2)]),
    case("fading_below_half_threshold_leaves",
         "Frames giving the 10 only .35: s10 .66 .505 .4275 (held) then .38875 .369 ... < .4 from 43: away 43-47, "
         "view cleared at 47; the 10 back from 50 is a candidate from 51 (s10 .84), stable at 53 -> said again.",
         seq((N10, 40), ([0.2, 0.35, 0.25, 0.2], 10), (N10, 30)), [(A, "10", 2), (A, "10", 53)]),
    case("swap_to_different_note",
         "10 announced at 12. Frame 24: previous candidate 10, raw 20 confident -> EMA reset to this frame, "
         "candidate 20 from 24, announced at 26 (without the reset it would be 28).",
         seq((BG, 8), (N10, 16), (N20, 16)), [(A, "10", 12), (A, "20", 26)]),
    case("swap_back_within_cooldown_deferred",
         "10 at 2 (t=.25), swap to 20 announced at 12 (t=1.5), swap back to 10 stable at 22 (t=2.75) but 10 is "
         "cooling down until t=3.25 exactly (frame 26, boundary counts).",
         seq((N10, 10), (N20, 10), (N10, 20)), [(A, "10", 2), (A, "20", 12), (A, "10", 26)]),
    case("ambiguity_alternating_silent",
         "Two labels near .48 alternating: smoothed max stays < .8: silence (hints disabled by default).",
         seq((BG, 4)) + alt(AMB_A, AMB_B, 80), []),
    case("confident_alternation_silent",
         "Confident 10 and 20 alternating every frame with no candidate yet: EMA tops out near .65, silence.",
         seq((BG, 4)) + alt(N10, N20, 60), []),
    case("confident_alternation_after_note",
         "10 announced at 2; then 20/10 alternate confidently: every frame is a swap (EMA reset), the candidate "
         "flips each frame, 20 never stable for 3 frames; 10 is still in view: nothing more.",
         seq((N10, 10)) + alt(N20, N10, 60), [(A, "10", 2)]),
    case("hint_after_long_ambiguity",
         "Ambiguous from frame 0 (top 10 at .49, not background): hint at t=1.0 (frame 8, boundary counts), only once "
         "for 40 frames. Background 40-49 ends the stretch. Frames 50: background still on top (.495 vs .25); "
         "51: 10 on top -> new stretch from t=6.375, hint at t=7.375 (59). Note from 70: s10 .73 .85 -> announce at 73; "
         "frame 70 is still ambiguous but that stretch already had its hint.",
         seq((AMB_A, 40), (BG, 10), (AMB_A, 20), (N10, 10)),
         [("hint", "hold_steady", 8), ("hint", "hold_steady", 59), (A, "10", 73)],
         config={"hint_after_s": 1.0}),
    case("hint_disabled_by_default",
         "Same frames as hint_after_long_ambiguity with the default config: only the announcement.",
         seq((AMB_A, 40), (BG, 10), (AMB_A, 20), (N10, 10)), [(A, "10", 73)]),
    case("vote_clean_note",
         "Vote (window 5, needs 3 votes): background frames vote background; note votes 1,2,3 at note frames 0,1,2 "
         "-> candidate from 10, stable at 12.",
         seq((BG, 8), (N10, 16)), [(A, "10", 12)], config={"smoothing": "vote"}),
    case("vote_outliers_tolerated",
         "Pattern 10,10,20,10 after background. 10-votes in window: 1,2,2,3(cand),4,4 -> announce at 8+5=13; "
         "20 never gets more than 2 votes.",
         seq((BG, 8)) + [N10, N10, N20, N10] * 10, [(A, "10", 13)], config={"smoothing": "vote"}),
    case("ema_outliers_delay",
         "Same frames with EMA: s10 .49 .73 .37 .67 .82(cand at 12) .895; frame 14 (20) is a swap -> reset, "
         "frame 15 (10) swaps back -> count restarts, stable at 17. 20 never stable.",
         seq((BG, 8)) + [N10, N10, N20, N10] * 10, [(A, "10", 17)]),
    case("vote_single_outlier_silent",
         "Two confident 10 frames amid background: 2 votes < 3: silence.",
         seq((BG, 10), (N10, 2), (BG, 10)), [], config={"smoothing": "vote"}),
    case("vote_low_confidence_abstains",
         "Raw max .6 < .8: every frame abstains, no majority: silence.",
         seq(([0.3, 0.6, 0.05, 0.05], 30)), [], config={"smoothing": "vote"}),
    case("vote_intermittent",
         "Pattern 10,10,low after background; the low frame abstains. 10-votes: 1,2,2,3(cand),4,3 -> stable (count 3) "
         "on the abstaining frame 8+5=13.",
         seq((BG, 8)) + [N10, N10, [0.3, 0.6, 0.05, 0.05]] * 8, [(A, "10", 13)], config={"smoothing": "vote"}),
    case("threshold_exact_counts",
         "Constant .8 from the first frame: .5*.8 + .5*.8 == .8 exactly, and >= threshold counts: announce at 2.",
         seq(([0.1, 0.8, 0.05, 0.05], 10)), [(A, "10", 2)]),
    case("threshold_just_below_silent",
         "Constant .79999999 stays below .8: silence.",
         seq(([0.1, 0.79999999, 0.1, 0.00000001], 20)), []),
    case("vote_threshold_exact",
         "Vote: each .8 frame is a confident vote (>=); 3 votes at frame 2, stable at 4.",
         seq(([0.1, 0.8, 0.05, 0.05], 10)), [(A, "10", 4)], config={"smoothing": "vote"}),
    case("no_background_class_with_hint",
         "No background label: [.5,.5] is ambiguous from frame 0 (top = first index), hint at t=.5 (frame 4). "
         "Then .95: s10 .725 .8375(cand at 11) -> announce at 13.",
         seq(([0.5, 0.5], 10), ([0.95, 0.05], 10)),
         [("hint", "hold_steady", 4), (A, "10", 13)],
         config={"hint_after_s": 0.5}, labels=["10", "20"], background=None),
    case("custom_config_fast",
         "stable_frames 1, leave_frames 2, cooldown .5: s50 .49 .73 .85 -> announce at 6 (t=.75); background 10-12 "
         "clears the view at 11; s50 .549 .7595 .86475 -> announce at 15 (t=1.875, 1.125 s later).",
         seq((BG, 4), (N50, 6), (BG, 3), (N50, 6)), [(A, "50", 6), (A, "50", 15)],
         config={"stable_frames": 1, "leave_frames": 2, "cooldown_s": 0.5}),
    case("no_smoothing_alpha_one",
         "ema_alpha 1: s is the raw frame. 20 confident at frames 4,5 only (count 2 < 3): silence for 20; "
         "50 at 10-12: announce at 12.",
         seq((BG, 4), (N20, 2), (BG, 4), (N50, 3), (BG, 4)), [(A, "50", 12)],
         config={"ema_alpha": 1.0}),
]

out = sys.argv[1]
with open(out, "w") as f:
    f.write("[\n")
    for ci, c in enumerate(cases):
        frames = c.pop("frames")
        f.write("  {\n")
        for k, v in c.items():
            f.write(f"    {json.dumps(k)}: {json.dumps(v)},\n")
        f.write('    "frames": [\n')
        f.write(",\n".join("      " + json.dumps(fr, separators=(", ", ": ")) for fr in frames))
        f.write("\n    ]\n  }" + (",\n" if ci < len(cases) - 1 else "\n"))
    f.write("]\n")
print(len(cases), "cases")
