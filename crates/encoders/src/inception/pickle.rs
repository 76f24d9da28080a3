//! A minimal pickle reader: enough of protocols 2-4 for the `data.pkl` of a TorchScript or
//! `torch.save` zip (module objects, dicts, tuples, ints, strings and tensors rebuilt from
//! persistent storage ids). No code is executed: globals are only recorded by name.

use std::collections::HashMap;

/// A decoded pickle value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// `module.name` of a GLOBAL opcode.
    Global(String),
    /// An instance of `class` (NEWOBJ or REDUCE of a non-tensor global) with its BUILD state.
    Object {
        class: String,
        state: Box<Value>,
    },
    /// A persistent id (for torch: `('storage', FloatStorage, key, location, numel)`).
    PersId(Box<Value>),
    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ..)`.
    Tensor(TensorRef),
}

/// Where a tensor's data lives: a storage entry `data/<key>` of the zip.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    /// Storage class, e.g. `torch.FloatStorage`.
    pub storage_type: String,
    pub key: String,
    /// Offset into the storage, in elements.
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

const MARK: &str = "\u{0}mark";

/// Decodes `bytes`; the error says which opcode at which byte offset went wrong.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    let mut r = Reader { b: bytes, pos: 0 };
    let mut stack = Stack::default();
    let mut marks: Vec<usize> = Vec::new();
    loop {
        let at = r.pos;
        let op = r.u8()?;
        let err = |m: &str| format!("pickle opcode 0x{op:02x} at byte {at}: {m}");
        match op {
            0x80 => {
                r.u8()?; // PROTO n
            }
            0x95 => {
                r.take(8)?; // FRAME
            }
            b'.' => return stack.pop().ok_or_else(|| err("STOP on an empty stack")),
            b'c' => {
                let module = r.line()?;
                let name = r.line()?;
                stack.push(Value::Global(format!("{module}.{name}")));
            }
            0x93 => {
                // STACK_GLOBAL
                let name = pop_str(&mut stack).map_err(|m| err(&m))?;
                let module = pop_str(&mut stack).map_err(|m| err(&m))?;
                stack.push(Value::Global(format!("{module}.{name}")));
            }
            b'q' => {
                let i = r.u8()? as u32;
                stack.memoize(i).map_err(|m| err(&m))?;
            }
            b'r' => {
                let i = r.u32()?;
                stack.memoize(i).map_err(|m| err(&m))?;
            }
            0x94 => {
                let i = stack.memo.len() as u32; // MEMOIZE
                stack.memoize(i).map_err(|m| err(&m))?;
            }
            b'h' | b'j' => {
                let i = if op == b'h' { r.u8()? as u32 } else { r.u32()? };
                let v = stack
                    .recall(i)
                    .ok_or_else(|| err(&format!("memo {i} unset")))?;
                stack.push(v);
            }
            b'(' => {
                marks.push(stack.len());
                stack.push(Value::Str(MARK.into()));
            }
            b')' => stack.push(Value::Tuple(vec![])),
            b']' => stack.push(Value::List(vec![])),
            b'}' => stack.push(Value::Dict(vec![])),
            b't' => {
                let items = pop_mark(&mut stack, &mut marks).map_err(|m| err(&m))?;
                stack.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    return Err(err("tuple of more items than the stack holds"));
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(Value::Tuple(items));
            }
            b'N' => stack.push(Value::None),
            0x88 => stack.push(Value::Bool(true)),
            0x89 => stack.push(Value::Bool(false)),
            b'K' => stack.push(Value::Int(r.u8()? as i64)),
            b'M' => stack.push(Value::Int(u16::from_le_bytes(r.arr()?) as i64)),
            b'J' => stack.push(Value::Int(i32::from_le_bytes(r.arr()?) as i64)),
            0x8a => {
                let n = r.u8()? as usize; // LONG1
                let b = r.take(n)?;
                if n > 8 {
                    return Err(err("integer wider than 64 bits"));
                }
                let mut v: i64 = 0;
                for (i, byte) in b.iter().enumerate() {
                    v |= (*byte as i64) << (8 * i);
                }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                stack.push(Value::Int(v));
            }
            b'G' => stack.push(Value::Float(f64::from_be_bytes(r.arr()?))),
            b'X' => {
                let n = r.u32()? as usize;
                stack.push(Value::Str(r.utf8(n)?));
            }
            0x8c => {
                let n = r.u8()? as usize; // SHORT_BINUNICODE
                stack.push(Value::Str(r.utf8(n)?));
            }
            b'a' => {
                let v = stack.pop().ok_or_else(|| err("APPEND on an empty stack"))?;
                match stack.last_mut() {
                    Some(Value::List(l)) => l.push(v),
                    _ => return Err(err("APPEND to a non-list")),
                }
            }
            b'e' => {
                let items = pop_mark(&mut stack, &mut marks).map_err(|m| err(&m))?;
                match stack.last_mut() {
                    Some(Value::List(l)) => l.extend(items),
                    _ => return Err(err("APPENDS to a non-list")),
                }
            }
            b's' | b'u' => {
                let items = if op == b's' {
                    if stack.len() < 3 {
                        return Err(err("SETITEM needs a dict, a key and a value"));
                    }
                    stack.split_off(stack.len() - 2)
                } else {
                    pop_mark(&mut stack, &mut marks).map_err(|m| err(&m))?
                };
                if items.len() % 2 != 0 {
                    return Err(err("odd number of items for a dict"));
                }
                let target = match stack.last_mut() {
                    Some(Value::Dict(d)) => d,
                    Some(Value::Object { state, .. }) => match state.as_mut() {
                        Value::Dict(d) => d,
                        _ => return Err(err("SETITEMS on an object without dict state")),
                    },
                    _ => return Err(err("SETITEMS to a non-dict")),
                };
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    target.push((k, v));
                }
            }
            0x81 => {
                // NEWOBJ: cls, args -> instance; state comes with BUILD.
                let _args = stack.pop();
                let cls = stack.pop().ok_or_else(|| err("NEWOBJ on an empty stack"))?;
                let class = match cls {
                    Value::Global(g) => g,
                    other => return Err(err(&format!("NEWOBJ of a non-class {other:?}"))),
                };
                stack.push(Value::Object {
                    class,
                    state: Box::new(Value::None),
                });
            }
            b'R' => {
                let args = stack.pop().ok_or_else(|| err("REDUCE on an empty stack"))?;
                let func = stack.pop().ok_or_else(|| err("REDUCE on an empty stack"))?;
                stack.push(reduce(func, args).map_err(|m| err(&m))?);
            }
            b'Q' => {
                let pid = stack
                    .pop()
                    .ok_or_else(|| err("BINPERSID on an empty stack"))?;
                stack.push(Value::PersId(Box::new(pid)));
            }
            b'b' => {
                let state = stack.pop().ok_or_else(|| err("BUILD on an empty stack"))?;
                match stack.last_mut() {
                    Some(Value::Object { state: s, .. }) => **s = state,
                    // OrderedDict/tensor BUILD states (e.g. backward hooks) carry nothing we use.
                    Some(_) => {}
                    None => return Err(err("BUILD on an empty stack")),
                }
            }
            _ => return Err(err("unsupported opcode")),
        }
    }
}

fn reduce(func: Value, args: Value) -> Result<Value, String> {
    let Value::Global(name) = func else {
        return Err(format!("REDUCE of a non-global {func:?}"));
    };
    let Value::Tuple(args) = args else {
        return Err(format!("REDUCE {name} with non-tuple arguments"));
    };
    match name.as_str() {
        "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor" => {
            let storage = match args.first() {
                Some(Value::PersId(p)) => p.as_ref(),
                _ => return Err(format!("{name}: first argument is not a storage")),
            };
            let Value::Tuple(pid) = storage else {
                return Err(format!("{name}: storage id is not a tuple"));
            };
            let (storage_type, key) = match pid.as_slice() {
                [Value::Str(_), Value::Global(t), Value::Str(k), ..] => (t.clone(), k.clone()),
                _ => return Err(format!("{name}: unexpected storage id {pid:?}")),
            };
            let offset = as_usize(args.get(1)).ok_or(format!("{name}: bad offset"))?;
            let shape = usize_tuple(args.get(2)).ok_or(format!("{name}: bad size"))?;
            let stride = usize_tuple(args.get(3)).ok_or(format!("{name}: bad stride"))?;
            Ok(Value::Tensor(TensorRef {
                storage_type,
                key,
                offset,
                shape,
                stride,
            }))
        }
        "collections.OrderedDict" => Ok(Value::Dict(vec![])),
        // TorchScript's typed lists: `build_intlist([..])` etc. are the list itself.
        n if n.starts_with("torch.jit._pickle.build_") && args.len() == 1 => {
            Ok(args.into_iter().next().unwrap())
        }
        _ => Ok(Value::Object {
            class: name,
            state: Box::new(Value::Tuple(args)),
        }),
    }
}

fn as_usize(v: Option<&Value>) -> Option<usize> {
    match v {
        Some(Value::Int(i)) if *i >= 0 => Some(*i as usize),
        _ => None,
    }
}

fn usize_tuple(v: Option<&Value>) -> Option<Vec<usize>> {
    match v {
        Some(Value::Tuple(items)) => items.iter().map(|i| as_usize(Some(i))).collect(),
        _ => None,
    }
}

/// A memo entry: while its value is still on the stack it refers to the slot, so that
/// later APPENDS/SETITEMS/BUILD on that value are seen by every BINGET of it; once popped,
/// the final value is stored.
#[derive(Debug, Clone)]
enum Memo {
    Slot(usize),
    Value(Value),
}

#[derive(Debug, Default)]
struct Stack {
    items: Vec<Value>,
    memo: HashMap<u32, Memo>,
}

impl Stack {
    fn push(&mut self, v: Value) {
        self.items.push(v);
    }
    fn len(&self) -> usize {
        self.items.len()
    }
    fn last_mut(&mut self) -> Option<&mut Value> {
        self.items.last_mut()
    }
    fn memoize(&mut self, i: u32) -> Result<(), String> {
        if self.items.is_empty() {
            return Err("memo put on an empty stack".into());
        }
        self.memo.insert(i, Memo::Slot(self.items.len() - 1));
        Ok(())
    }
    fn recall(&self, i: u32) -> Option<Value> {
        match self.memo.get(&i)? {
            Memo::Slot(s) => self.items.get(*s).cloned(),
            Memo::Value(v) => Some(v.clone()),
        }
    }
    /// Freezes memo entries that point at slots `>= from` before they leave the stack.
    fn freeze_from(&mut self, from: usize) {
        for m in self.memo.values_mut() {
            if let Memo::Slot(s) = *m
                && s >= from
            {
                *m = Memo::Value(self.items[s].clone());
            }
        }
    }
    fn pop(&mut self) -> Option<Value> {
        let n = self.items.len().checked_sub(1)?;
        self.freeze_from(n);
        self.items.pop()
    }
    fn split_off(&mut self, at: usize) -> Vec<Value> {
        self.freeze_from(at);
        self.items.split_off(at)
    }
}

fn pop_str(stack: &mut Stack) -> Result<String, String> {
    match stack.pop() {
        Some(Value::Str(s)) => Ok(s),
        other => Err(format!("expected a string, found {other:?}")),
    }
}

fn pop_mark(stack: &mut Stack, marks: &mut Vec<usize>) -> Result<Vec<Value>, String> {
    let m = marks.pop().ok_or("no MARK on the stack")?;
    let items = stack.split_off(m + 1);
    stack.pop(); // the mark itself
    Ok(items)
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.pos + n > self.b.len() {
            return Err(format!("pickle truncated at byte {}", self.b.len()));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    fn utf8(&mut self, n: usize) -> Result<String, String> {
        String::from_utf8(self.take(n)?.to_vec()).map_err(|e| format!("bad UTF-8 string: {e}"))
    }
    fn line(&mut self) -> Result<String, String> {
        let rest = &self.b[self.pos..];
        let n = rest
            .iter()
            .position(|&c| c == b'\n')
            .ok_or("unterminated GLOBAL name")?;
        let s = self.utf8(n)?;
        self.pos += 1;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_an_object_with_a_tensor_and_ints() {
        // Hand-assembled: Obj(); BUILD {'w': rebuild_tensor_v2(pid('storage', FloatStorage,
        // '0', 'cpu', 6), 0, (2, 3), (3, 1), False, OrderedDict()), 'stride': 2, 'padding': [0, 1]}
        let mut p = vec![0x80, 2];
        p.extend(b"c__torch__.m\nConv\n)\x81}(");
        p.extend(b"X\x01\x00\x00\x00w");
        p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage");
        p.extend(b"ctorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x06tQ");
        p.extend(b"K\x00K\x02K\x03\x86K\x03K\x01\x86\x89ccollections\nOrderedDict\n)RtR");
        p.extend(b"X\x06\x00\x00\x00strideK\x02");
        p.extend(b"X\x07\x00\x00\x00padding](K\x00K\x01eub.");
        let v = parse(&p).unwrap();
        let Value::Object { class, state } = v else {
            panic!("not an object: {v:?}")
        };
        assert_eq!(class, "__torch__.m.Conv");
        let Value::Dict(items) = *state else { panic!() };
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[0].1,
            Value::Tensor(TensorRef {
                storage_type: "torch.FloatStorage".into(),
                key: "0".into(),
                offset: 0,
                shape: vec![2, 3],
                stride: vec![3, 1],
            })
        );
        assert_eq!(items[1].1, Value::Int(2));
        assert_eq!(items[2].1, Value::List(vec![Value::Int(0), Value::Int(1)]));
    }

    #[test]
    fn a_memoized_list_filled_later_is_seen_by_binget() {
        // []; memo 0; APPENDS 1, 2; BINGET 0; TUPLE2 -> ([1, 2], [1, 2]) (TorchScript shares
        // `padding` lists between modules this way).
        let p = [
            0x80, 2, b']', b'q', 0, b'(', b'K', 1, b'K', 2, b'e', b'h', 0, 0x86, b'.',
        ];
        let l = Value::List(vec![Value::Int(1), Value::Int(2)]);
        assert_eq!(parse(&p).unwrap(), Value::Tuple(vec![l.clone(), l]));
    }

    #[test]
    fn truncated_input_is_an_error() {
        assert!(parse(&[0x80, 2, b'K']).unwrap_err().contains("truncated"));
    }
}
