import Testing
import DQSSTensor
import DQSSLayers
import DQSSDistributed

@Suite("BatchGradientReducer")
struct GradientReducerTests {
    func parameters(_ counts: [Int]) -> [Parameter] {
        counts.enumerated().map { i, n in
            let p = Parameter(Tensor(shape: [n]))
            for k in 0..<n { p.grad.data[k] = Float(i * 100 + k) + 0.25 }
            return p
        }
    }

    @Test("buckets: parameters in order, a bucket closes before it would exceed the limit, big ones alone")
    func bucketLayout() {
        #expect(BucketedGradientReducer.buckets(counts: [4, 3, 6], bucketElements: 5) == [[0], [1], [2]])
        #expect(BucketedGradientReducer.buckets(counts: [1, 1, 1, 10, 1], bucketElements: 4) == [[0, 1, 2], [3], [4]])
        #expect(BucketedGradientReducer.buckets(counts: [2, 2, 2, 2], bucketElements: 4) == [[0, 1], [2, 3]])
        #expect(BucketedGradientReducer.buckets(counts: [], bucketElements: 4).isEmpty)
        // ResNet-50-sized gradient (25.5 M floats) in 4 M-float buckets: about 7 calls.
        let resnet50 = [Int](repeating: 25_557_032 / 161, count: 161)
        #expect(BucketedGradientReducer.buckets(counts: resnet50, bucketElements: 1 << 22).count == 7)
    }

    @Test("one rank holding the whole batch: gradients unchanged bit for bit, bytes counted")
    func wholeBatch() {
        let ps = parameters([5, 3, 7])
        let before = ps.map(\.grad.array)
        let r = BucketedGradientReducer(communicator: SingleProcess(), bucketElements: 8)
        r.averageGradients(ps, localCount: 16, globalCount: 16)
        #expect(ps.map(\.grad.array) == before)
        #expect(r.bucketCount == 2 && r.lastBytes == 15 * 4 && r.calls == 1)   // [5, 3] [7]
    }

    @Test("part of the global batch: g ← (n/N)·g; an empty share contributes zeros; frozen parameters untouched")
    func partialBatch() {
        for reducer in [BucketedGradientReducer(communicator: SingleProcess()) as any BatchGradientReducer,
                        LocalGradientReducer()] {
            let ps = parameters([4, 2])
            ps[1].requiresGrad = false
            let before = ps.map(\.grad.array)
            reducer.averageGradients(ps, localCount: 3, globalCount: 12)
            #expect(ps[0].grad.array == before[0].map { $0 * 0.25 })
            #expect(ps[1].grad.array == before[1])
        }
        let ps = parameters([3])
        ps[0].grad.data[1] = .nan
        BucketedGradientReducer(communicator: SingleProcess()).averageGradients(ps, localCount: 0, globalCount: 8)
        #expect(ps[0].grad.array == [0, 0, 0])
    }
}
