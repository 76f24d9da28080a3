//! The building blocks of the TF-faithful Inception-v3 (pytorch-fid's `FIDInceptionA/C/E`,
//! NVIDIA's `inception-2015-12-05` port), named as in fid-helper's TorchScript.
//!
//! Every convolution is `conv (no bias) -> batch_norm(eps 1e-3, no gamma) -> relu`; the
//! batch norm is folded into the convolution at load time (exact up to f32 rounding).
//! TF-faithful details kept: the branch pools of A, C and the first E average without the
//! zero padding (`count_include_pad = False`); the second E block max-pools its branch.

use burn::module::{Module, Param};
use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};

use super::error::InceptionError;
use super::weights::RawWeights;

const BN_EPS: f64 = 1e-3;

/// `conv -> BN -> relu`, BN folded: `relu(conv(x, w * s) + (beta - mean * s))`,
/// `s = 1 / sqrt(var + 1e-3)`.
#[derive(Module, Debug)]
pub struct ConvBn {
    weight: Param<Tensor<4>>, // [out, in, kh, kw]
    bias: Param<Tensor<1>>,   // [out]
    stride: usize,
    pad_h: usize,
    pad_w: usize,
}

impl ConvBn {
    /// Loads `<name>.{weight,beta,mean,var,stride,padding}` with `[out, in, kh, kw]` checked.
    pub fn load(
        w: &RawWeights,
        name: &str,
        shape: [usize; 4],
        device: &Device,
    ) -> Result<Self, InceptionError> {
        let [o, i, kh, kw] = shape;
        let weight = w.tensor(
            &format!("{name}.weight"),
            &[Some(o), Some(i), Some(kh), Some(kw)],
        )?;
        let beta = w.tensor(&format!("{name}.beta"), &[Some(o)])?;
        let mean = w.tensor(&format!("{name}.mean"), &[Some(o)])?;
        let var = w.tensor(&format!("{name}.var"), &[Some(o)])?;
        let stride = w.ints(&format!("{name}.stride"))?;
        let padding = w.ints(&format!("{name}.padding"))?;
        let (pad_h, pad_w) = match padding {
            [p] => (*p as usize, *p as usize),
            [ph, pw] => (*ph as usize, *pw as usize),
            other => {
                return Err(InceptionError::Shape {
                    path: w.path.clone(),
                    name: format!("{name}.padding"),
                    expected: "1 or 2 ints".into(),
                    found: format!("{other:?}"),
                });
            }
        };
        let per = i * kh * kw;
        let mut wf = Vec::with_capacity(weight.data.len());
        let mut bf = Vec::with_capacity(o);
        for c in 0..o {
            let s = 1.0 / (var.data[c] as f64 + BN_EPS).sqrt();
            wf.extend(
                weight.data[c * per..(c + 1) * per]
                    .iter()
                    .map(|v| (*v as f64 * s) as f32),
            );
            bf.push((beta.data[c] as f64 - mean.data[c] as f64 * s) as f32);
        }
        Ok(Self {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(wf, [o, i, kh, kw]),
                device,
            )),
            bias: Param::from_tensor(Tensor::from_data(TensorData::new(bf, [o]), device)),
            stride: stride.first().copied().unwrap_or(1) as usize,
            pad_h,
            pad_w,
        })
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let opts = ConvOptions::new([self.stride; 2], [self.pad_h, self.pad_w], [1, 1], 1);
        burn::tensor::activation::relu(conv2d(x, self.weight.val(), Some(self.bias.val()), opts))
    }
}

/// Runs a chain of convolutions.
fn chain(convs: &[ConvBn], x: Tensor<4>) -> Tensor<4> {
    convs.iter().fold(x, |x, c| c.forward(x))
}

/// Loads `<name>.conv`, `<name>.conv_1`, ... with the given shapes.
fn load_chain(
    w: &RawWeights,
    name: &str,
    shapes: &[[usize; 4]],
    device: &Device,
) -> Result<Vec<ConvBn>, InceptionError> {
    shapes
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let n = if k == 0 {
                format!("{name}.conv")
            } else {
                format!("{name}.conv_{k}")
            };
            ConvBn::load(w, &n, *s, device)
        })
        .collect()
}

/// 3x3 stride-1 average pool over the valid pixels only (TF `SAME` average pooling).
fn branch_avg_pool(x: Tensor<4>) -> Tensor<4> {
    avg_pool2d(
        x,
        AvgPoolOptions::new([3, 3])
            .with_stride([1, 1])
            .with_padding([1, 1])
            .with_count_include_pad(false),
    )
}

/// 3x3 stride-2 max pool, no padding.
pub fn reduce_max_pool(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(x, MaxPoolOptions::new([3, 3]).with_stride([2, 2]))
}

/// 35x35 block: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1.
#[derive(Module, Debug)]
pub struct InceptionA {
    conv: ConvBn,
    tower: Vec<ConvBn>,
    tower_1: Vec<ConvBn>,
    tower_2: Vec<ConvBn>,
}

impl InceptionA {
    pub fn load(
        w: &RawWeights,
        name: &str,
        cin: usize,
        pool: usize,
        device: &Device,
    ) -> Result<Self, InceptionError> {
        Ok(Self {
            conv: ConvBn::load(w, &format!("{name}.conv"), [64, cin, 1, 1], device)?,
            tower: load_chain(
                w,
                &format!("{name}.tower"),
                &[[48, cin, 1, 1], [64, 48, 5, 5]],
                device,
            )?,
            tower_1: load_chain(
                w,
                &format!("{name}.tower_1"),
                &[[64, cin, 1, 1], [96, 64, 3, 3], [96, 96, 3, 3]],
                device,
            )?,
            tower_2: load_chain(w, &format!("{name}.tower_2"), &[[pool, cin, 1, 1]], device)?,
        })
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let a = self.conv.forward(x.clone());
        let b = chain(&self.tower, x.clone());
        let c = chain(&self.tower_1, x.clone());
        let d = chain(&self.tower_2, branch_avg_pool(x));
        Tensor::cat(vec![a, b, c, d], 1)
    }
}

/// 35 -> 17 reduction: 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2.
#[derive(Module, Debug)]
pub struct InceptionB {
    conv: ConvBn,
    tower: Vec<ConvBn>,
}

impl InceptionB {
    pub fn load(w: &RawWeights, name: &str, device: &Device) -> Result<Self, InceptionError> {
        Ok(Self {
            conv: ConvBn::load(w, &format!("{name}.conv"), [384, 288, 3, 3], device)?,
            tower: load_chain(
                w,
                &format!("{name}.tower"),
                &[[64, 288, 1, 1], [96, 64, 3, 3], [96, 96, 3, 3]],
                device,
            )?,
        })
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let a = self.conv.forward(x.clone());
        let b = chain(&self.tower, x.clone());
        Tensor::cat(vec![a, b, reduce_max_pool(x)], 1)
    }
}

/// 17x17 block with factorised 7x7 convolutions (`c7` channels inside).
#[derive(Module, Debug)]
pub struct InceptionC {
    conv: ConvBn,
    tower: Vec<ConvBn>,
    tower_1: Vec<ConvBn>,
    tower_2: Vec<ConvBn>,
}

impl InceptionC {
    pub fn load(
        w: &RawWeights,
        name: &str,
        c7: usize,
        device: &Device,
    ) -> Result<Self, InceptionError> {
        let tower = [[c7, 768, 1, 1], [c7, c7, 1, 7], [192, c7, 7, 1]];
        let tower_1 = [
            [c7, 768, 1, 1],
            [c7, c7, 7, 1],
            [c7, c7, 1, 7],
            [c7, c7, 7, 1],
            [192, c7, 1, 7],
        ];
        Ok(Self {
            conv: ConvBn::load(w, &format!("{name}.conv"), [192, 768, 1, 1], device)?,
            tower: load_chain(w, &format!("{name}.tower"), &tower, device)?,
            tower_1: load_chain(w, &format!("{name}.tower_1"), &tower_1, device)?,
            tower_2: load_chain(w, &format!("{name}.tower_2"), &[[192, 768, 1, 1]], device)?,
        })
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let a = self.conv.forward(x.clone());
        let b = chain(&self.tower, x.clone());
        let c = chain(&self.tower_1, x.clone());
        let d = chain(&self.tower_2, branch_avg_pool(x));
        Tensor::cat(vec![a, b, c, d], 1)
    }
}

/// 17 -> 8 reduction: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2.
#[derive(Module, Debug)]
pub struct InceptionD {
    tower: Vec<ConvBn>,
    tower_1: Vec<ConvBn>,
}

impl InceptionD {
    pub fn load(w: &RawWeights, name: &str, device: &Device) -> Result<Self, InceptionError> {
        let tower_1 = [
            [192, 768, 1, 1],
            [192, 192, 1, 7],
            [192, 192, 7, 1],
            [192, 192, 3, 3],
        ];
        Ok(Self {
            tower: load_chain(
                w,
                &format!("{name}.tower"),
                &[[192, 768, 1, 1], [320, 192, 3, 3]],
                device,
            )?,
            tower_1: load_chain(w, &format!("{name}.tower_1"), &tower_1, device)?,
        })
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let a = chain(&self.tower, x.clone());
        let b = chain(&self.tower_1, x.clone());
        Tensor::cat(vec![a, b, reduce_max_pool(x)], 1)
    }
}

/// 8x8 block with split 1x3/3x1 heads; `max_pool` selects the second block's branch pool.
#[derive(Module, Debug)]
pub struct InceptionE {
    conv: ConvBn,
    tower_conv: ConvBn,
    tower_mixed_conv: ConvBn,
    tower_mixed_conv_1: ConvBn,
    tower_1_conv: ConvBn,
    tower_1_conv_1: ConvBn,
    tower_1_mixed_conv: ConvBn,
    tower_1_mixed_conv_1: ConvBn,
    tower_2_conv: ConvBn,
    max_pool: bool,
}

impl InceptionE {
    pub fn load(
        w: &RawWeights,
        name: &str,
        cin: usize,
        max_pool: bool,
        device: &Device,
    ) -> Result<Self, InceptionError> {
        let l = |n: &str, s: [usize; 4]| ConvBn::load(w, &format!("{name}.{n}"), s, device);
        Ok(Self {
            conv: l("conv", [320, cin, 1, 1])?,
            tower_conv: l("tower_conv", [384, cin, 1, 1])?,
            tower_mixed_conv: l("tower_mixed_conv", [384, 384, 1, 3])?,
            tower_mixed_conv_1: l("tower_mixed_conv_1", [384, 384, 3, 1])?,
            tower_1_conv: l("tower_1_conv", [448, cin, 1, 1])?,
            tower_1_conv_1: l("tower_1_conv_1", [384, 448, 3, 3])?,
            tower_1_mixed_conv: l("tower_1_mixed_conv", [384, 384, 1, 3])?,
            tower_1_mixed_conv_1: l("tower_1_mixed_conv_1", [384, 384, 3, 1])?,
            tower_2_conv: l("tower_2_conv", [192, cin, 1, 1])?,
            max_pool,
        })
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let a = self.tower_conv.forward(x.clone());
        let b = self
            .tower_1_conv_1
            .forward(self.tower_1_conv.forward(x.clone()));
        let pooled = if self.max_pool {
            max_pool2d(
                x.clone(),
                MaxPoolOptions::new([3, 3])
                    .with_stride([1, 1])
                    .with_padding([1, 1]),
            )
        } else {
            branch_avg_pool(x.clone())
        };
        Tensor::cat(
            vec![
                self.conv.forward(x),
                self.tower_mixed_conv.forward(a.clone()),
                self.tower_mixed_conv_1.forward(a),
                self.tower_1_mixed_conv.forward(b.clone()),
                self.tower_1_mixed_conv_1.forward(b),
                self.tower_2_conv.forward(pooled),
            ],
            1,
        )
    }
}
