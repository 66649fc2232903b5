import Base
import Testing

@Suite("text helpers")
struct TextTests {
    @Test("trimming a set that holds \\r and \\n removes either alone and both together (Swift's \"\\r\\n\" is one Character)")
    func trimmedNewlines() {
        #expect("4242\n".trimmed(of: " \t\r\n") == "4242")
        #expect("\n 4242 \r\n".trimmed(of: " \t\r\n") == "4242")
        #expect("value\r\n".trimmed(of: " \r\n") == "value")
        #expect("value\r".trimmed == "value")
        #expect("a\r\nb".trimmed(of: "\r\n") == "a\r\nb", "only the ends are trimmed")
        #expect("\r\n".trimmed(of: "\n") == "\r\n", "a \\r not in the set stays, and with it its \\n")
    }
}
