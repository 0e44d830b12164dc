"""Privacy attacks and measures: membership inference (loss threshold, shadow models, offline
LiRA), attribute inference (:mod:`.membership`, :mod:`.shadow`, :mod:`.attribute`; run by
:mod:`audit.checks.privacy`) and re-identification risk of a table from its quasi-identifiers
(k-anonymity, l-diversity: :mod:`.anonymity`; run by :mod:`audit.checks.anonymity`). Pure numpy /
pandas / scikit-learn helpers."""
