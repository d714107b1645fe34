// Seeded random numbers: the same seed gives the same numbers on every machine.
//
// xoshiro256** seeded through SplitMix64 (Blackman & Vigna). Floats are made from the top 24 bits,
// normals by Box–Muller in Double; only IEEE operations and libm log/cos/sin (glibc, correctly rounded
// enough to agree across x86-64 machines) are involved.

import Foundation

public struct RNG: Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    public init(seed: UInt64) {
        var sm = seed
        func splitmix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitmix(&sm); s1 = splitmix(&sm); s2 = splitmix(&sm); s3 = splitmix(&sm)
    }

    /// The full 256-bit state, for checkpoints; `init(state:)` restores it exactly.
    public var state: [UInt64] { [s0, s1, s2, s3] }
    public init(state: [UInt64]) {
        precondition(state.count == 4, "RNG state needs 4 words")
        s0 = state[0]; s1 = state[1]; s2 = state[2]; s3 = state[3]
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// Uniform in [0, 1) with 24 bits of precision.
    @inline(__always)
    public mutating func uniform() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Uniform in [lo, hi).
    public mutating func uniform(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * uniform() }

    /// Uniform Double in [0, 1) with 53 bits.
    public mutating func uniformDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Standard normal (Box–Muller, one value per call; the second is discarded for simplicity).
    public mutating func normal() -> Float {
        let u1 = max(uniformDouble(), 0x1p-60)
        let u2 = uniformDouble()
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }

    /// Integer in 0..<n without modulo bias (Lemire's method with rejection).
    public mutating func int(below n: Int) -> Int {
        precondition(n > 0)
        let bound = UInt64(n)
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return Int(m.high)
    }

    /// Fisher–Yates shuffle of 0..<n.
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, int(below: i + 1)) }
        return p
    }
}

extension Tensor {
    /// Fill with uniform values in [lo, hi).
    public func fillUniform(_ lo: Float, _ hi: Float, rng: inout RNG) {
        for i in 0..<count { data[i] = rng.uniform(lo, hi) }
    }

    /// Fill with normal values of the given mean and standard deviation.
    public func fillNormal(mean: Float = 0, std: Float = 1, rng: inout RNG) {
        for i in 0..<count { data[i] = mean + std * rng.normal() }
    }

    public static func uniform(_ shape: [Int], _ lo: Float = -1, _ hi: Float = 1, rng: inout RNG) -> Tensor {
        let t = Tensor(shape: shape)
        t.fillUniform(lo, hi, rng: &rng)
        return t
    }

    public static func normal(_ shape: [Int], std: Float = 1, rng: inout RNG) -> Tensor {
        let t = Tensor(shape: shape)
        t.fillNormal(std: std, rng: &rng)
        return t
    }
}
