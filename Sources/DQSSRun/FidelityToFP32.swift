// FidelityToFP32: how close a quantized network is to the FP32 one on the test images, beside its top-1.
//
// The tables rank networks by top-1 against the labels, but two quantized networks a few tenths of a point
// apart differ on so few images that the test split cannot order them (PairedTop1). The search's own
// objective is closeness to the FP32 network, the KL of the softmax on held-out training images (§6.2); the
// same measures on the test images say whether the network the run chose is the closer one there too:
//
//   agreement = share of the test images whose top-1 class is the FP32 network's (in %),
//   KL        = mean over the test images of KL(softmax(FP32) ‖ softmax(quantized)),
//
// and, paired on the same images, d_i = KL_final,i − KL_row,i: the final network's KL minus another row's,
// with the standard error of the mean difference (PairedImprovement's sums, summed over ranks). A negative
// difference beyond two standard errors says the final network is closer to FP32 on test than that row.

/// The FP32 network's logits of this rank's test images (its contiguous range), the reference of every
/// evaluation's fidelity (ShardedEvaluation.reference).
public struct FP32TestReference: Sendable {
    /// [images, classes], row-major.
    public let logits: [Float]
    public let classes: Int
    /// The FP32 top-1 class of every image (argmax, first maximum on ties, as evaluateTop1).
    public let predictions: [Int]

    public init(logits: [Float], classes: Int, predictions: [Int]) {
        precondition(classes > 0 && logits.count == classes * predictions.count,
                     "FP32 reference: \(logits.count) logits for \(predictions.count) images of \(classes) classes")
        self.logits = logits
        self.classes = classes
        self.predictions = predictions
    }
}

/// One row's closeness to FP32 on the test images, and the final network's KL against it, paired.
public struct FidelityToFP32: Codable, Sendable, Equatable {
    /// The row's label ("DQSS final", "EQ", "greedy from uniform", ...).
    public var row: String
    /// Test images whose top-1 class is the FP32 network's, in %.
    public var agreement: Double
    /// Mean KL(softmax(FP32) ‖ softmax(row)) over the test images.
    public var kl: Double
    /// Mean over the test images of KL_final − KL_row (0 for the final row itself), and its standard error.
    public var klFinalMinusRow: Double
    public var klStandardError: Double

    public init(row: String, agreement: Double, kl: Double, klFinalMinusRow: Double, klStandardError: Double) {
        self.row = row
        self.agreement = agreement
        self.kl = kl
        self.klFinalMinusRow = klFinalMinusRow
        self.klStandardError = klStandardError
    }

    /// `klFinalMinusRow` in standard errors (0 when they are 0: the same network).
    public var klDifferenceInStandardErrors: Double {
        klStandardError > 0 ? klFinalMinusRow / klStandardError : 0
    }
}
