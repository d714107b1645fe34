// PTQMethod: the name of one PTQ candidate, as flags spell it and reports print it.
//
// The paper's four (Max_Abs, KL, EQ, ADMM, ALGORITHMS.md §3) are the default candidate list, so every
// table made before the new candidates stays reproducible with the same command. Beyond them:
//
//   mse            MSECalibrator: T minimising the expected quantization MSE (TensorRT / ModelOpt "mse")
//   percentile:P   PercentileCalibrator: T = the P-th percentile of |x|, 0 < P ≤ 100 (default 99.99)
//   adaround[:B]   AdaRoundCalibrator: base candidate B's thresholds (default mse), weights rounded up or
//                  down as AdaRound learns on the calibration images (AdaRound.swift); label "AdaRound",
//                  or "AdaRound(B)" for another base
//
// A name is its raw value ("easyquant", "percentile:99.9") or its label ("EQ", "P99.9"), in any case.
// The raw value is canonical (P printed in its shortest form, "percentile:99.99"), so it can key files
// (`--save-thresholds`) and the two spellings of one candidate compare equal.

import Foundation

public indirect enum PTQMethod: Hashable, Sendable {
    case maxAbs
    case kl
    case easyQuant
    case admm
    case mse
    /// The P-th percentile of |x|, P in (0, 100].
    case percentile(Double)
    /// AdaRound's learned rounding of the weights on top of a base candidate's thresholds.
    case adaRound(PTQMethod)

    /// The paper's four candidates in the fixed order of the DQSS search (§6.5 tie-break order): the
    /// default of `--candidates` and what `dqss ptq --method all` runs.
    public static let paperCandidates: [PTQMethod] = [.maxAbs, .kl, .easyQuant, .admm]

    /// P of a bare `percentile` (TensorRT's and pytorch-quantization's default).
    public static let defaultPercentile = 99.99

    /// AdaRound's base when none is named (`adaround` = `adaround:mse`): an MSE-fitted grid, as AIMET's
    /// and MQBench's AdaRound set the weight range before learning the rounding.
    public static let defaultAdaRoundBase = PTQMethod.mse

    /// Every kind of candidate once (percentile at its default P), for help texts and error messages.
    public static let examples: [PTQMethod] = paperCandidates + [.mse, .percentile(defaultPercentile),
                                                                 .adaRound(defaultAdaRoundBase)]

    /// The canonical flag spelling: "maxabs", "kl", "easyquant", "admm", "mse", "percentile:99.99".
    public var rawValue: String {
        switch self {
        case .maxAbs: "maxabs"
        case .kl: "kl"
        case .easyQuant: "easyquant"
        case .admm: "admm"
        case .mse: "mse"
        case let .percentile(p): "percentile:" + Self.format(p)
        case let .adaRound(base): base == Self.defaultAdaRoundBase ? "adaround" : "adaround:" + base.rawValue
        }
    }

    /// The label the tables print ("Max_Abs", "KL", "EQ", "ADMM", "MSE", "P99.99").
    public var paperName: String {
        switch self {
        case .maxAbs: "Max_Abs"
        case .kl: "KL"
        case .easyQuant: "EQ"
        case .admm: "ADMM"
        case .mse: "MSE"
        case let .percentile(p): "P" + Self.format(p)
        case let .adaRound(base): base == Self.defaultAdaRoundBase ? "AdaRound" : "AdaRound(\(base.paperName))"
        }
    }

    public init?(rawValue: String) { self.init(named: rawValue) }

    /// A candidate from a flag value: its raw name or its label, in any case, surrounding spaces ignored.
    public init?(named name: String) {
        guard let m = try? Self.parse(name) else { return nil }
        self = m
    }

    /// As `init(named:)`, but saying what is wrong (unknown name, or a P that is not a number in (0, 100]).
    public static func parse(_ name: String) throws(PTQMethodError) -> PTQMethod {
        let key = name.trimmingCharacters(in: .whitespaces).lowercased()
        if let m = (paperCandidates + [.mse]).first(where: { $0.rawValue == key || $0.paperName.lowercased() == key }) {
            return m
        }
        if key == "percentile" { return .percentile(defaultPercentile) }
        if key == "adaround" { return .adaRound(defaultAdaRoundBase) }
        // "adaround:B" (flag form) or "adaround(B)" (label form); B any candidate but AdaRound itself.
        for (prefix, suffix) in [("adaround:", ""), ("adaround(", ")")] where key.hasPrefix(prefix) && key.hasSuffix(suffix) {
            let inner = String(key.dropFirst(prefix.count).dropLast(suffix.count))
            let base: PTQMethod
            do { base = try parse(inner) } catch { throw .badAdaRoundBase(name) }
            if case .adaRound = base { throw .badAdaRoundBase(name) }
            return .adaRound(base)
        }
        let value: Substring
        if key.hasPrefix("percentile:") {
            value = key.dropFirst("percentile:".count)
        } else if key.hasPrefix("p"), let first = key.dropFirst().first, first.isNumber {
            value = key.dropFirst()   // the label form, "P99.9"
        } else {
            throw .unknown(name)
        }
        // Double("nan") and Double("inf") parse, so the range test is written to fail for them too.
        guard let p = Double(value), p > 0, p <= 100 else { throw .badPercentile(name) }
        return .percentile(p)
    }

    /// P in its shortest round-trip form without a trailing ".0" (99.99, 99.9, 100).
    static func format(_ p: Double) -> String {
        p == p.rounded() && abs(p) < 1e15 ? String(Int(p)) : String(p)
    }

    public func makeCalibrator() -> any ThresholdCalibrator {
        switch self {
        case .maxAbs: MaxAbsCalibrator()
        case .kl: KLCalibrator()
        case .easyQuant: EasyQuantCalibrator()
        case .admm: ADMMCalibrator()
        case .mse: MSECalibrator()
        case let .percentile(p): PercentileCalibrator(percentile: p)
        case let .adaRound(base): AdaRoundCalibrator(base: base.makeCalibrator())
        }
    }

    /// The candidate whose thresholds this one uses (itself, or AdaRound's base).
    public var thresholdSource: PTQMethod {
        if case let .adaRound(base) = self { return base }
        return self
    }

    /// The paper's four under the name the callers used when they were the only candidates.
    @available(*, deprecated, renamed: "paperCandidates")
    public static var allCases: [PTQMethod] { paperCandidates }
}

/// Why a PTQ candidate name was refused (the command line adds the flag).
public enum PTQMethodError: Error, Equatable, CustomStringConvertible {
    case unknown(String)
    case badPercentile(String)
    case badAdaRoundBase(String)

    public var description: String {
        switch self {
        case let .unknown(name):
            "unknown PTQ candidate '\(name)' (known: "
                + PTQMethod.examples.map(\.rawValue).joined(separator: ", ") + ", percentile:P; or the labels "
                + PTQMethod.examples.map(\.paperName).joined(separator: ", ") + ")"
        case let .badPercentile(name):
            "'\(name)': the percentile P of percentile:P must be a number in (0, 100], e.g. percentile:99.99"
        case let .badAdaRoundBase(name):
            "'\(name)': the base of adaround:B must be another PTQ candidate (maxabs, kl, easyquant, admm, mse, percentile:P), e.g. adaround:mse"
        }
    }
}

extension PTQMethod: CustomStringConvertible {
    public var description: String { rawValue }
}

/// Encoded as its raw value, as when PTQMethod was a String enum (files written before stay readable).
extension PTQMethod: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try Self.parse(text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}
