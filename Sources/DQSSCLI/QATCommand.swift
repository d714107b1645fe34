// `dqss qat`: quantization-aware training of a pretrained CIFAR-10 model with ONE QAT candidate
// (ALGORITHMS.md §4: DoReFa, DSQ, LSQ or PACT on every quantized layer, activations and weights), with
// the §7 schedule (warm-up observation epoch, SGD, step decay), then top-1 on `--split`.
//
//   dqss qat --method lsq --model resnet20 --weights akamaster_resnet20.safetensors --data ../shared/datasets/cifar10 \
//            --split test-jpeg --epochs 2 --train-limit 4660 [--bits 4] [--first-last-bits 8] [--json]

import ArgumentParser
import DQSSQuant
import DQSSRun

struct QATCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qat",
        abstract: "Quantization-aware training with one candidate (DoReFa, DSQ, LSQ, PACT) and evaluation.")

    @Option(help: "QAT candidate: dorefa, dsq, lsq, pact.")
    var method: String

    @OptionGroup var options: QATRunOptions

    func validate() throws {
        guard QATMethod(rawValue: method.lowercased()) != nil else {
            throw ValidationError("--method must be dorefa, dsq, lsq or pact (got \(method))")
        }
    }

    func run() throws {
        let m = QATMethod(rawValue: method.lowercased())!
        let o = options
        try runQAT(o, method: m.rawValue) { model in
            UniformQATModel(model: model, method: m, bits: o.bits, firstLast: try o.firstLast, options: try o.qatOptions)
        }
    }
}
