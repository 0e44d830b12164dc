"""Image data (greyscale or colour pixel arrays scaled to [0, 1]).

There are no sensitive columns: a group is a class, so fairness is the per-class disparity;
shift is a ladder of corruptions (``corruptions``); robustness is gradient attacks kept inside
[0, 1]; explanations are pixel attributions with a deletion-curve faithfulness test.
"""

IMPLEMENTATIONS = {
    "fairness": {"classes": "audit.checks.class_disparity:ClassDisparityCheck"},
    "shift": "audit.modalities.image.shift:ImageShiftCheck",
    "robustness": "audit.modalities.image.robustness:ImageRobustnessCheck",
    "explain": "audit.modalities.image.explain:ImageExplainCheck",
    "privacy": {
        "membership": "audit.checks.privacy:MembershipCheck",
    },
    "integrity": {
        "data": "audit.checks.integrity:DataIntegrityCheck",
        "model": "audit.checks.integrity:ModelIntegrityCheck",
    },
}
