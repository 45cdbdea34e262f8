#!/usr/bin/env bash
# The paper's ablation at small scale (docs/results.md): SN-GAN (cbn), SA, AN n=16 (in the
# block, the paper's placement), AN n=16 after the block and AN n=16 without SSR on the
# demo digits, 600 generator steps each, then FID and KID of
# the EMA generator with the offline Inception network (1000 samples vs all 1617
# training digits). Usage: experiments/small_ablation/run.sh SEED [VARIANT ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
seed=$1; shift
variants=("${@:-sngan sa an16 an16_after an16_nossr}")
export MALLOC_MMAP_THRESHOLD_=68719476736 MALLOC_TRIM_THRESHOLD_=68719476736
for v in ${variants[@]}; do
  run=runs/small_ablation/$v-s$seed
  python -m an_lightning.fit experiments/demo.yaml --config experiments/small_ablation/$v.yaml \
    --seed_everything "$seed" --model.init_args.seed "$seed" \
    --run_dir "$run" \
    --trainer.callbacks=null --trainer.enable_progress_bar=false
  python -m an_lightning.evaluate "$run" --metrics fid,kid --num-samples 1000 \
    --kid-subset-size 1000 --batch-size 100 --num-workers 0 --device cpu
done
