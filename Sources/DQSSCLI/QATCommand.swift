// `dqss qat`: quantization-aware training of a pretrained CIFAR-10 model with ONE QAT candidate
// (ALGORITHMS.md §4: DoReFa, DSQ, LSQ or PACT on every quantized layer, activations and weights), with
// the §7 schedule (warm-up observation epoch, SGD, step decay), then top-1 on `--split`.
//
//   dqss qat --method lsq --model resnet20 --weights akamaster_resnet20.safetensors --data ../shared/datasets/cifar10 \
//            --split test-jpeg --epochs 2 --train-limit 4660 [--limit N] [--bits 4] [--first-last-bits 8] [--num-classes N] [--json]

import ArgumentParser
import DQSSQuant
import DQSSRun

struct QATCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qat",
        abstract: "Quantization-aware training with one candidate (DoReFa, DSQ, LSQ, PACT) and evaluation.")

    @Option(help: "QAT candidate: dorefa, dsq, lsq, pact (in any case).")
    var method: QATMethod

    @OptionGroup var options: QATRunOptions

    func run() throws {
        let o = options
        try runQAT(o, method: method.rawValue) { model in
            UniformQATModel(model: model, method: method, bits: o.bits, firstLast: o.firstLastBits, options: o.qatOptions)
        }
    }
}
