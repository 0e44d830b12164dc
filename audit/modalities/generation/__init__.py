"""Generation (causal language models): a corpus of documents, a model that continues text.

Performance is perplexity / bits per byte / next-token accuracy; shift compares out-of-domain
with in-domain perplexity and perturbs the text; latency is time to first token and tokens per
second with the KV cache; fairness compares identity-swapped sentences by log-likelihood and the
sentiment of continuations by group; robustness measures how continuations change under prompt
perturbations; explain attributes a continuation to prompt tokens (captum's LLM attribution);
privacy is memorisation (canary exposure, verbatim extraction). The classification-only
implementations of performance and latency are replaced for this modality by its own
(``audit.registry.CheckRegistry.variants``).
"""

IMPLEMENTATIONS = {
    "performance": "audit.modalities.generation.performance:GenerationPerformanceCheck",
    "shift": "audit.modalities.generation.shift:GenerationShiftCheck",
    "latency": "audit.modalities.generation.latency:GenerationLatencyCheck",
    "fairness": "audit.modalities.generation.fairness:GenerationBiasCheck",
    "robustness": "audit.modalities.generation.robustness:GenerationRobustnessCheck",
    "explain": "audit.modalities.generation.explain:GenerationExplainCheck",
    "privacy": {
        "memorisation": "audit.modalities.generation.privacy:MemorisationCheck",
    },
    "integrity": {
        "data": "audit.checks.integrity:DataIntegrityCheck",
        "model": "audit.checks.integrity:ModelIntegrityCheck",
    },
}
