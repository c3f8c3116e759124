//! Layers computed by our own code on the CPU backend (flex), inside burn's autodiff graph.
//!
//! A profile of the benchmark's convolutional networks showed most of each training step in a
//! few burn-flex operations: the convolution's backward pass (burn's generic one, see
//! [`conv`]) and max pooling ([`pool`]). These modules compute the same results with
//! straightforward loops and matrix products, spread over the cores by sample or plane, and
//! register their own backward steps. On any other device (a GPU) the layers use burn's
//! operations unchanged.

use burn::tensor::{Tensor, TensorData};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_backend::tensor::FloatTensor;
use burn_flex::{Flex, FlexTensor};
use std::borrow::Cow;

pub mod conv;
pub mod pool;

/// The autodiff backend our training uses on the CPU.
type Ad = Autodiff<Flex, NoCheckpointing>;

/// A flex tensor's values in row-major order (borrowed when already contiguous).
fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(v) => Cow::Borrowed(v),
        None => Cow::Owned(t.to_contiguous().as_slice::<f32>().unwrap_or(&[]).to_vec()),
    }
}

fn flex(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// Where a layer's tensors live, as far as these modules are concerned.
enum Place {
    /// Plain CPU tensors: no gradients.
    Flex,
    /// CPU tensors of which at least one is recorded for gradients.
    Autodiff,
    /// Anywhere else (a GPU, checkpointed autodiff): burn's own operation.
    Other,
}

fn place(tensors: &[&Tensor<4>]) -> Place {
    // Each check consumes a (cheap, shared) clone of the tensor.
    let mut autodiff = false;
    for t in tensors {
        if (*t).clone().try_into_primitive::<Flex>().is_ok() {
            continue;
        }
        if (*t).clone().try_into_primitive::<Ad>().is_ok() {
            autodiff = true;
            continue;
        }
        return Place::Other;
    }
    if autodiff {
        Place::Autodiff
    } else {
        Place::Flex
    }
}

/// The autodiff form of a CPU tensor; a plain one (the input batch) enters as a constant.
fn into_autodiff(t: Tensor<4>) -> FloatTensor<Ad> {
    match t.clone().try_into_primitive::<Ad>() {
        Ok(ad) => ad,
        Err(_) => <FloatTensor<Ad>>::new(
            t.try_into_primitive::<Flex>()
                .expect("place() checked every tensor is on flex"),
        ),
    }
}

/// The plain flex tensor of a tensor `place()` found on the CPU without gradients.
fn plain(t: Tensor<4>) -> Option<FlexTensor> {
    t.try_into_primitive::<Flex>().ok()
}

/// How many tasks a batch of `items` is cut into (one per core), and whether there are fewer
/// items than cores.
fn split(items: usize) -> (usize, bool) {
    let threads = rayon::current_num_threads().max(1);
    let tasks = threads.min(items).max(1);
    // At least one item per task: an empty batch still gets chunks of a valid size.
    (items.div_ceil(tasks).max(1), items < threads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    /// The layers' own tests compare results with burn's, which the fallback would pass too;
    /// this checks the CPU tensors of training and inference really take our path.
    #[test]
    fn cpu_tensors_are_recognised() {
        let plain_cpu = Tensor::<4>::zeros([1, 1, 2, 2], &Device::flex());
        let recorded = Tensor::<4>::zeros([1, 1, 2, 2], &Device::flex().autodiff()).require_grad();
        assert!(matches!(place(&[&plain_cpu]), Place::Flex));
        assert!(matches!(place(&[&recorded]), Place::Autodiff));
        assert!(matches!(place(&[&plain_cpu, &recorded]), Place::Autodiff));
    }
}
