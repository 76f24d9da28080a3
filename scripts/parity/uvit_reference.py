"""PyTorch reference of the U-ViT backbone and the four fusion strategies, written from
SPEC.md sections 2-3 (U-ViT's uvit_t2i.py and the intermediate-fusion fork), plus two
further joint blocks: PixArt-alpha's cross-attention block (PixArt's MultiHeadCrossAttention,
without adaLN) and SD3's MMDiT joint block (diffusers' JointTransformerBlock /
JointAttnProcessor2_0, without adaLN and QK-norm).

Used only to generate parity fixtures for the Rust implementation; it is deliberately
written in the style of the released code (token order, slicing, module names), not in
the style of the Rust code, so that the two are independent.
"""
import math

import einops
import torch
import torch.nn as nn
import torch.nn.functional as F


def timestep_embedding(timesteps, dim, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(start=0, end=half, dtype=torch.float32) / half).to(
        device=timesteps.device)
    args = timesteps[:, None].float() * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


def unpatchify(x, channels):
    patch_size = int((x.shape[2] // channels) ** 0.5)
    h = w = int(x.shape[1] ** .5)
    assert h * w == x.shape[1] and patch_size ** 2 * channels == x.shape[2]
    return einops.rearrange(x, 'B (h w) (p1 p2 C) -> B C (h p1) (w p2)', h=h, p1=patch_size, p2=patch_size)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    def __init__(self, dim, num_heads, qkv_bias=False):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, L, C = x.shape
        qkv = einops.rearrange(self.qkv(x), 'B L (K H D) -> K B H L D', K=3, H=self.num_heads)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, L, C)
        return self.proj(x)


class CrossAttention(nn.Module):
    """Released 'cross-attention' form: q from the image(+time) tokens, k/v from
    [image+time ; text] in one softmax; only image tokens are returned."""

    def __init__(self, dim, num_heads, qkv_bias=False):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x_all, n_img):
        B, L, C = x_all.shape
        q = einops.rearrange(self.q(x_all[:, :n_img]), 'B L (H D) -> B H L D', H=self.num_heads)
        kv = einops.rearrange(self.kv(x_all), 'B L (K H D) -> K B H L D', K=2, H=self.num_heads)
        k, v = kv[0], kv[1]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, n_img, C)
        return self.proj(x)


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio=4., qkv_bias=False, skip=False, cross=False):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.cross = cross
        self.attn = CrossAttention(dim, num_heads, qkv_bias) if cross else Attention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.skip_linear = nn.Linear(2 * dim, dim) if skip else None

    def forward(self, x, skip=None, context=None):
        if self.skip_linear is not None:
            x = self.skip_linear(torch.cat([x, skip], dim=-1))
        if self.cross:
            n_img = x.shape[1]
            # One LayerNorm shared by queries and keys/values.
            x = x + self.attn(self.norm1(torch.cat([x, context], dim=1)), n_img)
        else:
            x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


class MultiHeadCrossAttention(nn.Module):
    """PixArt-alpha's cross-attention: queries from x, keys/values from the condition only."""

    def __init__(self, dim, num_heads, qkv_bias=False):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, cond):
        B, N, C = x.shape
        q = self.q(x).view(B, N, self.num_heads, self.head_dim).transpose(1, 2)
        k, v = self.kv(cond).view(B, -1, 2, self.num_heads, self.head_dim).unbind(2)
        x = F.scaled_dot_product_attention(q, k.transpose(1, 2), v.transpose(1, 2))
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class PixArtBlock(nn.Module):
    """Self-attention over image(+time) tokens, cross-attention (own LayerNorm on the
    queries, text tokens as keys/values), MLP. Text is returned unchanged."""

    def __init__(self, dim, num_heads, mlp_ratio=4., qkv_bias=False, skip=False, last=False):
        super().__init__()
        self.skip_linear = nn.Linear(2 * dim, dim) if skip else None
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.norm_cross = nn.LayerNorm(dim)
        self.cross_attn = MultiHeadCrossAttention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, text, skip=None):
        if self.skip_linear is not None:
            x = self.skip_linear(torch.cat([x, skip[0]], dim=-1))
        x = x + self.attn(self.norm1(x))
        x = x + self.cross_attn(self.norm_cross(x), text)
        x = x + self.mlp(self.norm2(x))
        return x, text


class JointAttention(nn.Module):
    """MMDiT: separate qkv/proj per stream, one softmax over [image ; text].
    context_pre_only (the last joint block): no text output."""

    def __init__(self, dim, num_heads, qkv_bias=False, context_pre_only=False):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.qkv_context = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_context = None if context_pre_only else nn.Linear(dim, dim)

    def forward(self, x, c):
        B, Nx, D = x.shape
        qkv = torch.cat([self.qkv(x), self.qkv_context(c)], dim=1)
        q, k, v = qkv.view(B, qkv.shape[1], 3, self.num_heads, D // self.num_heads).permute(2, 0, 3, 1, 4)
        o = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, -1, D)
        if self.proj_context is None:
            return self.proj(o[:, :Nx]), None
        return self.proj(o[:, :Nx]), self.proj_context(o[:, Nx:])


class MMDiTBlock(nn.Module):
    """Both streams keep their own LayerNorms, attention projections and MLPs; out-blocks of
    the U have one skip linear per stream. The last joint block of the U is SD3's
    context_pre_only block (no text output)."""

    def __init__(self, dim, num_heads, mlp_ratio=4., qkv_bias=False, skip=False, last=False):
        super().__init__()
        self.skip_linear = nn.Linear(2 * dim, dim) if skip else None
        self.skip_linear_context = nn.Linear(2 * dim, dim) if skip else None
        self.norm1 = nn.LayerNorm(dim)
        self.norm1_context = nn.LayerNorm(dim)
        self.attn = JointAttention(dim, num_heads, qkv_bias, context_pre_only=last)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.last = last
        if not last:
            self.norm2_context = nn.LayerNorm(dim)
            self.mlp_context = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, c, skip=None):
        if self.skip_linear is not None:
            x = self.skip_linear(torch.cat([x, skip[0]], dim=-1))
            c = self.skip_linear_context(torch.cat([c, skip[1]], dim=-1))
        ax, ac = self.attn(self.norm1(x), self.norm1_context(c))
        x = x + ax
        x = x + self.mlp(self.norm2(x))
        if self.last:
            return x, None
        c = c + ac
        c = c + self.mlp_context(self.norm2_context(c))
        return x, c


class PatchEmbed(nn.Module):
    def __init__(self, patch_size, in_chans, embed_dim):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


def _init_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=.02)
        if m.bias is not None:
            nn.init.constant_(m.bias, 0)
    elif isinstance(m, nn.LayerNorm):
        nn.init.constant_(m.bias, 0)
        nn.init.constant_(m.weight, 1.0)


class UViT(nn.Module):
    """U-ViT t2i (early concatenation): sequence [time, text, image]."""

    def __init__(self, img_size, in_chans, patch_size, embed_dim, depth, num_heads, mlp_ratio=4.,
                 qkv_bias=False, clip_dim=768, num_clip_token=77, conv=True):
        super().__init__()
        self.in_chans = in_chans
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        num_patches = (img_size // patch_size) ** 2
        self.context_embed = nn.Linear(clip_dim, embed_dim)
        self.extras = 1 + num_clip_token
        self.pos_embed = nn.Parameter(torch.zeros(1, self.extras + num_patches, embed_dim))
        self.in_blocks = nn.ModuleList([Block(embed_dim, num_heads, mlp_ratio, qkv_bias) for _ in range(depth // 2)])
        self.mid_block = Block(embed_dim, num_heads, mlp_ratio, qkv_bias)
        self.out_blocks = nn.ModuleList(
            [Block(embed_dim, num_heads, mlp_ratio, qkv_bias, skip=True) for _ in range(depth // 2)])
        self.norm = nn.LayerNorm(embed_dim)
        self.decoder_pred = nn.Linear(embed_dim, patch_size ** 2 * in_chans, bias=True)
        self.final_layer = nn.Conv2d(in_chans, in_chans, 3, padding=1) if conv else nn.Identity()
        nn.init.trunc_normal_(self.pos_embed, std=.02)
        self.apply(_init_weights)
        self.embed_dim = embed_dim

    def forward(self, x, timesteps, context):
        x = self.patch_embed(x)
        B, L, D = x.shape
        time_token = timestep_embedding(timesteps, self.embed_dim).unsqueeze(dim=1)
        context_token = self.context_embed(context)
        x = torch.cat((time_token, context_token, x), dim=1)
        x = x + self.pos_embed
        skips = []
        for blk in self.in_blocks:
            x = blk(x)
            skips.append(x)
        x = self.mid_block(x)
        for blk in self.out_blocks:
            x = blk(x, skips.pop())
        x = self.norm(x)
        x = self.decoder_pred(x)
        x = x[:, self.extras:, :]
        x = unpatchify(x, self.in_chans)
        return self.final_layer(x)


class FusionUViT(nn.Module):
    """Intermediate fusion (SPEC section 3). Token order [image, time, text]; pos_embed rows:
    image+time the first (num_patches + 1), text the last num_clip_token.
    c text-only blocks; v image-only blocks at each end; joint blocks in between, either
    concatenation (text updated) or cross-attention (text fixed). c = v = 0 with cross is
    the early cross-attention baseline."""

    def __init__(self, img_size, in_chans, patch_size, embed_dim, depth, num_heads, mlp_ratio=4.,
                 qkv_bias=False, clip_dim=768, num_clip_token=77, conv=True, c=3, v=3, cross=False):
        super().__init__()
        assert v <= depth // 2
        self.in_chans, self.embed_dim, self.cross = in_chans, embed_dim, cross
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        self.num_patches = (img_size // patch_size) ** 2
        self.num_clip_token = num_clip_token
        self.context_embed = nn.Linear(clip_dim, embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + num_clip_token + self.num_patches, embed_dim))
        n_joint = depth // 2 - v
        blk = lambda skip=False, cross=False: Block(embed_dim, num_heads, mlp_ratio, qkv_bias, skip=skip, cross=cross)
        self.text_blocks = nn.ModuleList([blk() for _ in range(c)])
        self.in_blocks = nn.ModuleList([blk() for _ in range(v)] + [blk(cross=cross) for _ in range(n_joint)])
        self.mid_block = blk(cross=cross)
        self.out_blocks = nn.ModuleList(
            [blk(skip=True, cross=cross) for _ in range(n_joint)] + [blk(skip=True) for _ in range(v)])
        self.v = v
        self.norm = nn.LayerNorm(embed_dim)
        self.decoder_pred = nn.Linear(embed_dim, patch_size ** 2 * in_chans, bias=True)
        self.final_layer = nn.Conv2d(in_chans, in_chans, 3, padding=1) if conv else nn.Identity()
        nn.init.trunc_normal_(self.pos_embed, std=.02)
        self.apply(_init_weights)

    def forward(self, x, timesteps, context):
        x = self.patch_embed(x)
        n_it = self.num_patches + 1
        time_token = timestep_embedding(timesteps, self.embed_dim).unsqueeze(dim=1)
        x = torch.cat((x, time_token), dim=1) + self.pos_embed[:, :n_it]
        text = self.context_embed(context) + self.pos_embed[:, n_it:]
        for b in self.text_blocks:
            text = b(text)
        skips = []
        v = self.v
        for i, b in enumerate(self.in_blocks):
            if i < v:
                x = b(x)
            elif self.cross:
                x = b(x, context=text)
            else:
                if i == v:
                    x = torch.cat((x, text), dim=1)
                x = b(x)
            skips.append(x)
        if self.cross:
            x = self.mid_block(x, context=text)
        else:
            if v == len(self.in_blocks):  # no joint in-block: text joins at the mid block
                x = torch.cat((x, text), dim=1)
            x = self.mid_block(x)
        n_joint = len(self.out_blocks) - v
        for i, b in enumerate(self.out_blocks):
            if i < n_joint:
                x = b(x, skips.pop(), context=text) if self.cross else b(x, skips.pop())
            else:
                if i == n_joint and not self.cross:
                    x = x[:, :n_it]  # drop text tokens
                x = b(x, skips.pop())
        if x.shape[1] != n_it:
            x = x[:, :n_it]
        x = self.norm(x)
        x = self.decoder_pred(x)
        x = x[:, :self.num_patches]
        x = unpatchify(x, self.in_chans)
        return self.final_layer(x)


class TwoStreamUViT(FusionUViT):
    """FusionUViT whose joint blocks take and return both streams (PixArt, MMDiT): skips
    carry (image, text) pairs."""

    def __init__(self, joint_block, img_size, in_chans, patch_size, embed_dim, depth, num_heads, mlp_ratio=4.,
                 qkv_bias=False, clip_dim=768, num_clip_token=77, conv=True, c=3, v=3):
        super().__init__(img_size, in_chans, patch_size, embed_dim, depth, num_heads, mlp_ratio, qkv_bias,
                         clip_dim, num_clip_token, conv, c=c, v=v, cross=False)
        n_joint = depth // 2 - v
        img = lambda skip=False: Block(embed_dim, num_heads, mlp_ratio, qkv_bias, skip=skip)
        joint = lambda skip=False, last=False: joint_block(embed_dim, num_heads, mlp_ratio, qkv_bias, skip=skip,
                                                           last=last)
        self.in_blocks = nn.ModuleList([img() for _ in range(v)] + [joint() for _ in range(n_joint)])
        self.mid_block = joint(last=n_joint == 0)
        self.out_blocks = nn.ModuleList([joint(True, last=i == n_joint - 1) for i in range(n_joint)] +
                                        [img(True) for _ in range(v)])
        self.apply(_init_weights)

    def forward(self, x, timesteps, context):
        x = self.patch_embed(x)
        n_it = self.num_patches + 1
        time_token = timestep_embedding(timesteps, self.embed_dim).unsqueeze(dim=1)
        x = torch.cat((x, time_token), dim=1) + self.pos_embed[:, :n_it]
        text = self.context_embed(context) + self.pos_embed[:, n_it:]
        for b in self.text_blocks:
            text = b(text)
        skips, v = [], self.v
        for i, b in enumerate(self.in_blocks):
            if i < v:
                x = b(x)
            else:
                x, text = b(x, text)
            skips.append((x, text))
        x, text = self.mid_block(x, text)
        n_joint = len(self.out_blocks) - v
        for i, b in enumerate(self.out_blocks):
            skip = skips.pop()
            if i < n_joint:
                x, text = b(x, text, skip)
            else:
                x = b(x, skip[0])
        x = self.decoder_pred(self.norm(x))
        x = unpatchify(x[:, :self.num_patches], self.in_chans)
        return self.final_layer(x)


def build(strategy, c=3, v=3, **size):
    for prefix, cv in (('early-', dict(c=0, v=0)), ('intermediate-', dict(c=c, v=v))):
        if strategy == prefix + 'pixart-crossattn':
            return TwoStreamUViT(PixArtBlock, **size, **cv)
        if strategy == prefix + 'mmdit-joint':
            return TwoStreamUViT(MMDiTBlock, **size, **cv)
    if strategy == 'early-concat':
        return UViT(**size)
    if strategy == 'early-crossattn':
        return FusionUViT(**size, c=0, v=0, cross=True)
    if strategy == 'intermediate-concat':
        return FusionUViT(**size, c=c, v=v, cross=False)
    if strategy == 'intermediate-crossattn':
        return FusionUViT(**size, c=c, v=v, cross=True)
    raise ValueError(strategy)
