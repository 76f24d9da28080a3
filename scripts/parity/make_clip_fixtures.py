"""Generates the CLIP parity fixtures under crates/encoders/tests/fixtures/.

    /opt/py/bin/python scripts/parity/make_clip_fixtures.py

A tiny transformers `CLIPModel` in the ViT-L/14 shape family (TINY below: quick GELU, MLP 4x
wide, patch 14, 77 text positions, legacy eos_token_id 2 = argmax pooling; widths, depths, the
vocabulary (512) and the image size (56 = 4 x 4 patches) shrunk). Random weights of the real
layout: every matrix N(0, 1/fan_in), embeddings N(0, 0.5^2), LayerNorm weights 1 + 0.2 N(0, 1),
biases 0.1 N(0, 1). Stored in float16; the reference runs in float32 on the rounded values.

Writes:
  clip_tiny/config.json, clip_tiny/model.safetensors   save_pretrained layout, F16 weights
  clip_tiny.io.safetensors
    input_ids [3, 77] (f32 values of the ids): start 510, ids, end 511, padding 511 (row 2 pads
      with 0 as open_clip does)
    text_last_hidden_state [3, 77, 32], text_pooled [3, 32], text_embeds [3, 24] (unnormalised)
    pixel_values [2, 3, 56, 56], vision_last_hidden_state [2, 17, 48], vision_pooled [2, 48],
      image_embeds [2, 24]
    image{i} [H, W, 3] (U8) and processed{i} [3, 56, 56]: CLIPImageProcessorPil
      (bicubic shortest side 56, centre crop 56, CLIP mean/std) of four images
    score_ids [2, 77], score_cos [2], score_hessel [], score_cos100 []: images 0 and 1 against
      two captions prefixed "A photo depicts ", tokenized by the byte tokenizer below
  clip_text_gelu/{config.json, model.safetensors}, clip_text_gelu.io.safetensors
                           a text-only variant (text_model.* and text_projection only) with
                           hidden_act "gelu" and a non-legacy eos_token_id 300, so transformers
                           pools at the first 300 rather than at the largest id: input_ids,
                           last_hidden_state, pooled, text_embeds
  clip_param_counts.json   parameter counts of CLIPModel built from the published
                           openai/clip-vit-large-patch14 config (clip_vit_l14/config.json)
"""
import json
import os

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPModel
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'crates', 'encoders', 'tests', 'fixtures')
VOCAB = 512
START, END = VOCAB - 2, VOCAB - 1
TINY_TEXT = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, max_position_embeddings=77, hidden_act='quick_gelu',
                 layer_norm_eps=1e-5, eos_token_id=2, bos_token_id=0, pad_token_id=1)
TINY_VISION = dict(hidden_size=48, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4,
                   image_size=56, patch_size=14, num_channels=3, hidden_act='quick_gelu',
                   layer_norm_eps=1e-5)
PROJ = 24
PREFIX = 'A photo depicts '
CAPTIONS = ['a red circle left of a blue square', 'two dogs on the grass']


def byte_ids(text):
    """The test tokenizer (mirrored in Rust): start, UTF-8 bytes, end, end-padding to 77."""
    ids = [START] + list(text.encode('utf-8'))[:75] + [END]
    return ids + [END] * (77 - len(ids))


def randomise(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == 'logit_scale':
                continue
            if p.dim() == 1 and ('norm' in name or 'layrnorm' in name) and name.endswith('weight'):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif name.endswith('class_embedding'):
                p.copy_(torch.randn_like(p))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn_like(p))
            elif 'embedding' in name and 'patch' not in name:
                p.copy_(0.5 * torch.randn_like(p))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn_like(p) / fan_in ** 0.5)
            p.copy_(p.half().float())


def images():
    rng = np.random.default_rng(3)
    out = []
    for (w, h) in [(75, 90), (120, 64), (56, 56), (40, 31)]:
        # Smooth gradients plus noise: resampling errors would show.
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h)], -1)
        img = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)
        out.append(img)
    return out


def main():
    os.makedirs(os.path.join(OUT, 'clip_tiny'), exist_ok=True)
    torch.manual_seed(0)
    config = CLIPConfig(text_config=TINY_TEXT, vision_config=TINY_VISION, projection_dim=PROJ)
    model = CLIPModel(config).eval()
    randomise(model)
    model.save_pretrained(os.path.join(OUT, 'clip_tiny'), safe_serialization=True)
    sd = {k: v.half().contiguous() for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(OUT, 'clip_tiny', 'model.safetensors'), metadata={'format': 'pt'})

    g = torch.Generator().manual_seed(1)
    ids = torch.full((3, 77), END, dtype=torch.long)
    for row, n in enumerate([5, 12, 1]):
        ids[row, 0] = START
        ids[row, 1:1 + n] = torch.randint(1, VOCAB - 2, (n,), generator=g)
        ids[row, 1 + n] = END
    ids[2, 3:] = 0  # open_clip zero padding after the end token
    pixels = torch.randn(2, 3, 56, 56, generator=g)
    io = {}
    with torch.no_grad():
        t = model.text_model(input_ids=ids)
        v = model.vision_model(pixel_values=pixels)
        io['input_ids'] = ids.float()
        io['text_last_hidden_state'] = t.last_hidden_state
        io['text_pooled'] = t.pooler_output
        io['text_embeds'] = model.text_projection(t.pooler_output)
        io['pixel_values'] = pixels
        io['vision_last_hidden_state'] = v.last_hidden_state
        io['vision_pooled'] = v.pooler_output
        io['image_embeds'] = model.visual_projection(v.pooler_output)

        proc = CLIPImageProcessorPil(size={'shortest_edge': 56}, crop_size={'height': 56, 'width': 56})
        imgs = images()
        processed = []
        for i, img in enumerate(imgs):
            pv = proc(images=Image.fromarray(img), return_tensors='pt')['pixel_values'][0]
            io[f'image{i}'] = torch.from_numpy(img)
            io[f'processed{i}'] = pv
            processed.append(pv)

        score_ids = torch.tensor([byte_ids(PREFIX + c) for c in CAPTIONS])
        out = model(input_ids=score_ids, pixel_values=torch.stack(processed[:2]))
        cos = (out.text_embeds * out.image_embeds).sum(-1).double()
        io['score_ids'] = score_ids.float()
        io['score_cos'] = cos.float()
        io['score_hessel'] = (2.5 * cos.clamp(min=0)).mean().float().reshape(1)
        io['score_cos100'] = (100 * cos.clamp(min=0)).mean().float().reshape(1)
    save_file({k: v.contiguous() for k, v in io.items()}, os.path.join(OUT, 'clip_tiny.io.safetensors'))

    # Variant: exact GELU and first-occurrence pooling (eos_token_id 300, not the largest id).
    torch.manual_seed(2)
    gelu_text = dict(TINY_TEXT, hidden_act='gelu', eos_token_id=300)
    variant = CLIPModel(CLIPConfig(text_config=gelu_text, vision_config=TINY_VISION, projection_dim=PROJ)).eval()
    randomise(variant)
    vdir = os.path.join(OUT, 'clip_text_gelu')
    os.makedirs(vdir, exist_ok=True)
    variant.config.to_json_file(os.path.join(vdir, 'config.json'))
    vsd = {k: v.half().contiguous() for k, v in variant.state_dict().items() if k.startswith('text')}
    save_file(vsd, os.path.join(vdir, 'model.safetensors'), metadata={'format': 'pt'})
    vids = torch.full((2, 77), END, dtype=torch.long)
    vids[0, :6] = torch.tensor([START, 400, 300, 450, 12, END])  # first 300 at 2; argmax would be 0
    vids[1, :4] = torch.tensor([START, 7, 8, END])  # no 300: transformers pools at 0
    with torch.no_grad():
        vt = variant.text_model(input_ids=vids)
        vio = {'input_ids': vids.float(), 'last_hidden_state': vt.last_hidden_state,
               'pooled': vt.pooler_output, 'text_embeds': variant.text_projection(vt.pooler_output)}
        assert torch.equal(vt.pooler_output[0], vt.last_hidden_state[0, 2])
        assert torch.equal(vt.pooler_output[1], vt.last_hidden_state[1, 0])
    save_file({k: v.contiguous() for k, v in vio.items()}, os.path.join(OUT, 'clip_text_gelu.io.safetensors'))

    # The published ViT-L/14 config: what the counts cover.
    big = CLIPConfig.from_json_file(os.path.join(OUT, 'clip_vit_l14', 'config.json'))
    with torch.device('meta'):
        m = CLIPModel(big)
    n = lambda mod: sum(p.numel() for p in mod.parameters())  # noqa: E731
    counts = {
        'text_model': n(m.text_model),
        'text_model+text_projection': n(m.text_model) + n(m.text_projection),
        'vision_model': n(m.vision_model),
        'vision_model+visual_projection': n(m.vision_model) + n(m.visual_projection),
        'clip_model_total': n(m),
        'tiny_text_model+text_projection': n(model.text_model) + n(model.text_projection),
        'tiny_vision_model+visual_projection': n(model.vision_model) + n(model.visual_projection),
    }
    with open(os.path.join(OUT, 'clip_param_counts.json'), 'w') as f:
        json.dump(counts, f, indent=1)
    print(counts)
    print('cos', cos.tolist())


if __name__ == '__main__':
    main()
