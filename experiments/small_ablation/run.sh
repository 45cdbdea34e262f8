#!/usr/bin/env bash
# The paper's ablation at small scale (docs/results.md): SN-GAN (cbn), SA (after the block,
# SA-GAN's placement), AN n=16 in the block (the paper's placement), AN n=16 after the
# block and AN n=16 in the block without SSR, on the demo digits, 600 generator steps
# each; AN runs log their layout entropy (LayoutEntropy, every 10 steps). Then FID and KID
# of the EMA generator with the offline Inception network: 500 samples against all 1,617
# training digits. an16_torchinit (PyTorch's default init of AN's entity filters,
# docs/method.md section 4) runs when named.
# The runs keep the demo's earlier recipe (600 steps at batch 64, learning rates 1e-3, EMA
# 0.99 from step 50), which docs/results.md's numbers were measured with.
# Usage: experiments/small_ablation/run.sh SEED [VARIANT ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
seed=$1; shift
variants=("${@:-sngan sa an16 an16_after an16_nossr}")
export MALLOC_MMAP_THRESHOLD_=68719476736 MALLOC_TRIM_THRESHOLD_=68719476736
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OMP_WAIT_POLICY=PASSIVE
for v in ${variants[@]}; do
  run=runs/small_ablation/$v-s$seed
  callbacks=null
  case $v in an*) callbacks='[{class_path: an_lightning.callbacks.LayoutEntropy, init_args: {every: 10}}]';; esac
  python -m an_lightning.fit experiments/demo.yaml --config experiments/small_ablation/$v.yaml \
    --seed_everything "$seed" --model.init_args.seed "$seed" \
    --data.init_args.batch_size 64 --model.init_args.max_g_steps 600 \
    --model.init_args.g_lr 1.0e-3 --model.init_args.d_lr 1.0e-3 \
    --model.init_args.ema_decay 0.99 --model.init_args.ema_start 50 \
    --model.init_args.sample_every 100 \
    --run_dir "$run" \
    --trainer.callbacks="$callbacks" --trainer.enable_progress_bar=false
  python -m an_lightning.evaluate "$run" --metrics fid,kid --num-samples 500 \
    --kid-subset-size 500 --batch-size 100 --num-workers 0 --device cpu --generator ema
done
