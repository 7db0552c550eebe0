#!/usr/bin/env python3
"""Writes a tiny Llama model with random weights in Hugging Face layout (a directory).

Like make-tiny-gguf.py, the model is nonsense on purpose: it lets a real vLLM or
mlx_lm.server load it in seconds on a CPU and serve completions and chats. Its
tokenizer is a 512-entry byte-level BPE trained here on a few fixed sentences,
with a ChatML-style chat template, so nothing is downloaded.

Usage: make-tiny-llama.py OUT_DIR [--layers 2] [--hidden 128] [--seed 0]
Needs: numpy, safetensors, tokenizers, transformers (the vLLM and MLX venvs have them).
The directory is written beside OUT_DIR and renamed into place, so a reader never
sees half a model.
"""
import argparse
import json
import os
import shutil
import tempfile

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

SPECIAL = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world! A tiny model serves the exporter's tests.",
    "user assistant system: what is the capital of France? Paris.",
    "0 1 2 3 4 5 6 7 8 9 , . ! ? ; : ' \" ( ) [ ] { } < > / - _ + = * & % $ # @",
]


def tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(SENTENCES * 50, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="</s>",
        chat_template=CHAT_TEMPLATE,
    )


def weights(a, vocab: int) -> dict:
    rng = np.random.default_rng(a.seed)
    h, ff, hd = a.hidden, a.hidden * 2, a.head_dim

    def w(*shape):
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    t = {
        "model.embed_tokens.weight": w(vocab, h),
        "model.norm.weight": np.ones(h, np.float32),
        "lm_head.weight": w(vocab, h),
    }
    for i in range(a.layers):
        p = f"model.layers.{i}."
        t[p + "self_attn.q_proj.weight"] = w(a.heads * hd, h)
        t[p + "self_attn.k_proj.weight"] = w(a.kv_heads * hd, h)
        t[p + "self_attn.v_proj.weight"] = w(a.kv_heads * hd, h)
        t[p + "self_attn.o_proj.weight"] = w(h, a.heads * hd)
        t[p + "mlp.gate_proj.weight"] = w(ff, h)
        t[p + "mlp.up_proj.weight"] = w(ff, h)
        t[p + "mlp.down_proj.weight"] = w(h, ff)
        t[p + "input_layernorm.weight"] = np.ones(h, np.float32)
        t[p + "post_attention_layernorm.weight"] = np.ones(h, np.float32)
    return t


def config(a, tok: PreTrainedTokenizerFast) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": a.hidden,
        "intermediate_size": a.hidden * 2,
        "num_hidden_layers": a.layers,
        "num_attention_heads": a.heads,
        "num_key_value_heads": a.kv_heads,
        "head_dim": a.head_dim,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "max_position_embeddings": 2048,
        "vocab_size": len(tok),
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--kv-heads", type=int, default=1)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    out = os.path.abspath(a.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tiny-llama-", dir=os.path.dirname(out))
    try:
        tok = tokenizer()
        tok.save_pretrained(tmp)
        # Servers that read the template only from tokenizer_config.json find it there too.
        tc_path = os.path.join(tmp, "tokenizer_config.json")
        with open(tc_path) as f:
            tc = json.load(f)
        tc.setdefault("chat_template", CHAT_TEMPLATE)
        with open(tc_path, "w") as f:
            json.dump(tc, f, indent=2)
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(config(a, tok), f, indent=2)
        save_file(weights(a, len(tok)), os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
        shutil.rmtree(out, ignore_errors=True)
        os.rename(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(out)


if __name__ == "__main__":
    main()
