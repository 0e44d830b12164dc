"""Text data (one document per row).

A group is an identity term set (gender, names, nationality, religion) swapped inside the text,
or a sensitive column's values (variant ``groups``); shift is a domain split plus typo / casing /
noise perturbations; robustness is TextAttack recipes; explanations are token attributions.
"""

IMPLEMENTATIONS = {
    "fairness": {
        "terms": "audit.modalities.text.fairness:TextFairnessCheck",
        "groups": "audit.checks.fairness:FairnessCheck",
        "classes": "audit.checks.class_disparity:ClassDisparityCheck",
    },
    "shift": "audit.modalities.text.shift:TextShiftCheck",
    "robustness": "audit.modalities.text.robustness:TextRobustnessCheck",
    "explain": "audit.modalities.text.explain:TextExplainCheck",
    "privacy": {
        "membership": "audit.checks.privacy:MembershipCheck",
    },
    "integrity": {
        "data": "audit.checks.integrity:DataIntegrityCheck",
        "model": "audit.checks.integrity:ModelIntegrityCheck",
    },
}
