import Foundation
import Testing
import DQSSQuant

@Suite("PTQ candidate names")
struct PTQMethodTests {
    @Test("raw names and labels in any case; percentile:P canonical, bare percentile = 99.99")
    func names() throws {
        #expect(PTQMethod(named: "MSE") == .mse && PTQMethod(named: " mse ") == .mse)
        #expect(PTQMethod(named: "eq") == .easyQuant && PTQMethod(named: "Max_Abs") == .maxAbs)
        #expect(PTQMethod(named: "percentile") == .percentile(99.99))
        #expect(PTQMethod(named: "percentile:99.990") == .percentile(99.99))
        #expect(PTQMethod(named: "P99.9") == .percentile(99.9))
        #expect(PTQMethod.percentile(99.999).rawValue == "percentile:99.999")
        #expect(PTQMethod.percentile(100).rawValue == "percentile:100" && PTQMethod.percentile(100).paperName == "P100")
        for m in PTQMethod.examples + [.percentile(99.9), .percentile(99.999)] {
            #expect(PTQMethod(rawValue: m.rawValue) == m && PTQMethod(named: m.paperName) == m, "\(m)")
        }
        #expect(PTQMethod.paperCandidates.map(\.paperName) == ["Max_Abs", "KL", "EQ", "ADMM"])
    }

    @Test("bad values say why", arguments: ["percentile:abc", "percentile:101", "percentile:0", "percentile:-5",
                                             "percentile:inf", "percentile:nan", "percentile:", "P101"])
    func badPercentile(name: String) {
        #expect(throws: PTQMethodError.badPercentile(name)) { try PTQMethod.parse(name) }
        #expect(PTQMethod(named: name) == nil)
    }

    @Test("unknown names list the known ones")
    func unknown() {
        #expect(throws: PTQMethodError.unknown("entropy")) { try PTQMethod.parse("entropy") }
        #expect(PTQMethodError.unknown("x").description.contains("percentile:P"))
    }

    @Test("Codable as the raw value, as before (files written when PTQMethod was a String enum stay readable)")
    func codable() throws {
        let data = try JSONEncoder().encode([PTQMethod.kl, .percentile(99.9)])
        #expect(String(decoding: data, as: UTF8.self) == #"["kl","percentile:99.9"]"#)
        #expect(try JSONDecoder().decode([PTQMethod].self, from: data) == [.kl, .percentile(99.9)])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([PTQMethod].self, from: Data(#"["percentile:200"]"#.utf8)) }
    }
}
