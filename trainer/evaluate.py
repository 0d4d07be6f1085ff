"""A checkpoint as an eval policy: a trained job's output folder (or any local model
folder) answers the snapshot's prompts with transformers, on this machine.

The evaluation itself (judging, storing, comparing) is models/training/evaluation.py;
this module only generates, which needs torch. Greedy decoding by default, so two
evaluations of one checkpoint give the same completions; `temperature` > 0 samples
(seeded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rubricforge.models.training.evaluation import Chat, EvalError
from tqdm import tqdm


@dataclass(frozen=True)
class CheckpointPolicy:
    folder: Path
    max_new_tokens: int = 1024
    temperature: float = 0.0
    batch_size: int = 8
    seed: int = 0

    @property
    def kind(self) -> str:
        return "checkpoint"

    @property
    def source(self) -> str:
        return str(self.folder)

    @classmethod
    def at(cls, folder: str | Path, **settings: object) -> CheckpointPolicy:
        """The policy in `folder`; EvalError when no model is there."""
        path = Path(folder).expanduser().resolve()
        if not (path / "config.json").is_file():
            raise EvalError(
                f"no model checkpoint at {path}: a checkpoint folder holds config.json and the "
                "weights (a finished job's output folder, or one of its checkpoint-N folders). "
                "Nothing was evaluated."
            )
        return cls(path, **settings)  # type: ignore[arg-type]

    def generate(self, chats: Sequence[Chat], *, progress: bool = False) -> list[str]:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(self.folder, trust_remote_code=False)
            model = AutoModelForCausalLM.from_pretrained(self.folder, trust_remote_code=False)
        except (OSError, ValueError) as exc:
            raise EvalError(f"cannot load the checkpoint at {self.folder}: {exc}") from None
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        # transformers types PreTrainedModel.to as taking a model; it takes a device.
        model = model.to(device)  # type: ignore[arg-type]
        model.eval()
        tokenizer.padding_side = "left"  # a decoder-only model continues from the right
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        torch.manual_seed(self.seed)
        sample = self.temperature > 0
        out: list[str] = []
        bar = tqdm(total=len(chats), desc="generating", unit="prompt", disable=not progress)
        for start in range(0, len(chats), self.batch_size):
            batch = chats[start : start + self.batch_size]
            texts = [
                tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                for c in batch
            ]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            enc = enc.to(device)
            with torch.no_grad():
                generated = model.generate(
                    **enc,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=sample,
                    temperature=self.temperature if sample else None,
                    top_p=None,
                    top_k=None,
                    pad_token_id=tokenizer.pad_token_id,
                )
            new = generated[:, enc["input_ids"].shape[1] :]
            out.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
            bar.update(len(batch))
        bar.close()
        return out
