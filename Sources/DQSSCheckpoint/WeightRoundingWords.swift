// AdaRound's rounding masks in a checkpoint: one row of uint64 words per rounded candidate, bit i of the
// mask in bit (i mod 64) of word i / 64 (the masks' lengths are stored beside them, `weight_rounded`).

import DQSSQuant

enum WeightRoundingWords {
    static func pack(_ r: WeightRounding) -> [UInt64] {
        var words = [UInt64](repeating: 0, count: (r.count + 63) / 64)
        for (i, b) in r.up.enumerated() where b != 0 { words[i >> 6] |= 1 << UInt64(i & 63) }
        return words
    }

    static func unpack(_ words: [UInt64], count: Int) -> WeightRounding {
        WeightRounding(up: (0..<count).map { UInt8((words[$0 >> 6] >> UInt64($0 & 63)) & 1) })
    }
}
