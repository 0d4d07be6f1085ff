"""A tiny Qwen2-style model and a locally trained BPE tokenizer, for tests and demos.

Nothing is downloaded: the tokenizer is trained with `tokenizers` on a few lines of
text, the model is built from a config with random weights. The real GRPO code
path (generation, chat template, reward, optimizer step) runs on it in seconds on
a CPU; on a GPU, `hidden_size`/`layers` make a larger one for timing runs.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

# ChatML, as Qwen2 writes it; `generation` marks what GRPO's completion masks rely on.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

_CORPUS = [
    "The patient presents with fever, cough and shortness of breath.",
    "Vernal keratoconjunctivitis recurs in hot weather and affects young boys.",
    "Essential Criteria: Identifies the correct answer and explains the reasoning.",
    "Pitfall Criteria: Recommends an unsafe dose or omits a contraindication.",
    "A rubric lists criteria with weights; the judge checks each one.",
    "Answer: the correct option is D because of the giant papillae.",
    "user assistant system question reference answer rubric criterion",
]


def build_tokenizer(vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on a few lines, with Qwen's special tokens."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


# Qwen2.5-0.5B's shape (its config.json): ~494M parameters, for GPU timing runs.
QWEN25_05B = {
    "hidden_size": 896,
    "intermediate_size": 4864,
    "layers": 24,
    "heads": 14,
    "kv_heads": 2,
    "vocab_size": 151936,
    "max_position_embeddings": 32768,
}


def build_tiny_model(
    folder: str | Path,
    *,
    hidden_size: int = 32,
    layers: int = 2,
    heads: int = 4,
    seed: int = 0,
    intermediate_size: int | None = None,
    kv_heads: int | None = None,
    vocab_size: int | None = None,
    max_position_embeddings: int = 2048,
    dtype: str = "float32",
) -> Path:
    """Write a random Qwen2 model and its tokenizer into `folder`; return the folder.

    Tiny by default; `QWEN25_05B` gives Qwen2.5-0.5B's shape (`build_tiny_model(f,
    **QWEN25_05B, dtype="bfloat16")`). A `vocab_size` above the tokenizer's gives the
    embedding its real size; ids past the tokenizer's vocabulary decode to nothing.
    """
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    config = Qwen2Config(
        vocab_size=max(vocab_size or 0, len(tokenizer)),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads or heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).to(getattr(torch, dtype))
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
