//! A tiny BERT directory with random weights of the real layout, for tests that need a
//! frozen text encoder without the genuine asset (CI without network, fast debug builds).

use std::path::Path;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

/// Writes `config.json`, `model.safetensors` (N(0, 0.2) weights, LayerNorm 1 / 0) and
/// `tokenizer.json` (`tokenizer_json`: the JSON text of a BERT WordPiece tokenizer, e.g. the
/// all-MiniLM-L6-v2 one) into `dir`: hidden `d`, `layers` layers of `heads` heads.
pub fn write_tiny_bert(
    dir: &Path,
    tokenizer_json: &[u8],
    d: usize,
    layers: usize,
    heads: usize,
    seed: u64,
) -> std::io::Result<()> {
    let vocab = 30522;
    let (ff, positions) = (2 * d, 64);
    let config = serde_json::json!({
        "architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu",
        "hidden_size": d, "intermediate_size": ff, "num_hidden_layers": layers,
        "num_attention_heads": heads, "max_position_embeddings": positions,
        "type_vocab_size": 2, "vocab_size": vocab, "layer_norm_eps": 1e-12,
        "position_embedding_type": "absolute", "pad_token_id": 0
    });
    std::fs::write(dir.join("config.json"), config.to_string())?;
    std::fs::write(dir.join("tokenizer.json"), tokenizer_json)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let normal = Normal::new(0.0f32, 0.2).expect("std > 0");
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut add = |name: String, shape: Vec<usize>, fill: Option<f32>| {
        let n: usize = shape.iter().product();
        let bytes = (0..n)
            .flat_map(|_| {
                fill.unwrap_or_else(|| normal.sample(&mut rng))
                    .to_le_bytes()
            })
            .collect();
        tensors.push((name, shape, bytes));
    };
    let ln = |add: &mut dyn FnMut(String, Vec<usize>, Option<f32>), p: &str| {
        add(format!("{p}.weight"), vec![d], Some(1.0));
        add(format!("{p}.bias"), vec![d], Some(0.0));
    };
    add(
        "embeddings.word_embeddings.weight".into(),
        vec![vocab, d],
        None,
    );
    add(
        "embeddings.position_embeddings.weight".into(),
        vec![positions, d],
        None,
    );
    add(
        "embeddings.token_type_embeddings.weight".into(),
        vec![2, d],
        None,
    );
    ln(&mut add, "embeddings.LayerNorm");
    for i in 0..layers {
        let l = format!("encoder.layer.{i}");
        for (name, out, inp) in [
            ("attention.self.query", d, d),
            ("attention.self.key", d, d),
            ("attention.self.value", d, d),
            ("attention.output.dense", d, d),
            ("intermediate.dense", ff, d),
            ("output.dense", d, ff),
        ] {
            add(format!("{l}.{name}.weight"), vec![out, inp], None);
            add(format!("{l}.{name}.bias"), vec![out], None);
        }
        ln(&mut add, &format!("{l}.attention.output.LayerNorm"));
        ln(&mut add, &format!("{l}.output.LayerNorm"));
    }
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).expect("sizes match"),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, &dir.join("model.safetensors"))
        .map_err(std::io::Error::other)
}
