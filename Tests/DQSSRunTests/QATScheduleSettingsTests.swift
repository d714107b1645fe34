// QATRunSettings.searchSchedule(method:): the schedule flags of `dqss search --mode qat` become one
// QATSearchSchedule, and every combination that would silently do nothing or overrun the epoch budget is
// refused with a message naming the flag.

import Testing
import DQSSQuant
import DQSSRun

@Suite("QAT schedule settings")
struct QATScheduleSettingsTests {
    private func settings(_ edit: (inout QATRunSettings) -> Void) -> QATRunSettings {
        var s = QATRunSettings(data: "unused")
        s.epochs = 10
        edit(&s)
        return s
    }

    private func refusal(_ s: QATRunSettings, method: String = "dqss") -> String {
        do { _ = try s.searchSchedule(method: method); return "" } catch { return "\(error)" }
    }

    @Test("--mixture-epochs M with --search-epochs S: the annealed schedule with a mixture phase; without S the search takes half of the rest")
    func mixturePhaseAccepted() throws {
        let s = try settings { $0.mixtureEpochs = 3; $0.searchEpochs = 5 }.searchSchedule(method: "dqss")
        #expect(s.kind == .annealed && s.mixtureEpochs == 3 && s.searchEpochs == 5 && s.temperatureEnd == 0.02)
        #expect(try settings { $0.mixtureEpochs = 4 }.searchSchedule(method: "dqss").searchEpochs == 3)
        #expect(try settings { _ in }.searchSchedule(method: "dqss") == .annealed(epochs: 10))
    }

    @Test("refusals name the flag: a mixture phase past the budget, search epochs past what the mixture phase leaves, schedule flags with the paper schedule or a single candidate")
    func refusals() {
        #expect(refusal(settings { $0.mixtureEpochs = 11 }).contains("--mixture-epochs"))
        #expect(refusal(settings { $0.mixtureEpochs = -1 }).contains("--mixture-epochs"))
        #expect(refusal(settings { $0.mixtureEpochs = 6; $0.searchEpochs = 5 }).contains("--search-epochs must be in 0...--epochs minus --mixture-epochs (4)"))
        #expect(refusal(settings { $0.schedule = .paper; $0.mixtureEpochs = 2 }).contains("belong to --schedule annealed"))
        #expect(refusal(settings { $0.mixtureEpochs = 2 }, method: "lsq").contains("--mixture-epochs"))
        #expect(refusal(settings { $0.temperatureEnd = 0 }).contains("--temperature-end"))
    }
}
