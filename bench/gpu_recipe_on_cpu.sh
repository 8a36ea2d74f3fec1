#!/usr/bin/env bash
# The README's GPU recipe ("Scaling") run on this CPU with a tiny random Llama-style folder in place of
# SmolLM2-1.7B / an 8B model, two processes in place of 8 GPUs, a few steps: every command as written
# there, so that the recipe is known to run end to end. About a minute on 2 cores (a minute more when the
# quick dataset is not built yet).
#   bash bench/gpu_recipe_on_cpu.sh [OUT]        (default OUT: runs/recipe_check; its log: OUT/recipe.log)
set -euo pipefail
OUT=${1:-runs/recipe_check}
PY=${PYTHON:-.venv/bin/python}
rm -rf "$OUT/run" "$OUT/decoder.pt" "$OUT/decoder.training.pt" "$OUT/chatpose" "$OUT/answers"  # every stage runs afresh
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1
exec > >(tee "$OUT/recipe.log") 2>&1
"$PY" - "$OUT/tiny-llama" <<'PY'
import sys
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
from posekit.encoders.llm import smollm2_dir

tokenizer = AutoTokenizer.from_pretrained(smollm2_dir())
torch.manual_seed(0)
config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                     num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True, max_position_embeddings=1024)
LlamaForCausalLM(config).save_pretrained(sys.argv[1])
tokenizer.save_pretrained(sys.argv[1])
print(f"tiny Llama-style backbone (4 layers, 64 wide) in {sys.argv[1]}")
PY
LLM="$OUT/tiny-llama"
run() { echo "+ $*"; /usr/bin/time -f "  (%e s, %M KB peak per process)" "$@"; }
run "$PY" -m posekit build-data --quick --quiet
# 1. the language stage (LoRA) on the new backbone
run "$PY" -m torch.distributed.run --nproc_per_node 2 -m posekit train --llm "$LLM" --mixed-precision bf16 \
    --config data/checkpoints/chatpose/train_config.json --dataset quick --steps 4 --batch-size 2 \
    --out "$OUT/run" --no-resume --quiet
# 2. the request states and the decoder at a fraction of the depth, attached to the language parts of 1
run "$PY" -m torch.distributed.run --nproc_per_node 2 -m posekit train-decoder --dataset quick --llm "$LLM" --layer 0.27 \
    --epochs 2 --out "$OUT/decoder.pt" --chatpose-from "$OUT/run/model" --chatpose-out "$OUT/chatpose" --force --quiet
# 3. talk to it
run "$PY" -m posekit chat --checkpoint "$OUT/chatpose" --prompt "Raise both arms above your head." --out "$OUT/answers"
echo "recipe ran: $OUT"
