// The tiny PTQ search the pipeline tests share: an untrained TinyConvNet on generated shapes at W4A3 (where
// the candidates differ), 64 calibration and 64 validation images from 160 generated training images, 64
// generated test images, an annealed search of `epochs` epochs. Each test sets what it checks in `configure`.

import DQSSTensor
import DQSSData
import DQSSModels
import DQSSQuant
import DQSSSearch
import DQSSRun

/// Generated shapes as a classification source.
func generatedSource(_ d: SyntheticDataset) -> ClassificationSource {
    let images = Tensor(shape: [0])
    return ClassificationSource(count: d.count, imageShape: d.imageShape) { range in
        (images, d.fillBatch(Array(range)[...], images: images))
    }
}

/// The tiny search (file header); `source` turns the generated sets into the sources the run reads.
func tinyPTQSearch(epochs: Int = 2, refinePasses: Int = 1, configure: (inout PTQSearchOptions) -> Void = { _ in },
                   source: (SyntheticDataset) -> ClassificationSource = generatedSource) throws -> PTQSearchReport {
    let train = SyntheticDataset(count: 160, seed: 3), test = SyntheticDataset(count: 64, seed: 4)
    var rng = RNG(seed: 1)
    let model = TinyConvNet(classes: train.classCount, rng: &rng)
    var search = PTQSearchSettings.annealed
    search.epochs = epochs
    var o = PTQSearchOptions(model: "TinyConvNet", weights: "-", data: "generated", ptq: PTQSettings(weightBits: 4, activationBits: 3),
                             calib: 64, valImages: 64, refinePasses: refinePasses, batch: 64, calibBatch: 32, searches: [search],
                             quiet: true)
    configure(&o)
    return try PTQSearchRun.search(model, train: source(train), test: source(test), o)
}

/// The tiny search with the peers, the refinement starts and the prefix reuse of the greedy pass set
/// (SearchPeerTests, RefinementStartsTests).
func tinyPeerSearch(peers: [SearchPeer] = [], starts: RefinementStarts = .best, reusesPrefix: Bool = true,
                    refinePasses: Int = 1) throws -> PTQSearchReport {
    try tinyPTQSearch(refinePasses: refinePasses) { o in
        o.peers = peers
        o.refineStarts = starts
        o.refineReusesPrefix = reusesPrefix
    }
}
