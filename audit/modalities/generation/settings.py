"""Generation settings a suite gives a check that generates text (robustness, fairness, latency).

Greedy decoding by default; ``do_sample: true`` samples at ``temperature`` (and ``top_k`` /
``top_p`` when set) from a torch generator seeded by ``seed`` and the check, so a run's
continuations are the same each time.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class GenerationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(16, ge=1, le=1024, description="Tokens generated after each prompt.")
    do_sample: bool = Field(False, description="false: greedy decoding; true: sample.")
    temperature: float = Field(1.0, gt=0, le=10, description="Sampling temperature (do_sample only).")
    top_k: int | None = Field(None, ge=1, le=100_000, description="Sample among the k most likely tokens (do_sample only).")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling mass (do_sample only).")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of the sampling generator.")
    batch_size: int = Field(16, ge=1, le=1024)

    @model_validator(mode="after")
    def _sampling_only(self) -> GenerationSettings:
        given = sorted(k for k in ("temperature", "top_k", "top_p") if k in self.model_fields_set)
        if given and not self.do_sample:
            raise ValueError(f"'{given[0]}' applies to sampling; set do_sample: true or remove it")
        return self


def generate(lm: object, prompts: list[str], settings: GenerationSettings, *, seed_offset: int = 0) -> list[str]:
    """The continuations (prompt excluded) of ``prompts`` under ``settings``."""
    import torch

    tokenizer, module = lm.tokenizer, lm.torch_module  # type: ignore[attr-defined]
    room = int(lm.max_length) - settings.max_new_tokens  # type: ignore[attr-defined]
    if room < 2:
        raise ValueError(f"max_new_tokens ({settings.max_new_tokens}) leaves no room for a prompt in the model's context of {lm.max_length} tokens")  # type: ignore[attr-defined]
    tokenizer.padding_side, tokenizer.truncation_side = "left", "left"  # long prompts keep their end
    out: list[str] = []
    extra = {"temperature": settings.temperature, "top_k": settings.top_k, "top_p": settings.top_p} if settings.do_sample else {"temperature": None, "top_k": None, "top_p": None}
    with torch.inference_mode(), torch.random.fork_rng():
        torch.manual_seed(settings.seed + seed_offset)
        for start in range(0, len(prompts), settings.batch_size):
            chunk = [tokenizer.eos_token + p for p in prompts[start : start + settings.batch_size]]  # documents open with end-of-text
            enc = tokenizer(chunk, return_tensors="pt", padding=True, truncation=True, max_length=room, add_special_tokens=False)
            ids = module.generate(
                input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], max_new_tokens=settings.max_new_tokens, do_sample=settings.do_sample,
                pad_token_id=tokenizer.pad_token_id, **extra,
            )  # fmt: skip
            out += tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    tokenizer.padding_side, tokenizer.truncation_side = "right", "right"
    return out
