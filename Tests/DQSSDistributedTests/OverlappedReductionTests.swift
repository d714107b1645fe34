// BucketedGradientReducer.overlapBackward: buckets reduced while backward runs (issue 21). A recording
// communicator stands in for R identical ranks (sum = R · value) and logs, in one shared log with the
// layers, when each reduction starts, is tested and completes, so the tests see WHEN a bucket starts
// relative to the backward of the layers before it.

import Testing
import DQSSTensor
import DQSSLayers
import DQSSDistributed

/// One log shared by the communicator and the spy layers.
private final class EventLog { var events: [String] = [] }

/// R ranks holding the same values: a sum is R · value. A started reduction completes only when waited
/// for (or after `testsToComplete` tests), like a non-blocking MPI collective.
private final class RecordingCommunicator: Communicator, @unchecked Sendable {
    let log: EventLog
    let ranks: Int
    let testsToComplete: Int
    private(set) var started = 0
    init(log: EventLog, ranks: Int = 2, testsToComplete: Int = .max) {
        self.log = log; self.ranks = ranks; self.testsToComplete = testsToComplete
    }
    var rank: Int { 0 }
    var size: Int { ranks }

    final class Pending: PendingCollective {
        let apply: () -> Void, log: EventLog, id: Int, testsToComplete: Int
        var tests = 0, done = false
        init(apply: @escaping () -> Void, log: EventLog, id: Int, testsToComplete: Int) {
            self.apply = apply; self.log = log; self.id = id; self.testsToComplete = testsToComplete
        }
        func test() -> Bool {
            tests += 1
            if !done && tests >= testsToComplete { finish() }
            return done
        }
        func wait() { if !done { finish() } }
        private func finish() { apply(); done = true; log.events.append("done \(id)") }
    }

    func startAllreduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, _ op: ReduceOperation) -> any PendingCollective {
        let id = started
        started += 1
        log.events.append("start \(id) (\(count))")
        let r = Float(ranks)
        return Pending(apply: { for k in 0..<count { buffer[k] *= r } }, log: log, id: id, testsToComplete: testsToComplete)
    }
    func allreduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, _ op: ReduceOperation) {
        log.events.append("blocking (\(count))")
        for k in 0..<count { buffer[k] *= Float(ranks) }
    }
    func allreduce(_ buffer: UnsafeMutablePointer<Double>, count: Int, _ op: ReduceOperation) {}
    func allreduce(_ buffer: UnsafeMutablePointer<Int64>, count: Int, _ op: ReduceOperation) {}
    func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, root: Int) {}
    func allgather(_ values: [Double]) -> [[Double]] { [values] }
    func barrier() {}
    func abort(code: Int32, message: String) -> Never { fatalError(message) }
}

/// Writes "backward NAME" to the log when its backward runs; its parameter's gradient gets 1, 2, 3...
/// (plus `offset`), so every element is distinguishable.
private final class SpyLayer: UnaryLayer {
    let name: String, log: EventLog, weight: Parameter, offset: Float
    var isTraining = false
    init(_ name: String, size: Int, log: EventLog, offset: Float) {
        self.name = name; self.log = log; self.offset = offset
        weight = Parameter(Tensor(shape: [size]))
    }
    var parameters: [(name: String, parameter: Parameter)] { [("weight", weight)] }
    func forward(_ x: Tensor) -> Tensor { x }
    func backward(_ g: Tensor) -> Tensor {
        log.events.append("backward \(name)")
        for k in 0..<weight.grad.count { weight.grad.data[k] += offset + Float(k + 1) }
        return g
    }
}

/// Uses a parameter that also lives elsewhere in the tree (tied weights).
private final class TiedLayer: UnaryLayer {
    let shared: Parameter
    var isTraining = false
    init(_ shared: Parameter) { self.shared = shared }
    var parameters: [(name: String, parameter: Parameter)] { [("weight", shared)] }
    func forward(_ x: Tensor) -> Tensor { x }
    func backward(_ g: Tensor) -> Tensor {
        for k in 0..<shared.grad.count { shared.grad.data[k] += 1000 }
        return g
    }
}

@Suite("BucketedGradientReducer overlapped with backward")
struct OverlappedReductionTests {
    /// a (4) · [b (3) · c (5)] · d (2): nested Sequentials, as a ResNet's stages.
    private func network(_ log: EventLog, nanInC: Bool = false) -> (Sequential, [SpyLayer]) {
        let a = SpyLayer("a", size: 4, log: log, offset: 0), b = SpyLayer("b", size: 3, log: log, offset: 10)
        let c = SpyLayer("c", size: 5, log: log, offset: nanInC ? .nan : 20), d = SpyLayer("d", size: 2, log: log, offset: 30)
        return (Sequential([a, Sequential([b, c]), d]), [a, b, c, d])
    }

    private func backward(_ net: Sequential) { _ = net.backward(Tensor(shape: [1])) }

    @Test("each bucket starts as soon as its layers' backward has returned, in backward order, while backward goes on")
    func startsDuringBackward() {
        let log = EventLog()
        let (net, layers) = network(log)
        let reducer = BucketedGradientReducer(communicator: RecordingCommunicator(log: log), bucketElements: 5)
        reducer.overlapBackward(of: net)
        let params = net.namedParameters().map(\.parameter)   // a, b, c, d
        reducer.beginBackward(params, localCount: 1, globalCount: 2)
        backward(net)
        // Reverse order d (2) c (5) b (3) a (4), buckets of ≤ 5: [d] [c] [b] [a]. c's bucket starts when
        // c has returned and before b runs; a's bucket only when a has returned.
        #expect(log.events == ["backward d", "start 0 (2)", "backward c", "start 1 (5)", "backward b", "start 2 (3)",
                               "backward a", "start 3 (4)"])
        reducer.averageGradients(params, localCount: 1, globalCount: 2)
        #expect(log.events.suffix(4) == ["done 0", "done 1", "done 2", "done 3"])
        #expect(reducer.lastStartedDuringBackward == 4 && reducer.bucketCount == 4 && reducer.lastBytes == 14 * 4)
        // Two ranks with the same gradient, each half of the batch: the average is the gradient itself.
        for l in layers { #expect(l.weight.grad.array == (0..<l.weight.grad.count).map { l.offset + Float($0 + 1) }) }
    }

    @Test("the overlapped result equals the blocking one bit for bit, for shares that do not divide evenly")
    func sameAsBlocking() {
        for (local, global, ranks) in [(3, 7, 3), (5, 5, 1), (0, 4, 2)] {
            var results: [[[Float]]] = []
            for overlap in [false, true] {
                let log = EventLog()
                let (net, layers) = network(log, nanInC: local == 0)   // an empty share's NaN must not leak
                let reducer = BucketedGradientReducer(communicator: RecordingCommunicator(log: log, ranks: ranks), bucketElements: 6)
                if overlap { reducer.overlapBackward(of: net) }
                let params = net.namedParameters().map(\.parameter)
                reducer.beginBackward(params, localCount: local, globalCount: global)
                backward(net)
                reducer.averageGradients(params, localCount: local, globalCount: global)
                #expect(reducer.lastStartedDuringBackward == (overlap ? 4 : 0))   // [d] [c] [b] [a]
                results.append(layers.map(\.weight.grad.array))
            }
            #expect(results[0] == results[1])
            if local == 0 { #expect(results[1].allSatisfy { $0.allSatisfy { $0 == 0 } }) }
        }
    }

    @Test("parameters outside the tree and tied parameters go last and start only after backward")
    func unannouncedGoLast() {
        let log = EventLog()
        let (net, _) = network(log)
        let shared = Parameter(Tensor(shape: [3]))
        net.append(TiedLayer(shared))
        let wrapped = Sequential([TiedLayer(shared), net])   // `shared` appears twice in the tree
        let outside = Parameter(Tensor(shape: [2]))           // a quantizer's parameter, held outside the tree
        for k in 0..<2 { outside.grad.data[k] = 7 }
        let reducer = BucketedGradientReducer(communicator: RecordingCommunicator(log: log), bucketElements: 5)
        reducer.overlapBackward(of: wrapped)
        // outside first (in reverse order it would be the last bucket to be final); `shared` once.
        let params = [outside, shared] + net.namedParameters().map(\.parameter).filter { $0 !== shared }
        reducer.beginBackward(params, localCount: 1, globalCount: 1)
        _ = wrapped.backward(Tensor(shape: [1]))
        let startedInBackward = log.events.filter { $0.hasPrefix("start") }.count
        #expect(startedInBackward == 4)   // d, c, b, a: nothing waits for the tied or the outside parameter
        reducer.averageGradients(params, localCount: 1, globalCount: 1)
        // The rest, in the given order, after backward: [outside (2), shared (3)].
        #expect(log.events.filter { $0.hasPrefix("start") }.suffix(1) == ["start 4 (5)"])
        #expect(reducer.bucketCount == 5 && reducer.lastStartedDuringBackward == 4)
        #expect(shared.grad.array == [4000, 4000, 4000] && outside.grad.array == [14, 14])   // sum over 2 identical ranks
    }

    @Test("started reductions are tested (moved forward) at every finished child; without beginBackward nothing starts early")
    func progressAndUnarmed() {
        let log = EventLog()
        let (net, _) = network(log)
        let comm = RecordingCommunicator(log: log, testsToComplete: 1)
        let reducer = BucketedGradientReducer(communicator: comm, bucketElements: 5)
        reducer.overlapBackward(of: net)
        let params = net.namedParameters().map(\.parameter)
        reducer.beginBackward(params, localCount: 1, globalCount: 2)
        backward(net)
        // Completing on the first test: each bucket is done right after it starts (same event).
        #expect(Array(log.events.prefix(4)) == ["backward d", "start 0 (2)", "done 0", "backward c"])
        reducer.averageGradients(params, localCount: 1, globalCount: 2)
        log.events = []
        // Unarmed: the observer ignores the backward; averageGradients reduces blocking, in reverse-order buckets.
        backward(net)
        reducer.averageGradients(params, localCount: 1, globalCount: 2)
        #expect(log.events == ["backward d", "backward c", "backward b", "backward a",
                               "blocking (2)", "blocking (5)", "blocking (3)", "blocking (4)"])
        #expect(reducer.lastStartedDuringBackward == 0)
    }
}
