import Base
import Testing

@Suite("events: severity as a value")
struct EventTests {
    @Test("a string literal or interpolation is an info event with that message")
    func literals() {
        let name = "mail.example.com"
        let literal: Event = "ordering"
        let interpolated: Event = "ordering \(name)"
        #expect(literal == Event("ordering", severity: .info))
        #expect(interpolated.message == "ordering mail.example.com" && interpolated.severity == .info)
        #expect("\(interpolated)" == "ordering mail.example.com", "the description is the message alone")
    }

    @Test("each severity has its factory and its name; they are ordered debug < info < notice < warning < error")
    func severities() {
        let made: [Event] = [.debug("d"), .info("i"), .notice("n"), .warning("w"), .error("e")]
        #expect(made.map(\.severity) == Severity.allCases)
        #expect(Severity.allCases.map(\.description) == ["debug", "info", "notice", "warning", "error"])
        #expect(Severity.allCases == Severity.allCases.sorted())
        #expect(Severity.warning > .notice && Severity.info < .warning && !(Severity.error < .error))
        #expect(Event.warning("x") != Event("x"), "the same text at another severity is another event")
    }
}
