import Base
import Daemon
import FoundationEssentials
import TestFixtures
import Testing

/// What the daemon's alert command sees (Docs/HOOKS.md).
@Suite("alert command: the variables a script sees")
struct AlertCommandTests {
    let incident = Incident(kind: .renewalFailing, lineage: "mail.example.com", since: Date(timeIntervalSince1970: 1_800_000_000),
                            message: "3 renewals failed")

    @Test("ACME_EVENT, ACME_STATE=open|resolved, ACME_LINEAGE, ACME_MESSAGE, ACME_HOST, ACME_SINCE, as documented")
    func alertCommand() async throws {
        let probe = try HookProbe()
        let alerter = Alerter(mailTo: nil, command: probe.command())
        #expect(await alerter.send(incident, resolved: false) == [])
        #expect(await alerter.send(incident, resolved: true) == [])
        let names: Set = ["ACME_EVENT", "ACME_STATE", "ACME_LINEAGE", "ACME_MESSAGE", "ACME_HOST", "ACME_SINCE"]
        let seen = probe.calls().map { $0.filter { names.contains($0.key) } }
        let common = ["ACME_EVENT": "renewal-failing", "ACME_LINEAGE": "mail.example.com", "ACME_MESSAGE": "3 renewals failed",
                      "ACME_HOST": LocalSystem.hostName(), "ACME_SINCE": incident.since.utcText]
        #expect(seen == [common.merging(["ACME_STATE": "open"]) { $1 }, common.merging(["ACME_STATE": "resolved"]) { $1 }])
    }

    @Test("the one contract: ACME_HOOK=alert and ACME_ACTION=alert")
    func contract() async throws {
        let probe = try HookProbe()
        #expect(await Alerter(mailTo: nil, command: probe.command()).send(incident, resolved: false) == [])
        #expect(probe.calls().first?["ACME_HOOK"] == "alert")
        #expect(probe.calls().first?["ACME_ACTION"] == "alert")
    }
}
