import Foundation
import Testing
import DQSSSearch

@Suite("ArchitectureSoftmax")
struct ArchitectureSoftmaxTests {
    @Test("α = 0.1 everywhere gives θ = 0.25 exactly; Eq. 8 read literally gives 2.7629 (the typo)")
    func initialTheta() {
        let theta = ArchitectureSoftmax.probabilities([0.1, 0.1, 0.1, 0.1])
        #expect(theta == [0.25, 0.25, 0.25, 0.25])
        let literal = exp(0.1) / 0.4
        #expect(abs(literal - 2.7629) < 1e-4)
    }

    @Test("∂L/∂α = [−0.375, −0.125, 0.125, 0.375] for θ = 0.25 and ⟨G, A_i⟩ = [1, 2, 3, 4]; sums to 0")
    func gradientOracle() {
        let d = ArchitectureSoftmax.logitGradient(theta: [0.25, 0.25, 0.25, 0.25], thetaGradient: [1, 2, 3, 4])
        #expect(d == [-0.375, -0.125, 0.125, 0.375])
        #expect(d.reduce(0, +) == 0)
    }

    @Test("logit gradient matches central differences of Σ g_i θ_i(l/τ) in Float64, for several τ")
    func finiteDifferencesWithTemperature() {
        let logits = [0.3, -1.2, 0.7, 0.05, 2.0]
        let g = [1.5, -0.25, 3.0, 0.5, -2.0]
        for tau in [1.0, 0.5, 0.02 * 5, 3.0] {
            let theta = ArchitectureSoftmax.probabilities(logits, temperature: tau)
            #expect(abs(theta.reduce(0, +) - 1) < 1e-12)
            let analytic = ArchitectureSoftmax.logitGradient(theta: theta, thetaGradient: g, temperature: tau)
            #expect(abs(analytic.reduce(0, +)) < 1e-12)
            for k in logits.indices {
                func loss(_ d: Double) -> Double {
                    var l = logits
                    l[k] += d
                    return zip(ArchitectureSoftmax.probabilities(l, temperature: tau), g).reduce(0) { $0 + $1.0 * $1.1 }
                }
                let h = 1e-6
                let numeric = (loss(h) - loss(-h)) / (2 * h)
                #expect(abs(numeric - analytic[k]) <= 1e-6 * max(1, abs(analytic[k])), "τ \(tau) k \(k)")
            }
        }
    }

    @Test("argmax: ties go to the lowest index; logits ±1e4 give an exact one-hot θ")
    func argmaxAndOneHot() {
        #expect(ArchitectureSoftmax.argmax([0.1, 0.3, 0.3, 0.2]) == 1)
        #expect(ArchitectureSoftmax.argmax([0.1, 0.1, 0.1, 0.1]) == 0)
        #expect(ArchitectureSoftmax.argmax([Float(-1), -1, 2, 2]) == 2)
        #expect(ArchitectureSoftmax.probabilities([-1e4, -1e4, 1e4, -1e4]) == [0, 0, 1, 0])
    }

    @Test("θ by mode: soft = softmax(l/τ), winner-take-all = one-hot argmax (ties lowest), uniform = 1/N")
    func thetaByMode() {
        let l = [0.2, 0.7, 0.7, -1.0]
        #expect(ArchitectureSoftmax.theta(l, mode: .soft, temperature: 0.5)
                == ArchitectureSoftmax.probabilities(l, temperature: 0.5))
        #expect(ArchitectureSoftmax.theta(l, mode: .winnerTakeAll, temperature: 0.5) == [0, 1, 0, 0])
        #expect(ArchitectureSoftmax.theta(l, mode: .uniform, temperature: 0.5) == [0.25, 0.25, 0.25, 0.25])
        #expect(ArchitectureSoftmax.theta([3], mode: .uniform, temperature: 1) == [1])
    }
}
