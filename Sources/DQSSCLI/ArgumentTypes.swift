// Flag values as types: every enumerated flag (methods, modes, schedules, options of the QAT candidates)
// parses into its type, so an unknown value is refused by the parser with the flag named and the valid
// values listed (exit 64), and no command unwraps a string after validate().

import ArgumentParser
import DQSSQuant
import DQSSSearch
import DQSSRun

// MARK: - Library enums

extension PTQMethod: ExpressibleByArgument {
    /// The raw name ("easyquant") or the paper's label ("EQ", "Max_Abs"), in any case: the tables print the labels.
    public init?(argument: String) { self.init(named: argument) }
}

extension QATMethod: ExpressibleByArgument {
    /// In any case ("LSQ" as the tables print it, or "lsq").
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension SearchSchedule: ExpressibleByArgument {}
extension SearchOptimizer: ExpressibleByArgument {}
extension RefinementStarts: ExpressibleByArgument {}
extension QATSearchSchedule.Kind: ExpressibleByArgument {}

extension FirstLastBits: ExpressibleByArgument {
    public var defaultValueDescription: String { description }
    public static var allValueStrings: [String] { ["fp32"] + (2...16).map(String.init) }
}

// MARK: - Lists

/// `--peers`: the peer rows of `dqss search --mode ptq` (SearchPeer.parse: none, all, or a list).
struct SearchPeers: ExpressibleByArgument {
    var peers: [SearchPeer]

    init(_ peers: [SearchPeer]) { self.peers = peers }

    init?(argument: String) {
        guard let p = SearchPeer.parse(argument) else { return nil }
        peers = p
    }

    var defaultValueDescription: String { peers == SearchPeer.allCases ? "all" : peers.map(\.rawValue).joined(separator: ",") }
    static var allValueStrings: [String] { ["none", "all"] + SearchPeer.allCases.map(\.rawValue) }
}

/// `--candidates`: PTQ methods in branch (tie-break) order, comma-separated, none repeated. Parsed by
/// `PTQCandidates.parse` as the option's transform, so a refused value says why (ArgumentParser adds the flag).
struct PTQCandidates: ExpressibleByArgument {
    var methods: [PTQMethod]

    init(_ methods: [PTQMethod]) { self.methods = methods }

    init?(argument: String) {
        guard let c = try? Self.parse(argument) else { return nil }
        self = c
    }

    static func parse(_ argument: String) throws -> PTQCandidates {
        let methods = try PTQMethods.parse(argument)
        var seen = Set<PTQMethod>()
        for m in methods where !seen.insert(m).inserted {
            throw ValidationError("candidate '\(m.rawValue)' is listed twice")
        }
        return PTQCandidates(methods)
    }

    var defaultValueDescription: String { methods.map(\.rawValue).joined(separator: ",") }
}

/// `dqss ptq --method`: one PTQ method, a comma-separated list, or `all` (the paper's four).
struct PTQMethodSelection: ExpressibleByArgument {
    var methods: [PTQMethod]

    init(_ methods: [PTQMethod]) { self.methods = methods }

    init?(argument: String) {
        guard let s = try? Self.parse(argument) else { return nil }
        self = s
    }

    static func parse(_ argument: String) throws -> PTQMethodSelection {
        if argument.lowercased() == "all" { return PTQMethodSelection(PTQMethod.paperCandidates) }
        return PTQMethodSelection(try PTQMethods.parse(argument))
    }
}

/// A comma-separated list of PTQ candidate names, refused with the reason of the first bad one.
enum PTQMethods {
    static func parse(_ argument: String) throws -> [PTQMethod] {
        let names = argument.split(separator: ",", omittingEmptySubsequences: false)
        guard !argument.isEmpty else { throw ValidationError("empty list of PTQ candidates") }
        return try names.map { name in
            do { return try PTQMethod.parse(String(name)) } catch { throw ValidationError("\(error)") }
        }
    }

    /// Transform of a single-candidate option (`--weight-method`).
    static func parseOne(_ argument: String) throws -> PTQMethod {
        do { return try PTQMethod.parse(argument) } catch { throw ValidationError("\(error)") }
    }
}

/// `--milestones`: comma-separated epochs (after warm-up); empty for none.
struct Milestones: ExpressibleByArgument {
    var epochs: [Double]

    init(_ epochs: [Double]) { self.epochs = epochs }

    init?(argument: String) {
        if argument.trimmingCharacters(in: .whitespaces).isEmpty { epochs = []; return }
        let vs = argument.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !vs.contains(nil), vs.allSatisfy({ $0! >= 0 }) else { return nil }
        epochs = vs.compactMap { $0 }
    }

    var defaultValueDescription: String {
        epochs.map { $0 == $0.rounded() ? String(Int($0)) : String($0) }.joined(separator: ",")
    }
}

// MARK: - Command-line choices

/// `dqss search --mode`.
enum SearchMode: String, ExpressibleByArgument, CaseIterable { case ptq, qat }

/// `dqss search --task`.
enum SearchTask: String, ExpressibleByArgument, CaseIterable { case classification, sr }

/// `dqss search --mode ptq --search-loss`: cross-entropy with the labels, or KL to the FP32 network.
enum SearchLoss: String, ExpressibleByArgument, CaseIterable { case ce, kd }

/// `dqss search --task sr --target`: L1 to the HR patch or to the FP32 network's output.
enum SRSearchTarget: String, ExpressibleByArgument, CaseIterable { case hr, fp32 }

/// `--dorefa-weights`.
enum DoReFaWeights: String, ExpressibleByArgument, CaseIterable { case symmetric, original }

/// `--dorefa-rescale`.
enum OnOff: String, ExpressibleByArgument, CaseIterable { case on, off }

/// `--lsq-grad-n`.
enum LSQGradientN: String, ExpressibleByArgument, CaseIterable { case features, batch }

/// `--pact-weights`.
enum PACTWeights: String, ExpressibleByArgument, CaseIterable { case clip, dorefa }

extension WeightGranularity: ExpressibleByArgument {}
