// Adapters that turn multi-input ops into UnaryLayers so `checkGradients` can check every input:
// the extra inputs become Parameters of the wrapper, whose gradients the checker compares with
// central differences like any weight.

import DQSSTensor
import DQSSLayers

/// y = Add(x, b) with b a parameter.
final class AddProbe: UnaryLayer {
    var isTraining = false
    let op = Add()
    let other: Parameter
    init(_ b: Tensor) { other = Parameter(b) }
    var parameters: [(name: String, parameter: Parameter)] { [("b", other)] }
    func forward(_ x: Tensor) -> Tensor { op.forward(x, other.value) }
    func backward(_ g: Tensor) -> Tensor {
        let (ga, gb) = op.backward(g)
        other.grad.add(gb)
        return ga
    }
}

/// y = Concat([x, rest...]) with the rest as parameters.
final class ConcatProbe: UnaryLayer {
    var isTraining = false
    let op = Concat()
    let rest: [Parameter]
    init(_ rest: [Tensor]) { self.rest = rest.map { Parameter($0) } }
    var parameters: [(name: String, parameter: Parameter)] { rest.enumerated().map { ("x\($0.offset + 1)", $0.element) } }
    func forward(_ x: Tensor) -> Tensor { op.forward([x] + rest.map(\.value)) }
    func backward(_ g: Tensor) -> Tensor {
        let gs = op.backward(g)
        for (p, gp) in zip(rest, gs.dropFirst()) { p.grad.add(gp) }
        return gs[0]
    }
}

/// y = Concat([a·s1, b·s2]) of ChannelSplit(x) = (a, b), with fixed different scales so that a wrong
/// routing of either half shows up in the gradient.
final class SplitProbe: UnaryLayer {
    var isTraining = false
    let op: ChannelSplit
    let join = Concat()
    let a = Tensor(shape: [0]), b = Tensor(shape: [0])
    let ga = Tensor(shape: [0]), gb = Tensor(shape: [0])
    init(at: Int) { op = ChannelSplit(at: at) }
    func forward(_ x: Tensor) -> Tensor {
        let (p, q) = op.forward(x)
        a.assign(p); a.scale(by: 2)
        b.assign(q); b.scale(by: -3)
        return join.forward([a, b])
    }
    func backward(_ g: Tensor) -> Tensor {
        let gs = join.backward(g)
        ga.assign(gs[0]); ga.scale(by: 2)
        gb.assign(gs[1]); gb.scale(by: -3)
        return op.backward(ga, gb)
    }
}
