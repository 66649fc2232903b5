import Testing
@testable import DNS

@Suite("TLSA records")
struct TLSARecordTests {
    @Test("presentation form and wire data round-trip; hex is lower case")
    func roundTrip() throws {
        let hex = "5C1E" + String(repeating: "0a", count: 30)
        let record = try #require(TLSARecord(presentation: "3 1 1 \(hex)"))
        #expect(record.presentation == "3 1 1 \(hex.lowercased())")
        #expect(record.rdata.count == 3 + 32 && record.rdata.prefix(4) == [3, 1, 1, 0x5C])
        #expect(TLSARecord(rdata: record.rdata[...]) == record)
        // dig splits long data into groups: still the same record.
        #expect(TLSARecord(presentation: "3 1 1 5c1e0a0a 0a0a" + String(repeating: "0a", count: 26)) == record)
    }

    @Test("not TLSA: rejected", arguments: ["", "3 1 1", "3 1 1 xyz", "3 1 1 abc", "300 1 1 ab", "3 1", "a b c dd"])
    func rejected(text: String) {
        #expect(TLSARecord(presentation: text) == nil)
    }

    @Test("record data of fewer than four bytes is not a record")
    func shortData() {
        #expect(TLSARecord(rdata: [3, 1, 1][...]) == nil)
    }
}
