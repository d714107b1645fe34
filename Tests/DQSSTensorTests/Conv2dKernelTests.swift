import Testing
import DQSSTensor
import _TestSupport

/// Shapes covering every path of Conv2dKernel: im2col (single image and multi-image chunks), groups,
/// depthwise, 1×1, stride 2, padding 0/1, non-square inputs, with and without bias.
private let cases: [(ConvGeometry, bias: Bool)] = [
    (ConvGeometry(batch: 2, inChannels: 3, inH: 5, inW: 5, outChannels: 4, kernel: 3, padding: 1), true),
    (ConvGeometry(batch: 5, inChannels: 4, inH: 6, inW: 7, outChannels: 6, kernel: 3, padding: 1), false),
    (ConvGeometry(batch: 3, inChannels: 4, inH: 7, inW: 5, outChannels: 6, kernel: 3, stride: 2, padding: 1), true),
    (ConvGeometry(batch: 2, inChannels: 4, inH: 8, inW: 6, outChannels: 4, kernel: 3, stride: 2, padding: 0), false),
    (ConvGeometry(batch: 3, inChannels: 4, inH: 6, inW: 6, outChannels: 6, kernel: 3, padding: 1, groups: 2), true),
    (ConvGeometry(batch: 4, inChannels: 6, inH: 6, inW: 5, outChannels: 6, kernel: 3, padding: 1, groups: 6), true),
    (ConvGeometry(batch: 3, inChannels: 4, inH: 7, inW: 7, outChannels: 4, kernel: 3, stride: 2, padding: 1, groups: 4), false),
    (ConvGeometry(batch: 3, inChannels: 4, inH: 5, inW: 5, outChannels: 8, kernel: 3, padding: 1, groups: 4), true),
    (ConvGeometry(batch: 3, inChannels: 5, inH: 4, inW: 6, outChannels: 7, kernel: 1), true),
    (ConvGeometry(batch: 2, inChannels: 4, inH: 4, inW: 4, outChannels: 6, kernel: 1, groups: 2), false),
    (ConvGeometry(batch: 3, inChannels: 4, inH: 7, inW: 6, outChannels: 5, kernel: 1, stride: 2), true),
    (ConvGeometry(batch: 1, inChannels: 3, inH: 9, inW: 9, outChannels: 2, kernel: 5, stride: 2, padding: 2), true),
    (ConvGeometry(batch: 1, inChannels: 2, inH: 3, inW: 3, outChannels: 2, kernel: 3, padding: 0), false),
    // Same-size stride-1 planes (the shifted-plane im2col path): wider kernel, tiny and 1-row planes.
    (ConvGeometry(batch: 2, inChannels: 3, inH: 6, inW: 5, outChannels: 4, kernel: 5, padding: 2), true),
    (ConvGeometry(batch: 3, inChannels: 2, inH: 2, inW: 2, outChannels: 3, kernel: 3, padding: 1), false),
    (ConvGeometry(batch: 2, inChannels: 2, inH: 1, inW: 4, outChannels: 2, kernel: 3, padding: 1), true),
    (ConvGeometry(batch: 9, inChannels: 8, inH: 8, inW: 8, outChannels: 8, kernel: 3, padding: 1), false),
]

private struct ConvCase {
    let g: ConvGeometry
    let x, w, b, dy: Tensor
    init(_ g: ConvGeometry, bias: Bool, seed: UInt64) {
        var rng = RNG(seed: seed)
        self.g = g
        x = Tensor.uniform(g.inputShape, rng: &rng)
        w = Tensor.uniform(g.weightShape, rng: &rng)
        b = bias ? Tensor.uniform([g.outChannels], rng: &rng) : Tensor(shape: [0])
        dy = Tensor.uniform(g.outputShape, rng: &rng)
    }
    var biasPointer: UnsafePointer<Float>? { b.count > 0 ? UnsafePointer(b.data) : nil }

    func naive() -> (y: Tensor, dx: Tensor, dw: Tensor, db: Tensor) {
        let y = Tensor(shape: g.outputShape), dx = Tensor(shape: g.inputShape)
        let dw = Tensor(shape: g.weightShape), db = Tensor(shape: [g.outChannels])
        Conv2dNaive.forward(g, input: x.data, weight: w.data, bias: biasPointer, output: y.data)
        Conv2dNaive.backwardData(g, gradOutput: dy.data, weight: w.data, gradInput: dx.data)
        Conv2dNaive.backwardWeight(g, gradOutput: dy.data, input: x.data, gradWeight: dw.data)
        Conv2dNaive.backwardBias(g, gradOutput: dy.data, gradBias: db.data)
        return (y, dx, dw, db)
    }

    func fast(_ ws: Conv2dWorkspace) -> (y: Tensor, dx: Tensor, dw: Tensor, db: Tensor) {
        let y = Tensor(shape: g.outputShape, repeating: .nan), dx = Tensor(shape: g.inputShape, repeating: .nan)
        let dw = Tensor(shape: g.weightShape, repeating: .nan), db = Tensor(shape: [g.outChannels], repeating: .nan)
        Conv2dKernel.forward(g, input: x.data, weight: w.data, bias: biasPointer, output: y.data, workspace: ws)
        Conv2dKernel.backward(g, gradOutput: dy.data, input: x.data, weight: w.data, gradInput: dx.data,
                              gradWeight: dw.data, gradBias: db.data, accumulate: false, workspace: ws)
        return (y, dx, dw, db)
    }
}

@Suite("Conv2dKernel", .serialized)
struct Conv2dKernelTests {
    @Test("fast forward, backward-data, backward-weight and bias match the naive reference, both backends",
          arguments: cases.indices, ConvBackend.allCases)
    func fastMatchesNaive(_ i: Int, _ backend: ConvBackend) {
        let (g, bias) = cases[i]
        #expect(g.validationError == nil)
        let c = ConvCase(g, bias: bias, seed: UInt64(100 + i))
        let ref = c.naive()
        // Several chunk sizes: one image per chunk, several, and the whole batch in one chunk.
        for target in [1, 2 * g.outSpatial + 1, 1 << 20] {
            let got = c.fast(Conv2dWorkspace(targetColumns: target, backend: backend))
            let tag = "\(g) chunk target \(target) \(backend)"
            #expect(maxAbsDiff(got.y.array, ref.y.array) < 1e-4, "forward \(tag)")
            #expect(maxAbsDiff(got.dx.array, ref.dx.array) < 1e-4, "backward-data \(tag)")
            #expect(maxAbsDiff(got.dw.array, ref.dw.array) < 1e-4, "backward-weight \(tag)")
            if bias { #expect(maxAbsDiff(got.db.array, ref.db.array) < 1e-4, "bias \(tag)") }
        }
    }

    @Test("accumulate adds to existing gradients; overwrite ignores them", arguments: ConvBackend.allCases)
    func accumulateSemantics(_ backend: ConvBackend) {
        let g = ConvGeometry(batch: 3, inChannels: 4, inH: 5, inW: 5, outChannels: 4, kernel: 3, padding: 1)
        for g in [g, ConvGeometry(batch: 3, inChannels: 4, inH: 5, inW: 5, outChannels: 4, kernel: 3, padding: 1, groups: 4)] {
            let c = ConvCase(g, bias: true, seed: 9)
            let ref = c.naive()
            let dw = Tensor(shape: g.weightShape, repeating: 1), db = Tensor(shape: [g.outChannels], repeating: 1)
            Conv2dKernel.backward(g, gradOutput: c.dy.data, input: c.x.data, weight: c.w.data, gradInput: nil,
                                  gradWeight: dw.data, gradBias: db.data, accumulate: true,
                                  workspace: Conv2dWorkspace(targetColumns: 1, backend: backend))
            #expect(maxAbsDiff(dw.array, ref.dw.array.map { $0 + 1 }) < 1e-4)
            #expect(maxAbsDiff(db.array, ref.db.array.map { $0 + 1 }) < 1e-4)
            Conv2dKernel.backwardWeight(g, gradOutput: c.dy.data, input: c.x.data, gradWeight: dw.data,
                                        accumulate: false, workspace: Conv2dWorkspace(backend: backend))
            #expect(maxAbsDiff(dw.array, ref.dw.array) < 1e-4)
            let dx = Tensor(shape: g.inputShape, repeating: 5)
            Conv2dKernel.backwardData(g, gradOutput: c.dy.data, weight: c.w.data, gradInput: dx.data,
                                      workspace: Conv2dWorkspace(backend: backend))
            #expect(maxAbsDiff(dx.array, ref.dx.array) < 1e-4)
        }
    }

    @Test("hand-computed 1x1x3x3 input, 2x2 kernel, padding 0 and 1", arguments: ConvBackend.allCases)
    func handComputed(_ backend: ConvBackend) {
        // x = [[1,2,3],[4,5,6],[7,8,9]], W = [[1,0],[0,-1]] -> y[i,j] = x[i,j] - x[i+1,j+1] = -4 everywhere.
        let x = Tensor(shape: [1, 1, 3, 3], values: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        let w = Tensor(shape: [1, 1, 2, 2], values: [1, 0, 0, -1])
        let b = Tensor(shape: [1], values: [0.5])
        let g = ConvGeometry(batch: 1, inChannels: 1, inH: 3, inW: 3, outChannels: 1, kernel: 2)
        let y = Tensor(shape: g.outputShape)
        Conv2dKernel.forward(g, input: x.data, weight: w.data, bias: b.data, output: y.data, workspace: Conv2dWorkspace(backend: backend))
        #expect(y.array == [-3.5, -3.5, -3.5, -3.5])
        // Padding 1: output 4x4; corner (0,0) sees only x[0,0] through W[1,1] = -1.
        let gp = ConvGeometry(batch: 1, inChannels: 1, inH: 3, inW: 3, outChannels: 1, kernel: 2, padding: 1)
        let yp = Tensor(shape: gp.outputShape)
        Conv2dKernel.forward(gp, input: x.data, weight: w.data, bias: nil, output: yp.data, workspace: Conv2dWorkspace(backend: backend))
        #expect(yp.array == [-1, -2, -3, 0, -4, -4, -4, 3, -7, -4, -4, 6, 0, 7, 8, 9])
        // dW with dy = 1: dW[p,q] = Σ over the 2x2 window positions of x = [12, 16, 24, 28].
        let dw = Tensor(shape: [1, 1, 2, 2]), ones = Tensor(shape: [1, 1, 2, 2], repeating: 1)
        Conv2dKernel.backwardWeight(g, gradOutput: ones.data, input: x.data,
                                    gradWeight: dw.data, accumulate: false, workspace: Conv2dWorkspace(backend: backend))
        #expect(dw.array == [12, 16, 24, 28])
        withExtendedLifetime(ones) {}
    }

    @Test("results with 1 and 2 threads agree to float tolerance (oneDNN: bit for bit)", arguments: ConvBackend.allCases)
    func threadIndependence(_ backend: ConvBackend) {
        let saved = Threads.count
        defer { Threads.configure(saved) }
        for (i, (g, bias)) in cases.enumerated() {
            let c = ConvCase(g, bias: bias, seed: UInt64(200 + i))
            Threads.configure(1)
            let one = c.fast(Conv2dWorkspace(targetColumns: 64, backend: backend))
            Threads.configure(2)
            let two = c.fast(Conv2dWorkspace(targetColumns: 64, backend: backend))
            if backend == .oneDNN {
                // Chunks depend on the batch and geometry only, each oneDNN call runs on one thread and dW
                // is summed in chunk order: identical results.
                #expect(one.y.array == two.y.array && one.dx.array == two.dx.array && one.dw.array == two.dw.array,
                        "\(g)")
            }
            #expect(maxAbsDiff(one.y.array, two.y.array) < 1e-5, "\(g)")
            #expect(maxAbsDiff(one.dx.array, two.dx.array) < 1e-5, "\(g)")
            #expect(maxAbsDiff(one.dw.array, two.dw.array) < 1e-5, "\(g)")
            #expect(maxAbsDiff(one.db.array, two.db.array) < 1e-5, "\(g)")
        }
    }

    @Test("oneDNN runs the ResNet shapes itself (no silent fallback to im2col)")
    func oneDNNIsUsed() {
        let ws = Conv2dWorkspace(backend: .oneDNN)
        for g in [ConvGeometry(batch: 8, inChannels: 16, inH: 32, inW: 32, outChannels: 16, kernel: 3, padding: 1),
                  ConvGeometry(batch: 8, inChannels: 16, inH: 32, inW: 32, outChannels: 32, kernel: 3, stride: 2, padding: 1),
                  ConvGeometry(batch: 2, inChannels: 64, inH: 14, inW: 14, outChannels: 256, kernel: 1)] {
            let impl = ws.implementation(for: g)
            #expect(impl != "im2col" && impl.split(separator: ",").count == 3, "\(g): \(impl)")
        }
        #expect(Conv2dWorkspace(backend: .im2col).implementation(for: cases[0].0) == "im2col")
    }

    @Test("DQSS_CONV_BACKEND: known values select, unset means oneDNN, anything else warns naming the variable")
    func backendFromEnvironment() {
        #expect(ConvBackend.fromEnvironment(nil) == (.oneDNN, nil))
        #expect(ConvBackend.fromEnvironment("im2col") == (.im2col, nil))
        #expect(ConvBackend.fromEnvironment("OneDNN") == (.oneDNN, nil))
        let (b, warning) = ConvBackend.fromEnvironment("mkl")
        #expect(b == .oneDNN)
        #expect(warning?.contains("DQSS_CONV_BACKEND=mkl") == true && warning?.contains("im2col") == true)
    }

    @Test("geometry: output size, FLOPs, validation")
    func geometry() {
        let g = ConvGeometry(batch: 128, inChannels: 64, inH: 32, inW: 32, outChannels: 64, kernel: 3, padding: 1)
        #expect(g.outH == 32 && g.outW == 32 && g.patchSize == 576)
        #expect(g.forwardFLOPs == 2 * 128 * 64 * 1024 * 576)
        let s2 = ConvGeometry(batch: 1, inChannels: 16, inH: 32, inW: 32, outChannels: 32, kernel: 3, stride: 2, padding: 1)
        #expect(s2.outH == 16 && s2.outW == 16)
        #expect(ConvGeometry(batch: 1, inChannels: 6, inH: 4, inW: 4, outChannels: 4, kernel: 3, groups: 4).validationError != nil)
        #expect(ConvGeometry(batch: 1, inChannels: 4, inH: 2, inW: 2, outChannels: 4, kernel: 3).validationError != nil)
        #expect(ConvGeometry(batch: 1, inChannels: 4, inH: 4, inW: 4, outChannels: 4, kernel: 3, groups: 4).isDepthwise)
    }
}
