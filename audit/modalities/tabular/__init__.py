"""Tabular data (rows of numeric and categorical columns).

Groups are the values of the suite's sensitive columns (and their intersections); shift is
retraining on a subpopulation plus feature perturbations; robustness attacks the mutable numeric
columns within their valid domain and flips counterfactual attributes; explanations are SHAP /
Captum attributions per feature; slices are single features and pairs (numeric ones binned at
training quantiles) searched for significantly higher error or worse calibration.
"""

IMPLEMENTATIONS = {
    "fairness": {
        "groups": "audit.checks.fairness:FairnessCheck",
        "classes": "audit.checks.class_disparity:ClassDisparityCheck",
    },
    "shift": "audit.checks.shift:ShiftCheck",
    "robustness": "audit.checks.robustness:RobustnessCheck",
    "explain": "audit.checks.explain:ExplainCheck",
    "privacy": {
        "membership": "audit.checks.privacy:MembershipCheck",
        "anonymity": "audit.checks.anonymity:AnonymityCheck",
    },
    "integrity": {
        "data": "audit.checks.integrity:DataIntegrityCheck",
        "model": "audit.checks.integrity:ModelIntegrityCheck",
    },
    "slices": "audit.checks.slices:SlicesCheck",
}
