//! How the nodes of a stack are wired: which output each node takes, the order
//! they run in, and which node is the stack's output.
//!
//! A stack is a directed acyclic graph written as a list: a node without
//! `inputs` takes the output of the node above it (the first node takes the
//! stack's input), so a straight chain needs no wiring at all. A node with
//! `inputs` names the ids of the nodes it takes (or `input`, the stack's own
//! input, or the name of a table joined to the data, which is an input of its
//! own: see `DataSpec::joined`); merge layers (Add, Concatenate, Multiply) take two or more. The last
//! node is the output. Cycles, unknown names and nodes whose output goes
//! nowhere are refused here, before any shape is looked at. Shapes are left to
//! `shapes.rs`; running the graph to `model/`.

use super::{LayerSpec, Stack};

/// The name by which a node takes the stack's own input.
pub const INPUT: &str = "input";

/// Where one input of a node comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The stack's input (the data, or the previous stack's output).
    Input,
    /// The joined table at this index in `DataSpec::joined`: a second (third…)
    /// input of the stack that reads the data.
    Joined(usize),
    /// The output of the node at this index in the stack's list.
    Node(usize),
}

/// A stack's wiring, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wiring {
    /// For each node in list order, the outputs it takes, in order.
    pub sources: Vec<Vec<Source>>,
    /// The node indices in an order where every node comes after its inputs
    /// (the list order where that already holds).
    pub order: Vec<usize>,
    /// What the stack gives: its last node, or its input when it has no nodes.
    pub output: Source,
}

impl Wiring {
    /// Whether every node takes the one above it: a plain chain of layers.
    pub fn is_chain(&self) -> bool {
        self.sources.iter().enumerate().all(|(i, s)| match i {
            0 => s == &[Source::Input],
            _ => s == &[Source::Node(i - 1)],
        })
    }

    /// How many nodes take each node's output (the stack's output counts once).
    pub fn consumers(&self) -> Vec<usize> {
        let mut n = vec![0; self.sources.len()];
        for s in self.sources.iter().flatten() {
            if let Source::Node(j) = s {
                n[*j] += 1;
            }
        }
        if let Source::Node(j) = self.output {
            n[j] += 1;
        }
        n
    }
}

/// A wiring mistake: the node it belongs to (0-based, in list order) and what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    pub node: usize,
    pub message: String,
}

/// How a node is named in messages: `node 'skip2'` or `layer 4`.
pub fn node_name(stack: &Stack, i: usize) -> String {
    match stack.layers.get(i) {
        Some(n) if !n.id.is_empty() => format!("node '{}'", n.id),
        _ => format!("layer {}", i + 1),
    }
}

/// Check a stack's wiring and find the order its nodes run in. `joined` are
/// the names of the joined tables the stack can take (see
/// `Experiment::joined_inputs`).
pub fn wire(stack: &Stack, joined: &[String]) -> Result<Wiring, WireError> {
    let nodes = &stack.layers;
    let err = |node: usize, message: String| WireError { node, message };
    let mut ids: Vec<(&str, usize)> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        if n.id.is_empty() {
            continue;
        }
        if n.id == INPUT {
            return Err(err(
                i,
                format!(
                    "the name '{INPUT}' stands for the stack's input; give this node another id"
                ),
            ));
        }
        if let Some((_, j)) = ids.iter().find(|(id, _)| *id == n.id) {
            return Err(err(
                i,
                format!(
                    "the id '{}' is also the id of layer {}; every node needs its own id",
                    n.id,
                    j + 1
                ),
            ));
        }
        if joined.contains(&n.id) {
            return Err(err(
                i,
                format!(
                    "the id '{}' is the name of a joined table; give this node another id",
                    n.id
                ),
            ));
        }
        ids.push((&n.id, i));
    }
    let mut sources = Vec::with_capacity(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        let display = n.layer.info().display;
        let taken: Vec<Source> = if n.inputs.is_empty() {
            if n.layer.is_merge() {
                return Err(err(
                    i,
                    format!(
                        "{display} joins two or more branches; list the ids of the nodes it joins in its inputs (e.g. \"inputs\": [\"{}\", \"{INPUT}\"])",
                        ids.last().map(|(id, _)| *id).unwrap_or("block1")
                    ),
                ));
            }
            vec![match i {
                0 => Source::Input,
                _ => Source::Node(i - 1),
            }]
        } else {
            let mut taken = Vec::with_capacity(n.inputs.len());
            for name in &n.inputs {
                if name == INPUT {
                    taken.push(Source::Input);
                } else if let Some(k) = joined.iter().position(|j| j == name) {
                    taken.push(Source::Joined(k));
                } else if let Some((_, j)) = ids.iter().find(|(id, _)| id == name) {
                    if *j == i {
                        return Err(err(i, format!("it takes its own output '{name}'")));
                    }
                    taken.push(Source::Node(*j));
                } else {
                    return Err(err(i, unknown_input(name, &ids, joined)));
                }
            }
            taken
        };
        match (n.layer.is_merge(), taken.len()) {
            (true, 1) => {
                return Err(err(
                    i,
                    format!(
                        "{display} joins two or more branches but takes only '{}'; add the other branch to its inputs",
                        n.inputs[0]
                    ),
                ));
            }
            (false, k) if k > 1 => {
                return Err(err(
                    i,
                    format!(
                        "{display} takes one input but lists {k} ({}); join them first with Add or Concatenate",
                        n.inputs.join(", ")
                    ),
                ));
            }
            _ => {}
        }
        sources.push(taken);
    }
    let order = topological_order(&sources).map_err(|cycle| {
        let names: Vec<String> = cycle.iter().map(|&i| node_name(stack, i)).collect();
        err(
            cycle[0],
            format!(
                "{} take each other's outputs in a circle; a network must flow one way, so remove one of these inputs",
                names.join(", ")
            ),
        )
    })?;
    let output = match nodes.len() {
        0 => Source::Input,
        n => Source::Node(n - 1),
    };
    let wiring = Wiring {
        sources,
        order,
        output,
    };
    let taken: Vec<bool> = (0..joined.len())
        .map(|k| {
            wiring
                .sources
                .iter()
                .flatten()
                .any(|s| *s == Source::Joined(k))
        })
        .collect();
    if let (Some(k), false) = (taken.iter().position(|t| !t), nodes.is_empty()) {
        return Err(err(
            0,
            format!(
                "the joined table '{}' goes into no node; draw a wire from it (name it in a node's inputs), or remove the joined table",
                joined[k]
            ),
        ));
    }
    let used = wiring.consumers();
    if let Some(i) = used.iter().position(|&n| n == 0) {
        let display = nodes[i].layer.info().display;
        return Err(err(
            i,
            format!(
                "the output of this {display} goes nowhere: no node takes it and it is not the last node. Name it in a later node's inputs (e.g. an Add), or remove it"
            ),
        ));
    }
    Ok(wiring)
}

fn unknown_input(name: &str, ids: &[(&str, usize)], joined: &[String]) -> String {
    let nearest = ids
        .iter()
        .map(|(id, _)| (edit_distance(name, id), *id))
        .chain(std::iter::once((edit_distance(name, INPUT), INPUT)))
        .chain(joined.iter().map(|j| (edit_distance(name, j), j.as_str())))
        .min();
    match nearest {
        Some((d, id)) if d <= 2 => {
            format!("it takes '{name}', but no node has that id; did you mean '{id}'?")
        }
        _ => {
            let mut known: Vec<&str> = ids.iter().map(|(id, _)| *id).collect();
            known.push(INPUT);
            known.extend(joined.iter().map(String::as_str));
            format!(
                "it takes '{name}', but no node has that id (the ids are {})",
                known.join(", ")
            )
        }
    }
}

/// Levenshtein distance between two short names (also for the nearest
/// key to a misspelt one in an experiment file).
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Kahn's algorithm, taking the lowest ready index first so a list already in
/// order keeps it. On a cycle, returns the nodes on it, lowest first.
fn topological_order(sources: &[Vec<Source>]) -> Result<Vec<usize>, Vec<usize>> {
    let n = sources.len();
    let mut waiting: Vec<usize> = sources
        .iter()
        .map(|s| s.iter().filter(|x| matches!(x, Source::Node(_))).count())
        .collect();
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let Some(next) = (0..n).find(|&i| !done[i] && waiting[i] == 0) else {
            return Err(cycle_among(sources, &done));
        };
        done[next] = true;
        order.push(next);
        for (j, s) in sources.iter().enumerate() {
            waiting[j] -= s.iter().filter(|x| **x == Source::Node(next)).count();
        }
    }
    Ok(order)
}

/// One cycle among the nodes not yet placed (each of them waits on another of them).
fn cycle_among(sources: &[Vec<Source>], done: &[bool]) -> Vec<usize> {
    let start = (0..sources.len())
        .find(|&i| !done[i])
        .expect("a cycle is only looked for while nodes are left");
    let mut path = vec![start];
    let mut at = start;
    loop {
        let next = sources[at]
            .iter()
            .find_map(|s| match s {
                Source::Node(j) if !done[*j] => Some(*j),
                _ => None,
            })
            .expect("a node left over waits on another node left over");
        if let Some(pos) = path.iter().position(|&p| p == next) {
            let mut cycle = path.split_off(pos);
            cycle.sort_unstable();
            return cycle;
        }
        path.push(next);
        at = next;
    }
}

/// What each node takes, as far as it can be resolved: unknown names are left
/// out instead of refused. For drawing a graph that does not check yet.
pub fn sources_lenient(stack: &Stack, joined: &[String]) -> Vec<Vec<Source>> {
    let find = |name: &str| {
        if name == INPUT {
            return Some(Source::Input);
        }
        if let Some(k) = joined.iter().position(|j| j == name) {
            return Some(Source::Joined(k));
        }
        stack
            .layers
            .iter()
            .position(|n| n.id == name)
            .map(Source::Node)
    };
    stack
        .layers
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if n.inputs.is_empty() {
                vec![match i {
                    0 => Source::Input,
                    _ => Source::Node(i - 1),
                }]
            } else {
                n.inputs.iter().filter_map(|name| find(name)).collect()
            }
        })
        .collect()
}

/// The id by which other nodes take node `i`'s output, given it one (from its
/// layer's kind, e.g. `conv2d_3`) when it has none.
fn ensure_id(stack: &mut Stack, i: usize) -> String {
    if stack.layers[i].id.is_empty() {
        let base = stack.layers[i].layer.kind().to_lowercase();
        let id = (1..)
            .map(|k| format!("{base}_{k}"))
            .find(|id| id != INPUT && stack.layers.iter().all(|n| &n.id != id))
            .expect("some numbered id is free");
        stack.layers[i].id = id;
    }
    stack.layers[i].id.clone()
}

fn name_of(stack: &mut Stack, s: Source, joined: &[String]) -> String {
    match s {
        Source::Input => INPUT.to_string(),
        Source::Joined(k) => joined.get(k).cloned().unwrap_or_default(),
        Source::Node(j) => ensure_id(stack, j),
    }
}

/// Node `i`'s inputs written out by name (a node that took the node above
/// implicitly now names it), so one of them can be changed.
fn make_explicit(stack: &mut Stack, i: usize, joined: &[String]) {
    if stack.layers[i].inputs.is_empty() {
        let implicit = match i {
            0 => Source::Input,
            _ => Source::Node(i - 1),
        };
        let name = name_of(stack, implicit, joined);
        stack.layers[i].inputs = vec![name];
    }
}

/// Whether `to` lies downstream of `from` (or is it): a wire from `to`'s side
/// into `from` would close a circle.
fn reaches(sources: &[Vec<Source>], from: usize, to: usize) -> bool {
    let mut seen = vec![false; sources.len()];
    let mut stack = vec![from];
    while let Some(at) = stack.pop() {
        if at == to {
            return true;
        }
        if std::mem::replace(&mut seen[at], true) {
            continue;
        }
        for (j, s) in sources.iter().enumerate() {
            if s.contains(&Source::Node(at)) {
                stack.push(j);
            }
        }
    }
    false
}

/// Draw a wire from `from`'s output into node `to`: a merge node gains an
/// input, any other node takes `from` instead of what it took. Ids are given
/// to the nodes that need one. `joined` as for [`wire`].
pub fn connect(
    stack: &mut Stack,
    from: Source,
    to: usize,
    joined: &[String],
) -> Result<(), String> {
    if to >= stack.layers.len() {
        return Err("there is no such node".into());
    }
    if let Source::Node(f) = from {
        if f == to {
            return Err("a node cannot take its own output".into());
        }
        if reaches(&sources_lenient(stack, joined), to, f) {
            return Err(format!(
                "{} already takes {}'s output (through other nodes); this wire would make a circle",
                node_name(stack, f),
                node_name(stack, to)
            ));
        }
    }
    let name = name_of(stack, from, joined);
    make_explicit(stack, to, joined);
    let node = &mut stack.layers[to];
    if node.layer.is_merge() {
        if node.inputs.contains(&name) {
            return Err(format!(
                "{} already takes '{name}'",
                node.layer.info().display
            ));
        }
        node.inputs.push(name);
    } else {
        node.inputs = vec![name];
    }
    Ok(())
}

/// Remove the `slot`-th input of node `to`. A layer that is no merge keeps its
/// one input (draw another wire onto it to replace it).
pub fn disconnect(
    stack: &mut Stack,
    to: usize,
    slot: usize,
    joined: &[String],
) -> Result<(), String> {
    let Some(node) = stack.layers.get(to) else {
        return Err("there is no such node".into());
    };
    if !node.layer.is_merge() {
        return Err(format!(
            "{} needs an input; drag another wire onto it to replace this one",
            node.layer.info().display
        ));
    }
    make_explicit(stack, to, joined);
    let inputs = &mut stack.layers[to].inputs;
    if slot < inputs.len() {
        inputs.remove(slot);
    }
    Ok(())
}

/// Whether the layer needs the channel counts of its inputs to be equal.
pub(crate) fn is_elementwise(layer: &LayerSpec) -> bool {
    matches!(layer, LayerSpec::Add | LayerSpec::Multiply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Node;

    fn node(id: &str, inputs: &[&str], layer: LayerSpec) -> Node {
        Node {
            id: id.into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            layer,
            frozen: false,
        }
    }

    fn conv() -> LayerSpec {
        LayerSpec::from_kind("Conv2d").unwrap()
    }

    fn stack(layers: Vec<Node>) -> Stack {
        Stack {
            name: "network".into(),
            layers,
        }
    }

    #[test]
    fn wires_drawn_and_removed_become_ids_and_inputs() {
        let mut s = stack(vec![
            node("", &[], conv()),
            node("", &[], LayerSpec::Relu),
            node("", &[], conv()),
            node("", &["input"], LayerSpec::Add),
        ]);
        // The Add already takes the input; a wire from the second convolution joins it.
        connect(&mut s, Source::Node(2), 3, &[]).unwrap();
        assert_eq!(s.layers[2].id, "conv2d_1");
        assert_eq!(s.layers[3].inputs, vec!["input", "conv2d_1"]);
        assert!(wire(&s, &[]).is_ok());
        // Rewiring the ReLU to the input leaves the first convolution dangling.
        connect(&mut s, Source::Input, 1, &[]).unwrap();
        assert_eq!(s.layers[1].inputs, vec!["input"]);
        assert!(wire(&s, &[]).unwrap_err().message.contains("goes nowhere"));
        connect(&mut s, Source::Node(0), 1, &[]).unwrap();
        assert_eq!(s.layers[0].id, "conv2d_2");
        // A wire back up the graph would close a circle; a node into itself too.
        let e = connect(&mut s, Source::Node(3), 0, &[]).unwrap_err();
        assert!(e.contains("circle"), "{e}");
        assert!(connect(&mut s, Source::Node(1), 1, &[]).is_err());
        // A merge loses an input; other layers keep theirs.
        disconnect(&mut s, 3, 0, &[]).unwrap();
        assert_eq!(s.layers[3].inputs, vec!["conv2d_1"]);
        assert!(
            disconnect(&mut s, 1, 0, &[])
                .unwrap_err()
                .contains("needs an input")
        );
    }

    #[test]
    fn a_list_without_inputs_is_a_chain() {
        let s = stack(vec![
            node("", &[], conv()),
            node("", &[], LayerSpec::Relu),
            node("", &[], LayerSpec::Flatten),
        ]);
        let w = wire(&s, &[]).unwrap();
        assert!(w.is_chain());
        assert_eq!(w.order, vec![0, 1, 2]);
        assert_eq!(w.output, Source::Node(2));
        let empty = wire(&stack(vec![]), &[]).unwrap();
        assert_eq!(empty.output, Source::Input);
    }

    #[test]
    fn a_residual_block_wires_the_skip() {
        let s = stack(vec![
            node("c1", &[], conv()),
            node("c2", &[], conv()),
            node("sum", &["c2", "input"], LayerSpec::Add),
            node("", &[], LayerSpec::Relu),
        ]);
        let w = wire(&s, &[]).unwrap();
        assert!(!w.is_chain());
        assert_eq!(w.sources[2], vec![Source::Node(1), Source::Input]);
        assert_eq!(w.sources[3], vec![Source::Node(2)]);
        assert_eq!(w.consumers(), vec![1, 1, 1, 1]);
    }

    #[test]
    fn nodes_listed_out_of_order_run_after_their_inputs() {
        let s = stack(vec![
            node("b", &["a"], LayerSpec::Relu),
            node("a", &["input"], conv()),
            node("out", &["a", "b"], LayerSpec::Concatenate),
        ]);
        assert_eq!(wire(&s, &[]).unwrap().order, vec![1, 0, 2]);
    }

    #[test]
    fn cycles_unknown_names_and_dangling_nodes_are_refused_with_the_node() {
        let cycle = stack(vec![
            node("a", &["b"], conv()),
            node("b", &["a"], LayerSpec::Relu),
            node("out", &["b", "input"], LayerSpec::Add),
        ]);
        let e = wire(&cycle, &[]).unwrap_err();
        assert!(e.message.contains("node 'a', node 'b'"), "{}", e.message);
        assert!(e.message.contains("circle"), "{}", e.message);

        let typo = stack(vec![
            node("conv1", &[], conv()),
            node("sum", &["conv2", "input"], LayerSpec::Add),
        ]);
        let e = wire(&typo, &[]).unwrap_err();
        assert_eq!(e.node, 1);
        assert!(e.message.contains("did you mean 'conv1'"), "{}", e.message);

        let dangling = stack(vec![node("a", &[], conv()), node("b", &["input"], conv())]);
        let e = wire(&dangling, &[]).unwrap_err();
        assert_eq!(e.node, 0);
        assert!(e.message.contains("goes nowhere"), "{}", e.message);

        let lonely_merge = stack(vec![node("", &[], conv()), node("", &[], LayerSpec::Add)]);
        let e = wire(&lonely_merge, &[]).unwrap_err();
        assert!(e.message.contains("inputs"), "{}", e.message);

        let two_into_one = stack(vec![
            node("a", &[], conv()),
            node("", &["a", "input"], LayerSpec::Relu),
        ]);
        assert!(
            wire(&two_into_one, &[])
                .unwrap_err()
                .message
                .contains("Add or Concatenate")
        );

        let twice = stack(vec![
            node("a", &[], conv()),
            node("a", &[], LayerSpec::Relu),
        ]);
        assert!(
            wire(&twice, &[])
                .unwrap_err()
                .message
                .contains("its own id")
        );
    }

    #[test]
    fn a_joined_table_is_an_input_taken_by_its_name() {
        let dense = || LayerSpec::Dense {
            units: 4,
            bias: true,
        };
        let joined = vec!["protein".to_string()];
        let s = stack(vec![
            node("rna_features", &[], dense()),
            node("protein_features", &["protein"], dense()),
            node(
                "",
                &["rna_features", "protein_features"],
                LayerSpec::Concatenate,
            ),
        ]);
        let w = wire(&s, &joined).unwrap();
        assert_eq!(w.sources[1], vec![Source::Joined(0)]);
        // Without the joined table the name is unknown.
        let e = wire(&s, &[]).unwrap_err();
        assert!(e.message.contains("'protein'"), "{}", e.message);

        let mut typo = s.clone();
        typo.layers[1].inputs = vec!["protien".into()];
        let e = wire(&typo, &joined).unwrap_err();
        assert!(
            e.message.contains("did you mean 'protein'"),
            "{}",
            e.message
        );

        let mut clash = s.clone();
        clash.layers[0].id = "protein".into();
        clash.layers[2].inputs[0] = "protein".into();
        assert!(
            wire(&clash, &joined)
                .unwrap_err()
                .message
                .contains("joined table")
        );

        let mut unused = s.clone();
        unused.layers[1].inputs = vec!["input".into()];
        let e = wire(&unused, &joined).unwrap_err();
        assert!(
            e.message.contains("'protein' goes into no node"),
            "{}",
            e.message
        );

        // Drawing a wire from the joined input names it.
        let mut s2 = s.clone();
        s2.layers[1].inputs = vec!["input".into()];
        connect(&mut s2, Source::Joined(0), 1, &joined).unwrap();
        assert_eq!(s2.layers[1].inputs, vec!["protein".to_string()]);
    }
}
