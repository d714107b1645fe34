// Per-layer-type timing at the activation shapes of ResNet-20 on CIFAR (batch 128), multiplied by how
// often each appears in the network: a breakdown of the training step without instrumenting the model.

import DQSSTensor
import DQSSLayers

struct LayerTiming {
    var name: String
    var count: Int
    var forwardMs: Double
    var backwardMs: Double
    var totalMs: Double { Double(count) * (forwardMs + backwardMs) }
}

func profileResNet20Layers(batch: Int, repeats: Int) -> [LayerTiming] {
    var rng = RNG(seed: 3)
    var rows: [LayerTiming] = []
    // (channels, spatial, number of 3x3 stride-1 convs / BNs / ReLUs / Adds at that shape in ResNet-20)
    let stages = [(16, 32, 7, 7, 7, 3), (32, 16, 6, 6, 6, 3), (64, 8, 6, 6, 6, 3)]
    for (c, s, nConv, nBN, nReLU, nAdd) in stages {
        let x = Tensor.uniform([batch, c, s, s], rng: &rng)
        let dy = Tensor.uniform([batch, c, s, s], rng: &rng)
        let conv = Conv2d(c, c, kernelSize: 3, padding: 1, bias: false, rng: &rng)
        conv.isTraining = true
        let bn = BatchNorm2d(c)
        bn.isTraining = true
        let relu = ReLU(), add = Add()
        func time(_ name: String, _ count: Int, _ f: () -> Void, _ b: () -> Void) {
            let tf = medianSeconds(repeats: repeats, f)
            let tb = medianSeconds(repeats: repeats) { f(); b() } - tf
            rows.append(LayerTiming(name: "\(name) \(c)x\(s)x\(s)", count: count, forwardMs: tf * 1e3, backwardMs: max(tb, 0) * 1e3))
        }
        time("conv3x3", nConv, { _ = conv.forward(x) }, { _ = conv.backward(dy) })
        time("batchnorm", nBN, { _ = bn.forward(x) }, { _ = bn.backward(dy) })
        time("relu", nReLU, { _ = relu.forward(x) }, { _ = relu.backward(dy) })
        time("add", nAdd, { _ = add.forward(x, dy) }, { _ = add.backward(dy) })
    }
    return rows
}
